"""Beam's portable Flink runner: the arguments `--runner flink` expands to, and where its job server lives.

The Python FlinkRunner starts Beam's Flink job server (`java -jar JAR`), hands it each pipeline and stops it when
the process ends; the job server runs the pipeline on an embedded Flink (`[local]`) or submits it to a cluster's
JobManager (`--flink-master`). Left alone, Beam downloads that jar at run time from an unpinned URL, and Maven
Central here serves no job server jar at all: scripts/fetch-flink-job-server.sh resolves the runner library
beam-runners-flink-1.19:2.62.0 with its dependencies, checks every jar's sha256 and writes a manifest-only
job-server.jar naming them, and that path is always passed.

Version skew: the job server is Beam Java 2.62.0 while the Python SDK is 2.77.0 (uv.lock). Measured to run the
dense step's data components (tests/pipeline/test_flink.py); Beam does not support mixing versions.
"""
from __future__ import annotations

import os
import re
import shutil
from typing import Optional, Tuple

from dlqos.errors import ConfigError

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
    if not java_available():
        raise ConfigError("--runner flink needs Java 17 on PATH (or on the host, from the runtime sandbox) to run "
                          "Beam's Flink job server")


def beam_args(master: Optional[str] = None, cluster: bool = False) -> Tuple[str, ...]:
    """Beam arguments for Flink. Local runs: an embedded Flink, or the cluster at --flink-master, with LOOPBACK
    SDK workers calling back into this process and the job server started by JAVA_LAUNCHER. Compiled (cluster)
    runs: EXTERNAL workers from the worker pool beside each TaskManager, and the job server at the image's copy of
    the cache path (nothing checked here)."""
    if cluster and master is None:
        raise ConfigError("compile --runner flink needs --flink-master HOST:PORT, the cluster's JobManager")
    master = check_master(master) or "[local]"
    jar = job_server_jar(local=not cluster)
    if cluster:
        environment = ("--environment_type=EXTERNAL", f"--environment_config={DEFAULT_WORKER_POOL}")
    else:
        check_local_runtime(jar)
        environment = ("--environment_type=LOOPBACK", f"--job_server_java_launcher={JAVA_LAUNCHER}")
    return ("--runner=FlinkRunner", f"--flink_version={FLINK_VERSION}", f"--flink_master={master}",
            f"--flink_job_server_jar={jar}") + environment
