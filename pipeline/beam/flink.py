"""Beam's portable Flink runner: the arguments `--runner flink` expands to, where its job server lives, and the
job server and SDK worker pool that a run's pipelines share.

Beam's Python FlinkRunner starts a job server (`java -jar JAR`) for every pipeline and stops it only when the
process exits; TFX runs one pipeline per component. So a run starts one itself (`shared_services`): one job server
JVM and one SDK worker pool for all its components, stopped when the run ends, fails or is interrupted, and killed
by the kernel if the run itself is killed (PR_SET_PDEATHSIG); both listen on 127.0.0.1 only. The job server runs
each pipeline on an embedded Flink (`[local]`) or submits it to a cluster's JobManager (`--flink-master`).

With a cluster, Beam ships the job server's whole classpath (about 160 jars, 150 MB) with every job, and the
TaskManager loads it afresh for each: about 15 s per Beam component here. A cluster whose own classpath holds Beam's
Flink runner (pipeline.beam.flink_cluster, or a Flink image with the job server's jars in lib/) needs none of it:
`--flink-runner-provided` submits with nothing staged (dlqos-flink.jar's NothingToStage, built by the fetch script).

Left alone, Beam downloads the job server jar at run time from an unpinned URL, and Maven Central here serves no job
server jar at all: scripts/fetch-flink-job-server.sh resolves the runner library beam-runners-flink-1.19:2.62.0 with
its dependencies, checks every jar's sha256 and writes a manifest-only job-server.jar naming them, and that path is
always passed.

Version skew: the job server is Beam Java 2.62.0 while the Python SDK is 2.77.0 (uv.lock). Measured to run the
dense step's data components (tests/pipeline/beam/test_flink.py); Beam does not support mixing versions.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Iterator, Optional, Sequence, Tuple

from common.errors import ConfigError

JOB_SERVER_BEAM_VERSION = "2.62.0"  # Beam Java of the job server; the Python SDK is 2.77.0 (see above)
FLINK_VERSION = "1.19"
JOB_SERVER_DIR = f"beam-{JOB_SERVER_BEAM_VERSION}-flink-{FLINK_VERSION}"  # scripts/fetch-flink-job-server.sh: SERVER
# java for the job server: PATH's, or the host's from inside the runtime sandbox (which has none)
JAVA_LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java.sh")
# The job server's Python SDK workers on a cluster: an SDK worker pool beside each TaskManager
# (python -m apache_beam.runners.worker.worker_pool_main --service_port=50000), since the pods cannot call back
# into the driver as LOOPBACK workers do.
DEFAULT_WORKER_POOL = "localhost:50000"
FETCH_SCRIPT = "scripts/fetch-flink-job-server.sh"
JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
# The job server option (scripts/flink-job-server/java) that stages nothing with a job: the cluster has the runner.
NOTHING_TO_STAGE = "--pipeline_resources_detector_factory_class=dlqos.flink.NothingToStage"
LOOPBACK = "127.0.0.1"  # where the shared job server and SDK worker pool are reached
PR_SET_PDEATHSIG = 1  # linux/prctl.h
log = logging.getLogger("dlqos")
# Beam's threads that read a job's streams (job messages, SDK harness data) and the worker pool's SDK workers
# (`run_worker_<id>`, which close their data channel on the way out), by name prefix; they end with a gRPC error when
# the job server stops under a running job, as when a run is interrupted, and at some jobs' normal end: no news.
JOB_STREAM_THREADS = ("wait_until_finish_read", "read_grpc_client_inputs", "run_worker_")


def host_root() -> str:
    """Where the host's files are: '' natively, DLQOS_HOST_ROOT inside the runtime sandbox (scripts/runtime.sh),
    whose DLQOS_CACHE names the host's cache, where the fetch script (run on the host) puts the job server."""
    return os.environ.get("DLQOS_HOST_ROOT", "").rstrip("/")


def cache_dir(local: bool = True) -> str:
    """The runtime cache's flink/ folder (scripts/runtime.sh: /var/cache/dlqos as root, else ~/.cache/dlqos), as
    this process sees it (local) or as a path in its own right (an image's copy)."""
    default = "/var/cache/dlqos" if os.getuid() == 0 else os.path.expanduser("~/.cache/dlqos")
    path = os.path.join(os.environ.get("DLQOS_CACHE") or default, "flink")
    return host_root() + path if local else path


def job_server_jar(local: bool = True) -> str:
    """Where the pinned job server is (DLQOS_FLINK_JOB_SERVER_JAR names another local file)."""
    return os.environ.get("DLQOS_FLINK_JOB_SERVER_JAR") or os.path.join(cache_dir(local), JOB_SERVER_DIR,
                                                                         "job-server.jar")


