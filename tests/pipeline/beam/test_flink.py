"""Beam on Flink, three ways. (1) The dense step's data components (ExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator -> Transform) on an embedded Flink with parallelism 2, with the arguments `dlqos run --runner flink`
expands to and the services a run shares (pipeline.beam.shared_services): one job server JVM for every component (the
pinned Beam Java 2.62.0 beside the Python SDK 2.77.0, see pipeline/beam/flink.py, with the host's Java from the
sandbox) and one SDK worker pool on 127.0.0.1, both gone when the block ends.

A success status proves nothing (Beam's Dask runner reported success with empty outputs), so the test counts the
records in ExampleGen's splits and in StatisticsGen's statistics, and reads Transform's graph back.

(2) The dense step's whole pipeline (`dlqos run dense --runner flink --flink-master --flink-runner-provided`)
submitted to a separate Flink 1.19 cluster, a JobManager and a TaskManager (2 slots) started as their own JVMs on
127.0.0.1 by pipeline.beam.flink_cluster, whose classpath holds Beam's Flink runner; the cluster's REST API must list
one finished job per component that runs Beam, one job server must have served them all, none may be left, and no
job may have shipped a jar to the TaskManager. (Shipping them, the default, runs in the flink_fixed_cost benchmark's
test.)

(3) `dlqos run --runner flink` as its own process, stopped by SIGTERM, SIGINT or SIGKILL once its job server is up:
no Java process and none of its listening ports may outlive it.
"""
import contextlib
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from dlqos import cli, metadata
from pipeline import beam
from pipeline.beam import flink, flink_cluster
from tests.helpers import ROOT, alive, fetch_flink_jars, write_fashion_like_dir

TRAIN = 300
EVAL = 100

pytestmark = pytest.mark.flink


@pytest.fixture(scope="session")
def job_server():
    fetch_flink_jars()
    assert os.path.isfile(flink.job_server_jar()) and flink.java_available()
    return flink.job_server_jar()


@pytest.fixture
def cluster(job_server, tmp_path):
    """A JobManager and a TaskManager (2 slots) as separate JVMs on 127.0.0.1, up within 2 minutes and stopped
    after the test (SIGTERM, then KILL after 20 s)."""
    fetch_flink_jars("cluster")
    with flink_cluster.FlinkCluster(slots=2, workdir=str(tmp_path / "flink")) as running:
        yield running


def run_data_components(workdir: str, beam_args) -> str:
    """Tiny Fashion-MNIST-like data through the dense step's data components; returns the pipeline root."""
    from tfx import v1 as tfx

    from dlqos import runs
    from common.config import OutputLayout
    from models.steps import get_step
    from pipeline.pipeline import data_half

    layout = OutputLayout(workdir)
    step = get_step("dense")
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


def children(pid: int) -> dict:
    """Every living process below pid (its children, theirs, ...), by pid: its command name."""
    parents = {}
    names = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
            names[int(entry)] = name
    found = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = names[child]
                todo.append(child)
    return found


def java_below(pid: int) -> set:
    return {child for child, name in children(pid).items() if name == "java"}


def listen_table() -> dict:
    """Every listening TCP socket here, by inode: (address in /proc's hex, port, bound to the wildcard address
    0.0.0.0 or ::, i.e. reachable on every interface)."""
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A":  # LISTEN
                    address, port = fields[1].split(":")
                    sockets[fields[9]] = (address, int(port, 16), set(address) == {"0"})
    return sockets


