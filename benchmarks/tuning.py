"""Does the Tuner beat the configuration as given? Per step and seed: one pipeline run with the defaults and one
with --tune (the Trainer trains with the Tuner's best values), on the same data and eval split, compared by TFMA's
accuracy on that split; and how long the Tuner took (ML Metadata).

The Tuner scores its trials on the same eval split, so a tuned model's eval accuracy is optimistic by selection:
this measures whether the search finds better settings for this data, not generalisation to unseen data.

    scripts/runtime.sh python benchmarks/tuning.py --steps dense cnn --train 6000 --eval 1000 --epochs 2 \
        --trials 4 --seeds 1 2
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dlqos  # noqa: E402,F401

ACCURACY = "sparse_categorical_accuracy"


def run_once(step, options, seed: int, tuning):
    """One pipeline run of `step` with the Trainer's (and the Tuner's) seed: the StepRun read back."""
    from dlqos import runs
    from common.config import OutputLayout
    from pipeline import local_runner

    layout = OutputLayout(os.path.abspath(options.output_dir))
    examples_dir, data = runs.prepare_examples(step, options, layout)
    config = runs.build_config(step, dataclasses.replace(options, tuning=tuning), layout, examples_dir, data)
    training = dataclasses.replace(config.training, seed=seed,
                                   tuning=dataclasses.replace(tuning, seed=seed) if tuning else None)
    local_runner.run(config.replace(training=training))
    return runs.step_result(layout.metadata_path, step)


def compare_step(name: str, args, workdir: str) -> list:
    """Rows {step, seed, default, tuned, tuner_seconds, best, trials} for each seed."""
    from common.config import TuningConfig
    from dlqos.runs import RunOptions
    from models.steps import get_step

    step = get_step(name)
    options = RunOptions(output_dir=os.path.join(workdir, name), data_dir=args.data_dir, epochs=args.epochs,
                         max_train=args.train, max_eval=args.eval)
    tuning = TuningConfig(max_trials=args.trials, max_seconds=args.max_seconds, trial_epochs=args.trial_epochs)
    rows = []
    for seed in args.seeds:
        default = run_once(step, options, seed, None)
        tuned = run_once(step, options, seed, tuning)
        rows.append({"step": name, "seed": seed, "default": default.overall[ACCURACY],
                     "tuned": tuned.overall[ACCURACY], "tuner_seconds": tuned.tuning["seconds"],
                     "trainer_seconds": tuned.component_seconds["Trainer"], "best": tuned.tuning["best"],
                     "trials": tuned.tuning["trials"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", nargs="+", default=["dense", "cnn"])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--eval", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--max-seconds", type=float)
    parser.add_argument("--trial-epochs", type=int, help="each trial's epochs (default: --epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir", help="raw Fashion-MNIST idx files (default: the dataset's first available source)")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # TFX's Beam executors parse sys.argv with absl

    workdir = tempfile.mkdtemp(prefix="bench-tuning-")
    rows = [row for name in args.steps for row in compare_step(name, args, workdir)]
    trial_epochs = args.trial_epochs or args.epochs
    print(f"\n{args.train} train / {args.eval} eval examples, {args.epochs} epochs, {args.trials} trials of "
          f"{trial_epochs} epochs")
    print(f"{'step':8} {'seed':>4} {'default':>8} {'tuned':>8} {'tuner s':>8}  best values")
    for row in rows:
        print(f"{row['step']:8} {row['seed']:>4} {row['default']:>8.4f} {row['tuned']:>8.4f} "
              f"{row['tuner_seconds']:>8.1f}  {row['best']}")


if __name__ == "__main__":
    main()