def extension_jar() -> str:
    """The job server's extension (NothingToStage and the registrar that lets clients pass it), built by the fetch
    script into the runtime cache; always on the shared job server's classpath."""
    return os.path.join(cache_dir(), "dlqos-flink.jar")


def loopback_bind() -> str:
    """The library the run's JVMs preload (scripts/flink-job-server/loopback_bind.c, built by the fetch script): their
    binds to the wildcard address bind 127.0.0.1 instead. Beam Java's gRPC servers (job, artifact, and the SDK
    harness's control, data, state and logging services) listen on every interface whatever --job-host says."""
    return os.path.join(cache_dir(), "loopback-bind.so")


def jvm_environment() -> dict:
    """The environment for a JVM started through JAVA_LAUNCHER: this one, with loopback_bind preloaded."""
    return dict(os.environ, DLQOS_JAVA_PRELOAD=loopback_bind())


def java_available() -> bool:
    """Java on PATH, or the host's Java that JAVA_LAUNCHER reaches from inside the sandbox (a link into the host's
    /etc/alternatives, which only resolves there)."""
    return shutil.which("java") is not None or (bool(host_root()) and os.path.lexists(host_root() + "/usr/bin/java"))


def check_master(master: Optional[str]) -> Optional[str]:
    """--flink-master is HOST:PORT (the JobManager's REST port, 8081 by default), refused otherwise."""
    if master is not None and not re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", master):
        raise ConfigError(f"--flink-master must be HOST:PORT (the JobManager's REST address), got '{master}'")
    return master


def check_local_runtime(jar: str) -> None:
    """Before any work: the job server jar is in the cache and Java is there to run it, else one line naming
    the fix (a missing jar would otherwise make Beam download an unpinned one minutes into the run)."""
    if not os.path.isfile(jar):
        raise ConfigError(f"the Flink job server jar {jar} is missing: run {FETCH_SCRIPT} (pinned, sha256-checked) "
                          "or set DLQOS_FLINK_JOB_SERVER_JAR to a local copy")
    for built in (loopback_bind(), extension_jar()):
        if not os.path.isfile(built):
            raise ConfigError(f"{built} is missing: run {FETCH_SCRIPT} (it builds it with the host's C compiler "
                              "and JDK)")
    if not java_available():
        raise ConfigError("--runner flink needs Java 17 on PATH (or on the host, from the runtime sandbox) to run "
                          "Beam's Flink job server")


def beam_args(master: Optional[str] = None, cluster: bool = False, runner_provided: bool = False) -> Tuple[str, ...]:
    """Beam arguments for Flink. Local runs: an embedded Flink, or the cluster at --flink-master, with SDK workers
    in this process (LOOPBACK) and a job server started by JAVA_LAUNCHER, both of which a run replaces by the ones
    it shares (shared_services); runner_provided: that cluster's classpath holds Beam's Flink runner, so jobs ship
    nothing. Compiled (cluster) runs: EXTERNAL workers from the worker pool beside each TaskManager, and the job
    server at the image's copy of the cache path (nothing checked here)."""
    if cluster and master is None:
        raise ConfigError("compile --runner flink needs --flink-master HOST:PORT, the cluster's JobManager")
    if runner_provided and (cluster or master is None):
        raise ConfigError("--flink-runner-provided is for `run`, `study` and `compare` with --flink-master (a "
                          "cluster that holds Beam's Flink runner); a compiled pipeline's job server ships its jars")
    master = check_master(master) or "[local]"
    jar = job_server_jar(local=not cluster)
    if cluster:
        environment = ("--environment_type=EXTERNAL", f"--environment_config={DEFAULT_WORKER_POOL}")
    else:
        check_local_runtime(jar)
        environment = ("--environment_type=LOOPBACK", f"--job_server_java_launcher={JAVA_LAUNCHER}")
    return ("--runner=FlinkRunner", f"--flink_version={FLINK_VERSION}", f"--flink_master={master}",
            f"--flink_job_server_jar={jar}") + environment + ((NOTHING_TO_STAGE,) if runner_provided else ())


