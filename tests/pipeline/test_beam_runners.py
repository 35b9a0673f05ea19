"""`--runner` expands into Beam arguments (dlqos.runners); refused runners never reach Beam."""
import pytest

from dlqos.config import DEFAULT_BEAM_ARGS
from dlqos.errors import ConfigError
from dlqos.runners import beam_args, flink, runner_names


@pytest.fixture
def jar(tmp_path, monkeypatch):
    """A job server jar in place and Java on PATH, so only the expansion is under test."""
    path = tmp_path / "job-server.jar"
    path.write_bytes(b"PK")
    monkeypatch.setenv("DLQOS_FLINK_JOB_SERVER_JAR", str(path))
    monkeypatch.setattr(flink.shutil, "which", lambda name: "/usr/bin/java")
    return str(path)


def test_local_runner_keeps_the_in_process_default_or_the_users_args():
    assert beam_args() == DEFAULT_BEAM_ARGS
    assert beam_args("local", ["--runner=FnApiRunner", "--direct_num_workers=2"])[-1] == "--direct_num_workers=2"


def test_local_flink_is_an_embedded_flink_with_loopback_workers_and_the_pinned_jar(jar):
    args = beam_args("flink", ["--parallelism=2"])
    assert args == ("--runner=FlinkRunner", f"--flink_version={flink.FLINK_VERSION}", "--flink_master=[local]",
                    f"--flink_job_server_jar={jar}", "--environment_type=LOOPBACK", "--parallelism=2")


def test_flink_master_is_passed_on(jar):
    assert "--flink_master=127.0.0.1:8081" in beam_args("flink", flink_master="127.0.0.1:8081")


def test_compiled_flink_uses_the_worker_pool_and_needs_a_master(monkeypatch):
    monkeypatch.setenv("DLQOS_FLINK_JOB_SERVER_JAR", "/nowhere/job-server.jar")  # the image's copy: not checked
    args = beam_args("flink", flink_master="flink-jobmanager:8081", cluster=True)
    assert "--environment_type=EXTERNAL" in args and f"--environment_config={flink.DEFAULT_WORKER_POOL}" in args
    assert "--environment_type=LOOPBACK" not in args
    with pytest.raises(ConfigError, match="needs --flink-master"):
        beam_args("flink", cluster=True)


def test_job_server_jar_is_looked_up_in_the_runtime_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("DLQOS_FLINK_JOB_SERVER_JAR", raising=False)
    monkeypatch.setenv("DLQOS_CACHE", str(tmp_path))
    assert flink.job_server_jar() == str(tmp_path / "flink" / f"{flink.JOB_SERVER}-{flink.BEAM_VERSION}.jar")


def test_runner_names_reads_both_spellings():
    assert runner_names(["--runner=A", "--x=1", "--runner", "B"]) == ["A", "B"]


@pytest.mark.parametrize("runner", ["DaskRunner", "dask", "apache_beam.runners.dask.dask_runner.DaskRunner"])
def test_dask_is_refused_for_compile_too(runner):
    with pytest.raises(ConfigError, match="Dask runner cannot run TFX components"):
        beam_args("local", [f"--runner={runner}"], cluster=True)
