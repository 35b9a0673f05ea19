"""The dense step's data components (ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform)
on Beam's portable Flink runner, an embedded Flink with parallelism 2, with the arguments `dlqos run --runner flink`
expands to: Beam's FlinkRunner starts the pinned job server (Beam Java 2.62.0 beside the Python SDK 2.77.0, see
dlqos/runners/flink.py) with the host's Java from the sandbox, and stops it at exit.

A success status proves nothing (Beam's Dask runner reported success with empty outputs), so the test counts the
records in ExampleGen's splits and in StatisticsGen's statistics, and reads Transform's graph back.
"""
import glob
import os
import subprocess
import time

import pytest

from dlqos.runners import flink

TRAIN, EVAL = 300, 100
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def job_server():
    """The job server fetched by the project's own script (Maven, every jar sha256-checked; a no-op once
    verified). It fails, rather than skips, where it cannot be fetched."""
    result = subprocess.run([os.path.join(ROOT, flink.FETCH_SCRIPT)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.path.isfile(flink.job_server_jar()) and flink.java_available()
    return flink.job_server_jar()


def run_data_components(workdir: str, beam_args) -> str:
    """Tiny Fashion-MNIST-like data through the dense step's data components; returns the pipeline root."""
    from tfx import v1 as tfx

    from dlqos import runs
    from dlqos.config import OutputLayout
    from dlqos.steps import get_step
    from pipeline.pipeline import data_components
    from tests.conftest import write_fashion_like_dir

    layout, step = OutputLayout(workdir), get_step("dense")
    options = runs.RunOptions(output_dir=workdir, data_dir=write_fashion_like_dir(os.path.join(workdir, "data"),
                              n_train=TRAIN, n_eval=EVAL), max_train=TRAIN, max_eval=EVAL)
    examples_dir, data = runs.prepare_examples(step, options, layout)
    config = runs.build_config(step, options, layout, examples_dir, {**data, "counts": {"train": TRAIN, "eval": EVAL}})
    root = os.path.join(workdir, "root")
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="flink-data", pipeline_root=root, components=list(data_components(config)),
        beam_pipeline_args=list(beam_args),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(layout.metadata_path)))
    return root


def split_counts(root: str) -> dict:
    """Records per split in ExampleGen's output, and how many shards Flink's parallel writers left."""
    import tensorflow as tf

    counts = {}
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(root, "ExampleGen", "examples", "*", f"Split-{split}", "*"))
        records = sum(1 for name in files for _ in tf.data.TFRecordDataset(name, compression_type="GZIP"))
        counts[split] = (records, len(files))
    return counts


def statistics_counts(root: str) -> dict:
    """num_examples per split in StatisticsGen's output, as TFDV reads it."""
    import tensorflow_data_validation as tfdv

    counts = {}
    for split in ("train", "eval"):
        path, = glob.glob(os.path.join(root, "StatisticsGen", "statistics", "*", f"Split-{split}", "FeatureStats.pb"))
        counts[split] = tfdv.load_stats_binary(path).datasets[0].num_examples
    return counts


def test_dense_data_components_on_flink(tmp_path, job_server):
    start = time.monotonic()
    root = run_data_components(str(tmp_path), flink.beam_args() + ("--parallelism=2",))
    print(f"data components on Flink: {time.monotonic() - start:.0f} s")
    counts = split_counts(root)
    assert {split: records for split, (records, _) in counts.items()} == {"train": TRAIN, "eval": EVAL}
    # Shards: ImportExampleGen's output came in 2 per split here (parallelism 2); the DatasetExampleGen's comes in 1
    # (2026-12-01, also with a Reshuffle after the read: not explained yet). Records and statistics are exact.
    assert all(shards >= 1 for _, shards in counts.values()), counts
    assert statistics_counts(root) == {"train": TRAIN, "eval": EVAL}
    assert glob.glob(os.path.join(root, "SchemaGen", "schema", "*", "schema.pbtxt"))
    assert glob.glob(os.path.join(root, "Transform", "transform_graph", "*", "transform_fn", "saved_model.pb"))
