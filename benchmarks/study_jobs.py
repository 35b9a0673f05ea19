"""Would `study --jobs N` pay on this machine? The quick study's steps one after another in one `dlqos study`
process (what `make study` does), then the same steps dealt round-robin to N `dlqos study` processes started
together, each into its own output directory and ML Metadata store (so nothing is shared and the ratio is an upper
bound on what concurrent steps in one store could gain). Prints each side's wall seconds and their ratio.

    scripts/runtime.sh python benchmarks/study_jobs.py --jobs 2
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from dlqos.cli import EXIT_NOT_BLESSED, EXIT_OK  # noqa: E402

STEPS = ("dense", "cnn", "transfer", "autoencoder", "deepdream", "textgen")


def study(steps, output_dir: str, extra) -> tuple:
    """(process, log path) of `dlqos study --steps ...` started as its own process."""
    os.makedirs(output_dir)
    log_path = os.path.join(output_dir, "study.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "dlqos", "study", "--steps", *steps, "--output-dir",
                                    os.path.join(output_dir, "out"), *extra], cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
    return process, log_path


def timed(start_studies) -> float:
    """Wall seconds from starting the studies until every one has ended; exits with the log of one that failed (a
    model the gate did not bless, exit 3, is a finished study)."""
    start = time.perf_counter()
    for process, log_path in start_studies():
        if process.wait() not in (EXIT_OK, EXIT_NOT_BLESSED):
            with open(log_path) as log:
                raise SystemExit(f"a study failed ({log_path}):\n{log.read()[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--steps", nargs="+", default=list(STEPS))
    parser.add_argument("--study-arg", action="append", default=[], help="passed on to every `dlqos study`")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-study-jobs-")
    one = timed(lambda: [study(args.steps, os.path.join(workdir, "sequential"), args.study_arg)])
    shares = [args.steps[index::args.jobs] for index in range(args.jobs)]
    many = timed(lambda: [study(share, os.path.join(workdir, f"job-{index}"), args.study_arg)
                          for index, share in enumerate(shares) if share])
    print(f"{len(args.steps)} steps on {os.cpu_count()} cores (outputs in {workdir})")
    print(f"{'one process, in turn':34s} {one:8.1f} s")
    print(f"{f'{args.jobs} processes at once':34s} {many:8.1f} s  ({' | '.join(' '.join(s) for s in shares)})")
    print(f"{'ratio one / at once':34s} {one / many:8.2f}x")


if __name__ == "__main__":
    main()