def listening(pids) -> list:
    """(pid, address, port, everywhere) for each TCP socket the processes listen on (their file descriptors)."""
    sockets = listen_table()
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:[") and target[8:-1] in sockets:
                        found.append((pid, *sockets[target[8:-1]]))
    return found


def test_dense_data_components_share_one_job_server_on_flink(tmp_path, job_server):
    start = time.monotonic()
    me = os.getpid()
    before = set(listening([me]))  # what other tests in this process may have left listening
    with beam.shared_services(flink.beam_args() + ("--parallelism=2",)) as beam_args:
        server, = java_below(me)  # the run's job server, up before any component
        sockets = set(listening([me, server])) - before
        root = run_data_components(str(tmp_path), beam_args)
        assert java_below(me) == {server}  # Beam's own job servers would still be alive here: none was started
    print(f"data components on Flink: {time.monotonic() - start:.0f} s")
    assert not java_below(me) and not alive(server)
    assert {pid for pid, *_ in sockets} == {me, server}  # the worker pool here, the job and artifact services there
    assert not [s for s in sockets if s[3]], sockets  # nothing on every interface: 127.0.0.1 only
    assert not {port for _, _, port, _ in sockets} & {port for _, port, _ in listen_table().values()}
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


def test_dense_pipeline_on_a_flink_cluster(tmp_path, cluster, caplog):

    out = str(tmp_path / "out")
    start = time.monotonic()
    cluster_jvms = {process.pid for process in cluster.processes}
    data = write_fashion_like_dir(str(tmp_path / "data"), n_train=TRAIN, n_eval=EVAL)
    code = cli.main(["run", "dense", "--output-dir", out, "--data-dir", data, "--max-train", str(TRAIN),
                     "--max-eval", str(EVAL), "--epochs", "2", "--runner", "flink", "--flink-master", cluster.master,
                     "--flink-runner-provided", "--beam-arg=--parallelism=2"])
    print(f"dense pipeline on the Flink cluster: {time.monotonic() - start:.0f} s")
    assert code == cli.EXIT_OK
    assert len([r for r in caplog.records if r.getMessage().startswith("Flink job server (pid")]) == 1
    assert java_below(os.getpid()) == cluster_jvms  # the run's job server is gone, the cluster's JVMs stay
    jobs = cluster.jobs()
    assert [job["state"] for job in jobs] == ["FINISHED"] * len(BEAM_COMPONENTS)
    ran = [[name for name, mark in BEAM_COMPONENTS.items() if any(mark in v["name"] for v in job["vertices"])]
           for job in jobs]
    assert ran == [[name] for name in BEAM_COMPONENTS]  # one job per Beam component, in pipeline order
    assert {vertex["parallelism"] for job in jobs for vertex in job["vertices"]} == {2}
    # the TaskManager's blob cache keeps each job's jars (163 files, 158 MB a job when the job server ships them)
    assert not glob.glob(os.path.join(cluster.workdir, "tmp", "tm_*", "blobStorage", "job_*", "*"))
    run = metadata.pipeline_runs(metadata.open_store(os.path.join(out, "metadata.sqlite")), "dlqos-dense")[-1]
    assert_data_outputs(run.nodes["ExampleGen"].output("examples").uri,
                        run.nodes["StatisticsGen"].output("statistics").uri)
    assert run.blessed and run.pushed_to and os.path.isfile(os.path.join(run.pushed_to, "saved_model.pb"))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):

    return write_fashion_like_dir(str(tmp_path_factory.mktemp("data")), n_train=TRAIN, n_eval=EVAL)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_a_signal_leaves_no_job_server_and_no_port(tmp_path, job_server, tiny_data, signum, code):
    """`dlqos run --runner flink` stopped while a Flink job runs: the run and its job server listened on the loopback
    interface only, and afterwards neither the job server nor any port it or the run listened on is left."""
    run = subprocess.Popen([sys.executable, "-m", "dlqos.cli", "run", "dense", "--runner", "flink", "--data-dir",
                            tiny_data, "--max-train", str(TRAIN), "--max-eval", str(EVAL), "--epochs", "1",
                            "--output-dir", str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        server, = wait_for(lambda: [pid for pid in java_below(run.pid) if listening([pid])], 300, "job server")
        # a Flink job running: the worker pool listens and the job server has opened more than its job and
        # artifact ports (the SDK harness's control and data services, the embedded Flink's)
        sockets = wait_for(lambda: [s for s in [listening([run.pid, server])] if
                                    {pid for pid, *_ in s} == {run.pid, server} and
                                    len([pid for pid, *_ in s if pid == server]) > 2], 300, "running Flink job")[0]
        run.send_signal(signum)
        assert run.wait(60) == code, run.stderr.read()[-2000:]
    finally:
        run.kill()
    if signum != signal.SIGKILL:  # one line says so; no traceback from Beam's threads as the job server stops
        errors = run.stderr.read()
        assert errors.rstrip().endswith(f"dlqos: interrupted ({signal.Signals(signum).name})"), errors[-2000:]
        assert "Traceback" not in errors, errors[-3000:]
    ports = {port for _, _, port, _ in sockets}
    # SIGKILL: the kernel kills the JVM (PR_SET_PDEATHSIG); its threads may take a few seconds to release the ports
    wait_for(lambda: not alive(server) and not ports & {port for _, port, _ in listen_table().values()},
             20, "end of the job server and its ports")
    assert not [s for s in sockets if s[3]], sockets  # nothing on every interface: 127.0.0.1 only
