"""Re-runs: the `dense` pipeline cold, then again on the same data and code (its data half from TFX's cache), then
with only a training setting changed (the learning rate), side by side in one process into one store.

Prints each run's wall seconds, how many data-half components ran or came from the cache (ML Metadata), the
Trainer + Evaluator seconds of that run, and the ratio wall / (Trainer + Evaluator): the goal for a re-run that
changes only training settings is <= 1.2x.

    scripts/runtime.sh python benchmarks/rerun_cache.py --train 6000 --epochs 2
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402,F401

DATA_HALF = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform")


def timed_run(options) -> tuple:
    """(wall seconds, the StepRun read back from ML Metadata) of one `dlqos run dense`."""
    from dlqos import runs

    start = time.perf_counter()
    result = runs.run_step("dense", options)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", help="raw Fashion-MNIST idx files (default: the dataset's first available source)")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # TFX's Beam executors parse sys.argv with absl

    from dlqos import metadata
    from common.config import OutputLayout
    from dlqos.runs import RunOptions

    workdir = tempfile.mkdtemp(prefix="bench-rerun-")
    base = dict(output_dir=workdir, data_dir=args.data_dir, epochs=args.epochs, max_train=args.train,
                max_eval=max(500, args.train // 6))
    cases = [("cold", RunOptions(**base)), ("same data and code", RunOptions(**base)),
             ("learning rate changed", RunOptions(**base, learning_rate=2e-3))]
    print(f"{'run':<22} {'wall s':>7} {'data half':>16} {'Trainer+Evaluator s':>20} {'ratio':>6}")
    try:
        for name, options in cases:
            seconds, result = timed_run(options)
            run = metadata.latest_run(metadata.open_store(OutputLayout(workdir).metadata_path), "dlqos-dense")
            states = [run.nodes[node].state for node in DATA_HALF]
            tail = result.component_seconds["Trainer"] + result.component_seconds["Evaluator"]
            print(f"{name:<22} {seconds:>7.1f} {states.count('CACHED'):>3} cached, {states.count('COMPLETE'):>2} ran "
                  f"{tail:>20.1f} {seconds / tail:>6.2f}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