def die_with_parent() -> None:
    """A Popen preexec_fn: the child gets SIGKILL when the thread that started it ends, however that ends (SIGKILL
    included), so a JVM never outlives the run that needed it. Exec keeps the setting (java.sh, chroot, java)."""
    parent = os.getppid()
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != parent:
        os._exit(1)  # no guard, or the parent is already gone: never run unsupervised


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class JobServer:
    """Beam's Flink job server as a child process of this one, for every pipeline of a run: its job port takes the
    jobs and its artifact port their staged files; no expansion service (TFX uses no cross-language transforms). A
    context manager: stopped when the block ends (SIGTERM, then SIGKILL), else killed by the kernel with the thread
    that started it."""

    def __init__(self, jar: str, master: str, workdir: str):
        self.jar = jar
        self.master = master
        self.workdir = workdir
        self.job_port = free_port()
        self.artifact_port = free_port()
        self.endpoint = f"{LOOPBACK}:{self.job_port}"
        self.process: Optional[subprocess.Popen] = None

    def command(self) -> list:
        return [JAVA_LAUNCHER, "-cp", f"{extension_jar()}:{self.jar}", JOB_SERVER_MAIN, "--flink-master", self.master,
                "--job-host", LOOPBACK, "--job-port", str(self.job_port), "--artifact-port", str(self.artifact_port),
                "--expansion-port", "-1", "--artifacts-dir", os.path.join(self.workdir, "artifacts")]

    def start(self, timeout: float = 120) -> "JobServer":
        """Start it and wait until its job port answers; if it does not, stop it and raise with its log's end."""
        log_path = os.path.join(self.workdir, "job-server.log")
        with open(log_path, "w") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=jvm_environment(),
                                            preexec_fn=die_with_parent, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, self.job_port), timeout=1):
                log.info("Flink job server (pid %d) at %s for this run's pipelines", self.process.pid, self.endpoint)
                return self
            time.sleep(0.2)
        self.stop()
        with open(log_path, errors="replace") as out:
            tail = out.read()[-2000:]
        raise RuntimeError(f"the Flink job server did not start in {timeout:.0f} s; its log ends:\n{tail}")

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "JobServer":
        try:
            return self.start()
        except BaseException:  # an interrupt while it starts
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def worker_pool(options) -> Iterator[str]:
    """Beam's SDK worker pool in this process, as LOOPBACK's, but listening on the loopback interface only (Beam's
    own binds every interface) and for every pipeline of the run; yields its address."""
    import grpc
    from apache_beam.options.pipeline_options import DebugOptions
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.worker import sdk_worker_main, worker_pool_main
    from apache_beam.utils import thread_pool_executor

    servicer = worker_pool_main.BeamFnExternalWorkerPoolServicer(
        state_cache_size=sdk_worker_main._get_state_cache_size_bytes(options=options),
        data_buffer_time_limit_ms=sdk_worker_main._get_data_buffer_time_limit_ms(
            options.view_as(DebugOptions).experiments or []))
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)])
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(servicer, server)
    server.start()
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        server.stop(1)


@contextlib.contextmanager
def quiet_job_streams() -> Iterator[None]:
    """Within the block, the gRPC errors that end Beam's job stream threads print no traceback (the pipeline's own
    call fails if the job does); every other thread's exception is passed on. At the end those threads are given a
    moment to finish before the previous hook is back."""
    import grpc

    previous = threading.excepthook

    def hook(args) -> None:
        name = getattr(args.thread, "name", "")
        if not (issubclass(args.exc_type, grpc.RpcError) and name.startswith(JOB_STREAM_THREADS)):
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        for thread in threading.enumerate():
            if thread.name.startswith(JOB_STREAM_THREADS):
                thread.join(2)
        threading.excepthook = previous


@contextlib.contextmanager
def shared_services(beam_args: Sequence[str]) -> Iterator[Tuple[str, ...]]:
    """For Flink arguments that would make Beam start a job server per pipeline (FlinkRunner, LOOPBACK workers, no
    --job_endpoint): one job server and one worker pool for the block, and the arguments that submit to them.
    Anything else is yielded as it is."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions, PortableOptions
    from apache_beam.runners.portability.flink_runner import FlinkRunner

    options = PipelineOptions(list(beam_args))
    portable = options.view_as(PortableOptions)
    flink_options = options.view_as(FlinkRunnerOptions)
    if portable.job_endpoint or portable.environment_type != "LOOPBACK" or flink_options.flink_submit_uber_jar:
        yield tuple(beam_args)
        return
    with contextlib.ExitStack() as services:
        services.enter_context(quiet_job_streams())
        workdir = services.enter_context(tempfile.TemporaryDirectory(prefix="dlqos-flink-job-server-"))
        server = services.enter_context(JobServer(flink_options.flink_job_server_jar or job_server_jar(),
                                                  FlinkRunner.add_http_scheme(flink_options.flink_master), workdir))
        pool = services.enter_context(worker_pool(options))
        yield tuple(beam_args) + (f"--job_endpoint={server.endpoint}", "--environment_type=EXTERNAL",
                                  f"--environment_config={pool}")
