"""TFX overhead: the full `dense` pipeline vs the same model trained and evaluated in plain Keras.

Both start from the same raw Fashion-MNIST idx files (the dataset's first available source) and run in this one
process on the same subset, epochs and batch size, side by side, at several data sizes. Ingestion counts on both
sides: plain Keras decodes the raw files into arrays inside its timing, the pipeline's ExampleGen reads them
into tf.Examples (it is part of the pipeline). Prints wall seconds, the ratio pipeline / plain Keras, and where
the pipeline's time goes (per-component wall time read from ML Metadata).

    scripts/runtime.sh python benchmarks/tfx_overhead.py --sizes 6000 60000 --epochs 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402,F401


def plain_keras(raw_dir: str, n_train: int, n_eval: int, epochs: int, batch_size: int) -> dict:
    import numpy as np
    import tf_keras as keras

    from data import fashion_mnist
    from models.steps import dense

    keras.utils.set_random_seed(42)
    start = time.perf_counter()
    splits = fashion_mnist.load(raw_dir)  # the raw idx files into arrays: plain Keras' ingestion
    x_train = splits.train[0][:n_train].reshape(n_train, -1).astype(np.float32) / 255.0
    x_eval = splits.eval[0][:n_eval].reshape(n_eval, -1).astype(np.float32) / 255.0
    load_seconds = time.perf_counter() - start
    model = dense.build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    fit_start = time.perf_counter()
    model.fit({"image": x_train}, splits.train[1][:n_train], epochs=epochs, batch_size=batch_size, verbose=0)
    fit_seconds = time.perf_counter() - fit_start
    _, accuracy = model.evaluate({"image": x_eval}, splits.eval[1][:n_eval], verbose=0)
    return {"seconds": time.perf_counter() - start, "fit_seconds": fit_seconds, "load_seconds": load_seconds,
            "accuracy": accuracy}


def pipeline(raw_dir: str, n_train: int, n_eval: int, epochs: int, batch_size: int, workdir: str) -> dict:
    from dlqos import metadata, runs
    from common.config import OutputLayout
    from models.steps import get_step

    step = get_step("dense")
    options = runs.RunOptions(output_dir=workdir, data_dir=raw_dir, epochs=epochs, batch_size=batch_size,
                              max_train=n_train, max_eval=n_eval)
    layout = OutputLayout(os.path.abspath(workdir))
    start = time.perf_counter()
    result = runs.run_step("dense", options)  # the ExampleGen's ingestion of the raw files included
    seconds = time.perf_counter() - start
    run = metadata.latest_run(metadata.open_store(layout.metadata_path), step.pipeline_name)
    with open(result.training_record) as f:
        fit_seconds = sum(json.load(f)["epoch_seconds"])  # model.fit's epochs, validation included
    return {"seconds": seconds, "fit_seconds": fit_seconds,
            "accuracy": result.overall.get("sparse_categorical_accuracy"),
            "components": {node: e.seconds for node, e in run.nodes.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 60000])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", help="raw Fashion-MNIST idx files (default: the dataset's first available source)")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # TFX's Beam executors parse sys.argv with absl

    from data import fashion_mnist

    raw_dir = fashion_mnist.raw(args.data_dir).base  # fetched into the cache once, outside both timings
    # load s: plain Keras' raw files -> arrays; fit s: model.fit alone, plain Keras / the Trainer's epochs
    print(f"{'train':>7} {'eval':>6} {'keras s':>8} {'load s':>6} {'tfx s':>7} {'ratio':>6} {'fit s':>11} "
          f"{'keras acc':>9} {'tfx acc':>8}  slowest components")
    for size in args.sizes:
        n_eval = max(500, size // 6)
        keras_result = plain_keras(raw_dir, size, n_eval, args.epochs, args.batch_size)
        workdir = tempfile.mkdtemp(prefix="bench-tfx-")
        try:
            tfx_result = pipeline(raw_dir, size, n_eval, args.epochs, args.batch_size, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        slowest = sorted(tfx_result["components"].items(), key=lambda kv: -kv[1])[:4]
        print(f"{size:>7} {n_eval:>6} {keras_result['seconds']:>8.1f} {keras_result['load_seconds']:>6.1f} "
              f"{tfx_result['seconds']:>7.1f} {tfx_result['seconds'] / keras_result['seconds']:>6.2f} "
              f"{keras_result['fit_seconds']:>5.1f}/{tfx_result['fit_seconds']:<5.1f} {keras_result['accuracy']:>9.4f} "
              f"{tfx_result['accuracy']:>8.4f}  " + ", ".join(f"{k} {v:.1f}s" for k, v in slowest), flush=True)


if __name__ == "__main__":
    main()
