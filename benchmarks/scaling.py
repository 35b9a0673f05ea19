"""Scaling: the data pipeline's wall time and peak memory at 1x, 4x and 16x data, Beam in-memory vs
multi-processing (FnApiRunner, 2 workers) vs a Flink cluster on 127.0.0.1 (`--modes flink`), side by side.

The data pipeline is `pipeline.pipeline.data_half`: ExampleGen, StatisticsGen, SchemaGen,
ExampleValidator and Transform as the step's pipeline configures them.

Here it is the `dense` step's, on the first N Fashion-MNIST training images. Each (size, mode) runs in a
fresh process so peak RSS is its own (and its largest child's: a helper forked from the runner counts the
runner's shared pages, so that column can mirror the parent; Beam's workers are at most that); component
times come from ML Metadata. Prints the growth exponent k of time ~ size^k between 1x and 16x: k < 1 means a
fixed cost dominates, k ~ 1 linear, k > 1 worse than linear. Memory that grows with the data means something
holds the whole dataset (Beam should stream).

    scripts/runtime.sh python benchmarks/scaling.py --base 3750
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

from common.config import DEFAULT_BEAM_ARGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {
    "in_memory": list(DEFAULT_BEAM_ARGS),
    "multi_processing": ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2",
                         "--requirements_file=/dev/null"],
    # a fresh Flink cluster (pipeline.beam.flink_cluster: JobManager + TaskManager, 2 slots) for each size
    "flink": ["--parallelism=2"],
}

CHILD = r"""
import json, os, resource, sys, tempfile, time
sys.argv = sys.argv[:1]
import dlqos
from tfx import v1 as tfx
from dlqos import metadata, runs
from common.config import OutputLayout
from models.steps import get_step
from pipeline.pipeline import data_half
size, beam_args = int(os.environ["BENCH_SIZE"]), json.loads(os.environ["BENCH_BEAM_ARGS"])
workdir = tempfile.mkdtemp(prefix="bench-scaling-")
layout = OutputLayout(workdir)
step = get_step("dense")
options = runs.RunOptions(output_dir=workdir, data_dir=os.environ.get("BENCH_DATA_DIR") or None, max_train=size,
                          max_eval=max(500, size // 6))
examples_dir, data = runs.prepare_examples(step, options, layout)
config = runs.build_config(step, options, layout, examples_dir, {**data, "counts": {"train": size, "eval": size // 6}})
start = time.perf_counter()
tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
    pipeline_name="scaling", pipeline_root=os.path.join(workdir, "root"),
    components=list(data_half(config).components), beam_pipeline_args=beam_args,
    metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(layout.metadata_path)))
seconds = time.perf_counter() - start
run = metadata.latest_run(metadata.open_store(layout.metadata_path), "scaling")
print(json.dumps({"seconds": seconds, "components": {n: e.seconds for n, e in run.nodes.items()},
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_child(size: int, mode: str, beam_args, data_dir: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, BENCH_SIZE=str(size), BENCH_BEAM_ARGS=json.dumps(list(beam_args)),
               BENCH_DATA_DIR=data_dir)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} at {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(size: int, mode: str, data_dir: str) -> dict:
    """One size in one mode; flink: on its own fresh cluster, whose JobManager's and TaskManager's peak RSS
    (VmHWM) are the workers' memory (the driver's LOOPBACK SDK workers are threads of the driver)."""
    if mode != "flink":
        return dict(run_child(size, mode, MODES[mode], data_dir), workers_mb=0)
    from pipeline.beam import beam_args, flink_cluster

    with flink_cluster.FlinkCluster(slots=2) as cluster:
        result = run_child(size, mode, beam_args("flink", MODES[mode], cluster.master), data_dir)
        return dict(result, workers_mb=cluster.peak_rss_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=3750, help="examples at 1x (16x must fit Fashion-MNIST's 60k)")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    parser.add_argument("--data-dir", default="", help="raw Fashion-MNIST idx files (default: the dataset's first available source)")
    args = parser.parse_args()
    scales = (1, 4, 16)
    print(f"{'mode':17s} {'scale':>5} {'train':>6} {'seconds':>8} {'Transform s':>11} {'StatsGen s':>10} "
          f"{'peak RSS MB':>11} {'child MB':>9} {'JM+TM MB':>9}")
    for mode in args.modes:
        times = {}
        for scale in scales:
            r = measure(args.base * scale, mode, args.data_dir)
            times[scale] = r["seconds"]
            print(f"{mode:17s} {scale:>4}x {args.base * scale:>6} {r['seconds']:>8.1f} "
                  f"{r['components'].get('Transform', 0):>11.1f} {r['components'].get('StatisticsGen', 0):>10.1f} "
                  f"{r['rss_mb']:>11,.0f} {r['children_rss_mb']:>9,.0f} {r['workers_mb']:>9,.0f}", flush=True)
        exponent = math.log(times[16] / times[1]) / math.log(16)
        print(f"{mode:17s} growth exponent 1x->16x: {exponent:.2f}", flush=True)


if __name__ == "__main__":
    main()
