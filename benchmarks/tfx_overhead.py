"""TFX overhead: the full `dense` pipeline vs the same model trained and evaluated in plain Keras.

Both run in this one process on the same Fashion-MNIST subset, epochs and batch size, side by side, at several
data sizes. Prints wall seconds, the ratio pipeline / plain Keras, and where the pipeline's time goes
(per-component wall time read from ML Metadata).

    scripts/runtime.sh python benchmarks/tfx_overhead.py --sizes 2000 6000 60000 --epochs 2
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
import dlqos  # noqa: E402,F401


def plain_keras(splits, n_train: int, n_eval: int, epochs: int, batch_size: int) -> dict:
    import numpy as np
    import tf_keras as keras

    from dlqos.steps import dense

    keras.utils.set_random_seed(42)
    x_train = splits.train[0][:n_train].reshape(n_train, -1).astype(np.float32) / 255.0
    x_eval = splits.eval[0][:n_eval].reshape(n_eval, -1).astype(np.float32) / 255.0
    start = time.perf_counter()
    model = dense.build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    model.fit({"image": x_train}, splits.train[1][:n_train], epochs=epochs, batch_size=batch_size, verbose=0)
    fit_seconds = time.perf_counter() - start
    _, accuracy = model.evaluate({"image": x_eval}, splits.eval[1][:n_eval], verbose=0)
    return {"seconds": time.perf_counter() - start, "fit_seconds": fit_seconds, "accuracy": accuracy}


def pipeline(n_train: int, n_eval: int, epochs: int, batch_size: int, workdir: str, materialize: bool) -> dict:
    from dlqos import metadata, runs
    from dlqos.config import OutputLayout
    from dlqos.steps import get_step

    step = get_step("dense")
    options = runs.RunOptions(output_dir=workdir, epochs=epochs, batch_size=batch_size, max_train=n_train,
                              max_eval=n_eval, materialize_transform=materialize)
    layout = OutputLayout(os.path.abspath(workdir))
    runs.prepare_examples(step, options, layout)  # conversion is the data layer's cost, not TFX's
    start = time.perf_counter()
    result = runs.run_step("dense", options)
    seconds = time.perf_counter() - start
    run = metadata.latest_run(metadata.open_store(layout.metadata_path), step.pipeline_name)
    with open(result.training_record) as f:
        fit_seconds = sum(json.load(f)["epoch_seconds"])  # model.fit's epochs, validation included
    return {"seconds": seconds, "fit_seconds": fit_seconds,
            "accuracy": result.metrics.get("sparse_categorical_accuracy"),
            "components": {node: e.seconds for node, e in run.nodes.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 6000, 60000])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--compare-materialized", action="store_true",
                        help="also run the pipeline with Transform writing transformed examples for the Trainer")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # TFX's Beam executors parse sys.argv with absl

    from data import fashion_mnist

    splits = fashion_mnist.load()
    modes = (False, True) if args.compare_materialized else (False,)
    # fit s: model.fit alone, plain Keras / the Trainer's epochs (per-epoch validation included)
    print(f"{'train':>7} {'eval':>6} {'transform':>12} {'keras s':>8} {'tfx s':>7} {'ratio':>6} {'fit s':>11} "
          f"{'keras acc':>9} {'tfx acc':>8}  slowest components")
    for size in args.sizes:
        n_eval = max(500, size // 6)
        keras_result = plain_keras(splits, size, n_eval, args.epochs, args.batch_size)
        for materialize in modes:
            workdir = tempfile.mkdtemp(prefix="bench-tfx-")
            try:
                tfx_result = pipeline(size, n_eval, args.epochs, args.batch_size, workdir, materialize)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            slowest = sorted(tfx_result["components"].items(), key=lambda kv: -kv[1])[:4]
            print(f"{size:>7} {n_eval:>6} {'materialized' if materialize else 'in Trainer':>12} "
                  f"{keras_result['seconds']:>8.1f} {tfx_result['seconds']:>7.1f} "
                  f"{tfx_result['seconds'] / keras_result['seconds']:>6.2f} "
                  f"{keras_result['fit_seconds']:>5.1f}/{tfx_result['fit_seconds']:<5.1f} {keras_result['accuracy']:>9.4f} "
                  f"{tfx_result['accuracy']:>8.4f}  " + ", ".join(f"{k} {v:.1f}s" for k, v in slowest), flush=True)


if __name__ == "__main__":
    main()
