"""Shared fixtures: small datasets in the real on-disk formats, made by the tests themselves."""
from __future__ import annotations

import os

import numpy as np
import pytest

import dlqos  # noqa: F401  (legacy Keras switch before TensorFlow loads)

# Fixtures defined beside the helpers they use, available to every test module.
pytest_plugins = ["tests.steps.trainer"]


def fashion_like_arrays(count: int, seed: int):
    """28x28 uint8 images whose class is a bright 7x7 block at one of 10 positions, over noise: learnable fast."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[index, row * 7:(row + 1) * 7, col * 7:(col + 1) * 7] = 255
    return images, labels


def write_fashion_like_dir(directory: str, n_train: int = 600, n_eval: int = 200) -> str:
    from data.fashion_mnist import FILES
    from data.idx import write_idx

    os.makedirs(directory, exist_ok=True)
    for split, count, seed in (("train", n_train, 1), ("eval", n_eval, 2)):
        images, labels = fashion_like_arrays(count, seed)
        write_idx(os.path.join(directory, FILES[f"{split}_images"]), images)
        write_idx(os.path.join(directory, FILES[f"{split}_labels"]), labels)
    return directory


@pytest.fixture
def fashion_dir(tmp_path):
    return write_fashion_like_dir(str(tmp_path / "fashion"))


def save_tiny_model(path: str, scale: float = 2.0) -> str:
    """A small real SavedModel: `serving_default` (float x [N,3] -> y = scale*x, total [N]) and
    `from_examples` (serialized tf.Example with float `x` [3] -> the same)."""
    import tensorflow as tf

    module = tf.Module()
    module.scale = tf.Variable(scale)

    def predict(x):
        return {"y": x * module.scale, "total": tf.reduce_sum(x * module.scale, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(x):
        return predict(x)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def from_examples(examples):
        return predict(tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([3], tf.float32)})["x"])

    tf.saved_model.save(module, path, signatures={"serving_default": serve.get_concrete_function(),
                                                  "from_examples": from_examples.get_concrete_function()})
    return path


def write_transform_graph(directory: str, preprocessing_fn, raw_spec: dict, rows: list):
    """A real Transform graph for preprocessing_fn (analysed on `rows`), laid out as TFX's Transform writes it:
    the graph and transformed metadata, and the raw schema beside them. Returns its TFTransformOutput."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    with tft_beam.Context(temp_dir=os.path.join(directory, "tmp"), force_tf_compat_v1=False):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(directory, "graph"))
    metadata_io.write_metadata(metadata, os.path.join(directory, "graph", tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(os.path.join(directory, "graph"))
