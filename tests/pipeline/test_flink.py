"""Beam on Flink, two ways. (1) The dense step's data components (ExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator -> Transform) on Beam's portable Flink runner, an embedded Flink with parallelism 2, with the arguments `dlqos run --runner flink`
expands to: Beam's FlinkRunner starts the pinned job server (Beam Java 2.62.0 beside the Python SDK 2.77.0, see
dlqos/runners/flink.py) with the host's Java from the sandbox, and stops it at exit.

A success status proves nothing (Beam's Dask runner reported success with empty outputs), so the test counts the
records in ExampleGen's splits and in StatisticsGen's statistics, and reads Transform's graph back.

(2) The dense step's whole pipeline (`dlqos run dense --runner flink --flink-master`) submitted to a separate
Flink 1.19 cluster, a JobManager and a TaskManager (2 slots) started as their own JVMs on 127.0.0.1 by
dlqos.runners.flink_cluster; the cluster's REST API must list one finished job per component that runs Beam.
"""
import glob
import os
import subprocess
import time

import pytest

from dlqos import cli, metadata
from dlqos.runners import flink, flink_cluster

TRAIN, EVAL = 300, 100
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fetch(*args: str) -> None:
    """The project's own fetch script (Maven, every jar sha256-checked; a no-op once verified). It fails, rather
    than skips, where it cannot fetch."""
    result = subprocess.run([os.path.join(ROOT, flink.FETCH_SCRIPT), *args], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="session")
def job_server():
    fetch()
    assert os.path.isfile(flink.job_server_jar()) and flink.java_available()
    return flink.job_server_jar()


@pytest.fixture
def cluster(job_server, tmp_path):
    """A JobManager and a TaskManager (2 slots) as separate JVMs on 127.0.0.1, up within 2 minutes and stopped
    after the test (SIGTERM, then KILL after 20 s)."""
    fetch("cluster")
    with flink_cluster.FlinkCluster(slots=2, workdir=str(tmp_path / "flink")) as running:
        yield running


def run_data_components(workdir: str, beam_args) -> str:
    """Tiny Fashion-MNIST-like data through the dense step's data components; returns the pipeline root."""
    from tfx import v1 as tfx

    from dlqos import runs
    from dlqos.config import OutputLayout
    from dlqos.steps import get_step
    from pipeline.pipeline import data_half
    from tests.conftest import write_fashion_like_dir

    layout, step = OutputLayout(workdir), get_step("dense")
    options = runs.RunOptions(output_dir=workdir, data_dir=write_fashion_like_dir(os.path.join(workdir, "data"),
                              n_train=TRAIN, n_eval=EVAL), max_train=TRAIN, max_eval=EVAL)
    examples_dir, data = runs.prepare_examples(step, options, layout)
    config = runs.build_config(step, options, layout, examples_dir, {**data, "counts": {"train": TRAIN, "eval": EVAL}})
    root = os.path.join(workdir, "root")
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="flink-data", pipeline_root=root, components=list(data_half(config).components),
        beam_pipeline_args=list(beam_args),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(layout.metadata_path)))
    return root


def split_counts(examples: str) -> dict:
    """Records per split in ExampleGen's output (its artifact directory), and how many shards Flink's parallel
    writers left."""
    import tensorflow as tf

    counts = {}
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(examples, f"Split-{split}", "*"))
        records = sum(1 for name in files for _ in tf.data.TFRecordDataset(name, compression_type="GZIP"))
        counts[split] = (records, len(files))
    return counts


def statistics_counts(statistics: str) -> dict:
    """num_examples per split in StatisticsGen's output (its artifact directory), as TFDV reads it."""
    import tensorflow_data_validation as tfdv

    counts = {}
    for split in ("train", "eval"):
        path, = glob.glob(os.path.join(statistics, f"Split-{split}", "FeatureStats.pb"))
        counts[split] = tfdv.load_stats_binary(path).datasets[0].num_examples
    return counts


def assert_data_outputs(examples: str, statistics: str) -> None:
    """TRAIN/EVAL records in ExampleGen's splits and the same counts in StatisticsGen's statistics."""
    counts = split_counts(examples)
    assert {split: records for split, (records, _) in counts.items()} == {"train": TRAIN, "eval": EVAL}
    # Shards: ImportExampleGen's output came in 2 per split here (parallelism 2); the DatasetExampleGen's comes in 1
    # (2026-12-01, also with a Reshuffle after the read: not explained yet). Records and statistics are exact.
    assert all(shards >= 1 for _, shards in counts.values()), counts
    assert statistics_counts(statistics) == {"train": TRAIN, "eval": EVAL}


def test_dense_data_components_on_flink(tmp_path, job_server):
    start = time.monotonic()
    root = run_data_components(str(tmp_path), flink.beam_args() + ("--parallelism=2",))
    print(f"data components on Flink: {time.monotonic() - start:.0f} s")
    examples, = glob.glob(os.path.join(root, "ExampleGen", "examples", "*"))
    statistics, = glob.glob(os.path.join(root, "StatisticsGen", "statistics", "*"))
    assert_data_outputs(examples, statistics)
    assert glob.glob(os.path.join(root, "SchemaGen", "schema", "*", "schema.pbtxt"))
    assert glob.glob(os.path.join(root, "Transform", "transform_graph", "*", "transform_fn", "saved_model.pb"))


# The components of the dense pipeline that run Beam, each known on the cluster by a transform only it has. Transform
# runs none: the dense preprocessing_fn needs no analysis, its output is not materialized and its statistics are off,
# so TFX applies it in place (tfx/components/transform/executor.py, "Using the in-place Transform").
BEAM_COMPONENTS = {"ExampleGen": "WriteSplit[train]", "StatisticsGen": "GenerateStatistics[train]",
                   "Evaluator": "ExtractEvaluateAndWriteResults"}


def test_dense_pipeline_on_a_flink_cluster(tmp_path, cluster):
    from tests.conftest import write_fashion_like_dir

    out, start = str(tmp_path / "out"), time.monotonic()
    data = write_fashion_like_dir(str(tmp_path / "data"), n_train=TRAIN, n_eval=EVAL)
    code = cli.main(["run", "dense", "--output-dir", out, "--data-dir", data, "--max-train", str(TRAIN),
                     "--max-eval", str(EVAL), "--epochs", "2", "--runner", "flink", "--flink-master", cluster.master,
                     "--beam-arg=--parallelism=2"])
    print(f"dense pipeline on the Flink cluster: {time.monotonic() - start:.0f} s")
    assert code == cli.EXIT_OK
    jobs = cluster.jobs()
    assert [job["state"] for job in jobs] == ["FINISHED"] * len(BEAM_COMPONENTS)
    ran = [[name for name, mark in BEAM_COMPONENTS.items() if any(mark in v["name"] for v in job["vertices"])]
           for job in jobs]
    assert ran == [[name] for name in BEAM_COMPONENTS]  # one job per Beam component, in pipeline order
    assert {vertex["parallelism"] for job in jobs for vertex in job["vertices"]} == {2}
    run = metadata.pipeline_runs(metadata.open_store(os.path.join(out, "metadata.sqlite")), "dlqos-dense")[-1]
    assert_data_outputs(run.nodes["ExampleGen"].output("examples").uri,
                        run.nodes["StatisticsGen"].output("statistics").uri)
    assert run.blessed and run.pushed_to and os.path.isfile(os.path.join(run.pushed_to, "saved_model.pb"))
