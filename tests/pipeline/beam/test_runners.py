"""`--runner` expands into Beam arguments (pipeline.beam); refused runners never reach Beam; what a run shares and
how its children end with it."""
import os
import subprocess
import sys
import time

import pytest

from common.config import DEFAULT_BEAM_ARGS
from common.errors import ConfigError
from pipeline.beam import beam_args, flink, runner_names, shared_services
from tests.helpers import ROOT, alive


@pytest.fixture
def jar(tmp_path, monkeypatch):
    """A job server jar and the bind library in place and Java on PATH, so only the expansion is under test."""
    path = tmp_path / "job-server.jar"
    library = tmp_path / "loopback-bind.so"
    path.write_bytes(b"PK")
    library.write_bytes(b"ELF")
    extension = tmp_path / "dlqos-flink.jar"
    extension.write_bytes(b"PK")
    monkeypatch.setenv("DLQOS_FLINK_JOB_SERVER_JAR", str(path))
    monkeypatch.setattr(flink, "loopback_bind", lambda: str(library))
    monkeypatch.setattr(flink, "extension_jar", lambda: str(extension))
    monkeypatch.setattr(flink.shutil, "which", lambda name: "/usr/bin/java")
    return str(path)


@pytest.fixture
def no_jar_override(monkeypatch, tmp_path):
    """The job server looked up in a runtime cache of the test's own."""
    monkeypatch.delenv("DLQOS_FLINK_JOB_SERVER_JAR", raising=False)
    monkeypatch.setenv("DLQOS_CACHE", str(tmp_path))
    return tmp_path


def test_local_runner_keeps_the_in_process_default_or_the_users_args():
    assert beam_args() == DEFAULT_BEAM_ARGS
    assert beam_args("local", ["--runner=FnApiRunner", "--direct_num_workers=2"])[-1] == "--direct_num_workers=2"


def test_local_flink_is_an_embedded_flink_with_loopback_workers_and_the_pinned_jar(jar):
    args = beam_args("flink", ["--parallelism=2"])
    assert args == ("--runner=FlinkRunner", f"--flink_version={flink.FLINK_VERSION}", "--flink_master=[local]",
                    f"--flink_job_server_jar={jar}", "--environment_type=LOOPBACK",
                    f"--job_server_java_launcher={flink.JAVA_LAUNCHER}", "--parallelism=2")
    assert os.access(flink.JAVA_LAUNCHER, os.X_OK)


def test_flink_master_is_passed_on(jar):
    assert "--flink_master=127.0.0.1:8081" in beam_args("flink", flink_master="127.0.0.1:8081")


def test_a_cluster_that_holds_the_runner_is_sent_jobs_that_stage_nothing(jar):
    assert flink.NOTHING_TO_STAGE not in beam_args("flink", flink_master="127.0.0.1:8081")
    assert flink.NOTHING_TO_STAGE in beam_args("flink", flink_master="127.0.0.1:8081", flink_runner_provided=True)
    for master, cluster in ((None, False), ("flink-jobmanager:8081", True)):  # no cluster; a compiled pipeline
        with pytest.raises(ConfigError, match="--flink-runner-provided is for"):
            beam_args("flink", flink_master=master, cluster=cluster, flink_runner_provided=True)


def test_the_shared_job_server_has_the_extension_on_its_classpath(jar, tmp_path):
    command = flink.JobServer(jar, "127.0.0.1:8081", str(tmp_path)).command()
    assert command[1:4] == ["-cp", f"{flink.extension_jar()}:{jar}", flink.JOB_SERVER_MAIN]


def test_compiled_flink_uses_the_worker_pool_and_needs_a_master(monkeypatch):
    monkeypatch.setenv("DLQOS_FLINK_JOB_SERVER_JAR", "/nowhere/job-server.jar")  # the image's copy: not checked
    args = beam_args("flink", flink_master="flink-jobmanager:8081", cluster=True)
    assert "--environment_type=EXTERNAL" in args and f"--environment_config={flink.DEFAULT_WORKER_POOL}" in args
    assert "--environment_type=LOOPBACK" not in args
    with pytest.raises(ConfigError, match="needs --flink-master"):
        beam_args("flink", cluster=True)


def test_job_server_is_looked_up_in_the_runtime_cache(no_jar_override, monkeypatch):
    monkeypatch.delenv("DLQOS_HOST_ROOT", raising=False)
    assert flink.job_server_jar() == str(no_jar_override / "flink" / flink.JOB_SERVER_DIR / "job-server.jar")


