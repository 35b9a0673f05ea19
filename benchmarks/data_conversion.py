"""Dataset conversion: full Fashion-MNIST (70k images) to GZIP tf.Example TFRecords, on one core.

Each measurement runs in a fresh process pinned to CPU 0, so its peak RSS is its own: loading the idx files
from the cache, then writing the TFRecords (data.tfrecords.write_image_examples). Prints wall
seconds, examples/s and peak RSS against the targets (>= 5,000 examples/s on one core, peak RSS < 1.5 GB).

    scripts/runtime.sh python benchmarks/data_conversion.py [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, os, resource, sys, tempfile, time
os.sched_setaffinity(0, {0})
import common  # noqa: F401  (legacy Keras before TensorFlow loads)
start = time.perf_counter()
import tensorflow  # imported up front: its start-up is not conversion work
imported = time.perf_counter()
from data import fashion_mnist
from data.tfrecords import write_image_examples
splits = fashion_mnist.load(os.environ.get("BENCH_DATA_DIR") or None)
loaded = time.perf_counter()
with tempfile.TemporaryDirectory() as workdir:
    metadata = write_image_examples(splits, os.path.join(workdir, "examples"))
    written = time.perf_counter()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(workdir) for f in fs)
examples = metadata["counts"]["train"] + metadata["counts"]["eval"]
print(json.dumps({"examples": examples, "import_s": imported - start, "load_s": loaded - imported,
                  "write_s": written - loaded, "bytes": size,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(data_dir: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD], env=dict(os.environ, PYTHONPATH=ROOT, BENCH_DATA_DIR=data_dir),
                          cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default="", help="raw Fashion-MNIST idx files (default: the dataset's first available source)")
    args = parser.parse_args()
    print(f"{'examples':>9} {'load s':>7} {'write s':>8} {'examples/s':>11} {'MB out':>7} {'peak RSS MB':>12}")
    for _ in range(args.repeats):
        r = measure(args.data_dir)
        rate = r["examples"] / (r["load_s"] + r["write_s"])
        print(f"{r['examples']:>9,} {r['load_s']:>7.1f} {r['write_s']:>8.1f} {rate:>11,.0f} {r['bytes'] / 1e6:>7.1f} "
              f"{r['peak_rss_mb']:>12,.0f}   targets: >= 5,000 examples/s {'met' if rate >= 5000 else 'NOT met'}, "
              f"< 1,536 MB {'met' if r['peak_rss_mb'] < 1536 else 'NOT met'}", flush=True)


if __name__ == "__main__":
    main()
