"""The fixed cost of Beam on Flink: the whole dense pipeline (`dlqos run dense`) on a few hundred examples, on Beam's
in-process runner (local) and on a Flink cluster on 127.0.0.1 two ways, side by side: `per_component`, Beam's
FlinkRunner left alone (it starts a job server JVM for every component's pipeline and keeps each until the process
exits), `shared`, one job server and one SDK worker pool for the run (pipeline.beam.shared_services, what
`dlqos run --runner flink` does), which ships its classpath with every job, and `provided`, shared on a cluster that
holds Beam's Flink runner, so nothing is shipped (`--flink-runner-provided`). At this size the data costs next to
nothing, so a mode's seconds beyond local's are its fixed cost.

Each mode runs in a fresh process (a fresh cluster for each Flink mode: pipeline.beam.flink_cluster, JobManager +
TaskManager, 2 slots, --parallelism=2); a thread in it counts the job server JVMs it starts (java children).

    scripts/runtime.sh python benchmarks/flink_fixed_cost.py --train 500
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("local", "per_component", "shared", "provided")

CHILD = r"""
import contextlib, json, os, sys, threading, time
sys.argv = sys.argv[:1]
from dlqos import metadata, runs
from pipeline import beam
from common.config import OutputLayout
mode, beam_args = os.environ["BENCH_MODE"], json.loads(os.environ["BENCH_BEAM_ARGS"])
java, done = {}, threading.Event()

def count_java():  # the JVMs this process starts: pid -> seen alive together with how many others
    while not done.is_set():
        alive = [int(p) for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/stat")
                 and _is_java_child(p)]
        for pid in alive:
            java[pid] = max(java.get(pid, 0), len(alive))
        time.sleep(0.5)

def _is_java_child(pid):
    try:
        text = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    fields = text[text.rindex(")") + 2:].split()
    return text[text.index("(") + 1:text.rindex(")")] == "java" and int(fields[1]) == os.getpid() and fields[0] != "Z"

threading.Thread(target=count_java, daemon=True).start()
workdir = os.environ["BENCH_OUT"]
options = runs.RunOptions(output_dir=workdir, data_dir=os.environ.get("BENCH_DATA_DIR") or None,
                          max_train=int(os.environ["BENCH_TRAIN"]), max_eval=int(os.environ["BENCH_EVAL"]), epochs=1)
start = time.perf_counter()
shared = beam.shared_services(beam_args) if mode != "per_component" else contextlib.nullcontext(tuple(beam_args))
with shared as args:
    runs.run_step("dense", runs.RunOptions(**{**options.__dict__, "beam_pipeline_args": args}))
seconds = time.perf_counter() - start
time.sleep(1)
done.set()
run = metadata.latest_run(metadata.open_store(OutputLayout(workdir).metadata_path), "dlqos-dense")
print(json.dumps({"seconds": seconds, "components": {n: e.seconds for n, e in run.nodes.items()},
                  "job_servers": len(java), "together": max(java.values(), default=0)}))
"""


def run_child(mode: str, beam_args, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-flink-") as out:
        env = dict(os.environ, PYTHONPATH=ROOT, BENCH_MODE=mode, BENCH_BEAM_ARGS=json.dumps(list(beam_args)),
                   BENCH_DATA_DIR=args.data_dir, BENCH_TRAIN=str(args.train), BENCH_EVAL=str(args.eval),
                   BENCH_OUT=out)
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(mode: str, args) -> dict:
    """One mode; the Flink modes on a fresh cluster each, started before the clock starts."""
    from common.config import DEFAULT_BEAM_ARGS
    from pipeline.beam import beam_args, flink_cluster

    if mode == "local":
        return run_child(mode, DEFAULT_BEAM_ARGS, args)
    with flink_cluster.FlinkCluster(slots=2) as cluster:
        return run_child(mode, beam_args("flink", ["--parallelism=2"], cluster.master,
                                         flink_runner_provided=mode == "provided"), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=500, help="training examples (the first N of Fashion-MNIST)")
    parser.add_argument("--eval", type=int, default=200, help="evaluation examples")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--data-dir", default="", help="raw Fashion-MNIST idx files (default: the dataset's first "
                                                        "available source)")
    args = parser.parse_args()
    print(f"{'mode':14s} {'seconds':>8} {'fixed s':>8} {'ExampleGen':>10} {'StatsGen':>9} {'Evaluator':>9} "
          f"{'job servers':>11} {'at once':>7}")
    local = None
    for mode in args.modes:
        r = measure(mode, args)
        local = r["seconds"] if mode == "local" else local
        fixed = f"{r['seconds'] - local:8.1f}" if local is not None and mode != "local" else f"{'':8s}"
        times = [r["components"].get(name, 0) for name in ("ExampleGen", "StatisticsGen", "Evaluator")]
        print(f"{mode:14s} {r['seconds']:8.1f} {fixed} {times[0]:10.1f} {times[1]:9.1f} {times[2]:9.1f} "
              f"{r['job_servers']:>11} {r['together']:>7}", flush=True)


if __name__ == "__main__":
    main()
