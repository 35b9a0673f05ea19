"""Helpers the test modules share: small files in the datasets' real formats, running the ExampleGen's executor,
process checks and the Flink jars' fetch. Fixtures live in conftest.py files."""
import json
import os
import shutil
import subprocess

import numpy as np

from common.config import GateConfig, PipelineConfig, TrainingConfig

from pipeline.beam import flink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]


def fetch_flink_jars(*args: str) -> None:
    """The project's own fetch script for the Flink job server or cluster jars (Maven, every jar sha256-checked; a
    no-op once verified). It fails, rather than skips, where it cannot fetch."""
    result = subprocess.run([os.path.join(ROOT, flink.FETCH_SCRIPT), *args], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]


def alive(pid: int) -> bool:
    """There and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_examplegen(tmp_path, dataset: str, raw, **limits) -> tuple:
    """(examples per split as dicts of int lists, dataset.json) from running the executor's Do on raw."""
    import tensorflow as tf
    from google.protobuf.message import Message
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.examplegen import DatasetExampleGen, Executor, settings

    component = DatasetExampleGen(raw.base, settings(dataset, raw, **limits))
    properties = {key: proto_utils.proto_to_json(value) if isinstance(value, Message) else value
                  for key, value in component.exec_properties.items() if value is not None}
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri, exist_ok=True)
    Executor().Do({}, {"examples": [examples]}, properties)
    splits = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        records = tf.data.TFRecordDataset(files, compression_type="GZIP")
        splits[split] = [{name: list(feature.int64_list.value) for name, feature in
                          tf.train.Example.FromString(record.numpy()).features.feature.items()} for record in records]
    with open(os.path.join(examples.uri, "dataset.json")) as f:
        return splits, json.load(f)


def photo_folder(root, classes=("daisy", "roses"), per_class=5):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(os.path.join(root, name))
        for index in range(per_class):
            pixels = rng.integers(0, 255, size=(20 + index, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, name, f"{index}.{'png' if index % 2 else 'jpg'}"))
    return root


def png_header_only(path, width, height):
    """A PNG whose header declares width x height (what Pillow checks against its decompression-bomb limit when it
    opens the file), without the pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IEND", b""))


def bomb_and_dead_class(root):
    """A 20000x20000 PNG among the roses, and a 'tulips' class whose every file is corrupt."""
    png_header_only(os.path.join(root, "roses", "huge.png"), 20000, 20000)
    os.makedirs(os.path.join(root, "tulips"))
    for index in range(3):
        with open(os.path.join(root, "tulips", f"{index}.jpg"), "wb") as f:
            f.write(b"not a jpeg")


def cifar_batches(directory, per_batch=4):
    import pickle

    from data import cifar10

    os.makedirs(directory)
    rng = np.random.default_rng(0)
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        batch = {b"data": rng.integers(0, 255, size=(per_batch, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, size=per_batch).tolist()}
        with open(os.path.join(directory, name), "wb") as f:
            pickle.dump(batch, f)
    return directory


def renders_in_chromium(page: str, tmp_path) -> None:
    """The HTML page renders in headless Chromium to a screenshot, with no console errors."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is required (Debian package 'chromium'; make test installs it)"
    screenshot = tmp_path / "page.png"
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000",
         f"--screenshot={screenshot}", "file://" + page],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console_errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
                      or "Failed to load resource" in line]
    assert console_errors == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


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


def pipeline_config(**changes) -> PipelineConfig:
    """The dense step's pipeline config on made-up paths, with changes."""
    values = dict(step="dense", pipeline_name="dlqos-dense", pipeline_root="/root/p", metadata_path="/root/m.sqlite",
                  examples_dir="/data/ex", serving_model_dir="/serving/dense",
                  preprocessing_fn="models.steps.dense.preprocessing_fn", run_fn="models.steps.dense.run_fn",
                  training=TrainingConfig(epochs=2, train_steps=40, eval_steps=5, strategy="cpu"),
                  gate=GateConfig(min_value=0.8, max_regression=0.02),
                  beam_pipeline_args=("--runner=FnApiRunner",))
    values.update(changes)
    return PipelineConfig(**values)
