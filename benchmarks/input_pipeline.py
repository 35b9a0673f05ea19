"""Input pipeline: Trainer examples/s reading TFRecords through Transform vs the same model fed from memory.

One process: the `dense` pipeline runs once (1 epoch, `materialize_transform` on, so on TFRecords written here
and brought with `examples_dir`) to produce both ExampleGen's raw examples and Transform's transformed copy; then the dense model is trained for the same epochs and batch,
side by side, from (a) numpy arrays in memory (plain Keras), and the Trainer's own
`models.training.input_dataset` over (b) the raw GZIP TFRecords with the Transform graph applied as they are
read (the pipeline's default) and (c) Transform's materialized output, each parsed every epoch
(`cache_input: false`) and with the parse-once cache (the default). Prints examples/s and the ratios to (a);
the goal is >= 0.9x.

    scripts/runtime.sh python benchmarks/input_pipeline.py --train 24000 --epochs 5
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402,F401


def pipeline_outputs(splits, n_train: int, workdir: str) -> tuple:
    """Run the dense pipeline once; return ({materialized: Examples artifact}, transform graph uri)."""
    from tfx.types import standard_artifacts

    from data.tfrecords import write_image_examples
    from dlqos import metadata, runs
    from common.config import OutputLayout

    examples = os.path.join(workdir, "examples")
    write_image_examples(splits, examples, n_train, 1000)
    options = runs.RunOptions(output_dir=workdir, epochs=1, examples_dir=examples, materialize_transform=True)
    runs.run_step("dense", options)
    run = metadata.latest_run(metadata.open_store(OutputLayout(workdir).metadata_path), "dlqos-dense")
    transform = run.nodes["Transform"]
    artifacts = {}
    for materialized, uri in ((False, run.nodes["ImportExampleGen"].output("examples").uri),
                              (True, transform.output("transformed_examples").uri)):
        artifacts[materialized] = standard_artifacts.Examples()
        artifacts[materialized].uri = uri
        artifacts[materialized].split_names = '["train", "eval"]'
    return artifacts, transform.output("transform_graph").uri


def train_seconds(dataset, steps_per_epoch: int, epochs: int) -> float:
    """Wall seconds of model.fit after one warm-up epoch (tracing and, for the cache, the first parse)."""
    import tf_keras as keras

    from models.steps import dense

    keras.utils.set_random_seed(42)
    model = dense.build_model()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy())
    model.fit(dataset, epochs=1, steps_per_epoch=steps_per_epoch, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=24000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", help="raw Fashion-MNIST idx files (default: the dataset's first available source)")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # TFX's Beam executors parse sys.argv with absl

    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils

    from data import fashion_mnist
    from models import training

    workdir = tempfile.mkdtemp(prefix="bench-input-")
    try:
        splits = fashion_mnist.load(args.data_dir)
        artifacts, transform_graph = pipeline_outputs(splits, args.train, workdir)
        transform_output = tft.TFTransformOutput(transform_graph)
        x = splits.train[0][:args.train].reshape(args.train, -1).astype(np.float32) / 255.0
        arrays = tf.data.Dataset.from_tensor_slices(({"image": x}, splits.train[1][:args.train])).shuffle(
            args.train, seed=42).batch(args.batch_size).repeat().prefetch(tf.data.AUTOTUNE)
        steps = args.train // args.batch_size
        examples_run = steps * args.batch_size * args.epochs
        results = {"in-memory arrays (plain Keras)": train_seconds(arrays, steps, args.epochs)}
        for materialized, examples in artifacts.items():
            factory = tfxio_utils.get_tf_dataset_factory_from_artifact([examples], [])
            accessor = DataAccessor(tf_dataset_factory=factory, record_batch_factory=None, data_view_decode_fn=None)
            fn_args = types.SimpleNamespace(data_accessor=accessor)
            pattern = os.path.join(examples.uri, "Split-train", "*")
            source = "Transform output" if materialized else "raw + Transform graph"
            for cache in (False, True):
                dataset = training.input_dataset(fn_args, pattern, transform_output, args.batch_size, 42, cache=cache,
                                                 materialized=materialized)
                results[f"{source}, cache_input={str(cache).lower()}"] = train_seconds(dataset, steps, args.epochs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base = examples_run / results["in-memory arrays (plain Keras)"]
    print(f"{args.train} examples x {args.epochs} epochs, batch {args.batch_size}")
    for name, seconds in results.items():
        rate = examples_run / seconds
        print(f"  {name:42s} {rate:>10,.0f} examples/s  {rate / base:5.2f}x of in-memory")


if __name__ == "__main__":
    main()