def test_inside_the_sandbox_the_job_server_is_in_the_hosts_cache_but_compile_names_the_plain_path(no_jar_override,
                                                                                                   monkeypatch):
    monkeypatch.setenv("DLQOS_HOST_ROOT", "/run/host")
    assert flink.job_server_jar() == "/run/host" + str(no_jar_override / "flink" / flink.JOB_SERVER_DIR / "job-server.jar")
    args = beam_args("flink", flink_master="flink-jobmanager:8081", cluster=True)
    assert f"--flink_job_server_jar={flink.job_server_jar(local=False)}" in args and "/run/host" not in " ".join(args)


def test_without_java_flink_is_refused_before_any_work(jar, monkeypatch):
    monkeypatch.setattr(flink.shutil, "which", lambda name: None)
    monkeypatch.setenv("DLQOS_HOST_ROOT", "/nonexistent-host")
    with pytest.raises(ConfigError, match="needs Java 17"):
        beam_args("flink")


def test_without_the_bind_library_flink_is_refused_before_any_work(jar, monkeypatch, tmp_path):
    monkeypatch.setattr(flink, "loopback_bind", lambda: str(tmp_path / "missing.so"))
    with pytest.raises(ConfigError, match=f"missing.so is missing: run {flink.FETCH_SCRIPT}"):
        beam_args("flink")


def test_other_runners_share_nothing_and_a_given_job_endpoint_is_kept():
    with shared_services(DEFAULT_BEAM_ARGS) as args:
        assert args == DEFAULT_BEAM_ARGS
    given = ("--runner=FlinkRunner", "--job_endpoint=127.0.0.1:8099", "--environment_type=LOOPBACK")
    with shared_services(given) as args:
        assert args == given


def test_a_child_started_to_die_with_its_parent_dies_when_the_parent_is_killed():
    """SIGKILL runs no handler in the parent: the kernel kills the child (PR_SET_PDEATHSIG), as it does the run's
    job server JVM."""
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; from pipeline.beam import flink; "
                               "child = subprocess.Popen(['sleep', '600'], preexec_fn=flink.die_with_parent); "
                               "print(child.pid, flush=True); sys.stdin.read()"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


def test_runner_names_reads_both_spellings():
    assert runner_names(["--runner=A", "--x=1", "--runner", "B"]) == ["A", "B"]


@pytest.mark.parametrize("runner", ["DaskRunner", "dask", "apache_beam.runners.dask.dask_runner.DaskRunner"])
def test_dask_is_refused_for_compile_too(runner):
    with pytest.raises(ConfigError, match="Dask runner cannot run TFX components"):
        beam_args("local", [f"--runner={runner}"], cluster=True)


def test_fetch_script_refuses_an_unknown_argument_in_one_line():
    script = os.path.join(ROOT, flink.FETCH_SCRIPT)
    result = subprocess.run([script, "--bogus"], capture_output=True, text=True, env={**os.environ, "DLQOS_HOST_ROOT": ""})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "unknown argument '--bogus'" in result.stderr


def test_the_lock_pins_the_runner_library_and_its_closure_by_sha256():
    """jars.sha256 (written by --pin) is what the fetch script checks and builds job-server.jar's Class-Path from."""
    lock = os.path.join(ROOT, "scripts", "flink-job-server", "jars.sha256")
    entries = [line.split() for line in open(lock) if line.strip()]
    assert len(entries) > 100 and all(len(digest) == 64 and name.startswith("lib/") for digest, name in entries)
    assert any(name.startswith("lib/org.apache.beam.beam-runners-flink-1.19-2.62.0") for _, name in entries)
    cluster = os.path.join(os.path.dirname(lock), "..", "flink-cluster", "jars.sha256")
    assert "lib/org.apache.flink.flink-runtime-1.19.0.jar" in open(cluster).read()  # the job server's Flink release


def test_only_beams_stream_and_worker_threads_end_quietly(monkeypatch):
    import threading

    import grpc

    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.thread.name))

    def raise_in_thread(name: str, error: BaseException) -> None:
        def fail():
            raise error
        thread = threading.Thread(target=fail, name=name)
        thread.start()
        thread.join()

    with flink.quiet_job_streams():
        raise_in_thread("run_worker_6-1", grpc.RpcError("Multiplexer hanging up"))
        raise_in_thread("read_grpc_client_inputs", grpc.RpcError("cancelled"))
        raise_in_thread("run_worker_7-1", ValueError("a real failure"))
        raise_in_thread("some_other_thread", grpc.RpcError("cancelled"))
    assert seen == ["run_worker_7-1", "some_other_thread"]
