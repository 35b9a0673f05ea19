"""Beam's portable Flink runner: the arguments `--runner flink` expands to, and where its job server jar lives.

The Python FlinkRunner starts Beam's Flink job server (a Java jar) and hands it the pipeline; the job server runs
the pipeline on an embedded Flink (`[local]`) or submits it to a cluster's JobManager (`--flink-master`). Left
alone, Beam downloads that jar at run time from an unpinned URL: here it must come from the cache that
scripts/fetch-flink-job-server.sh fills (pinned version, sha256-checked), so the path is always passed.
"""
from __future__ import annotations

import os
import re
import shutil
from typing import Optional, Tuple

from dlqos.errors import ConfigError

BEAM_VERSION = "2.77.0"  # the job server's Beam version must be the SDK's (uv.lock: apache-beam 2.77.0)
FLINK_VERSION = "1.19"   # one of Beam 2.77's published Flink versions (1.19, 1.20, 2.0, 2.1, 2.2)
JOB_SERVER = f"beam-runners-flink-{FLINK_VERSION}-job-server"
# The job server's Python SDK workers on a cluster: an SDK worker pool beside each TaskManager
# (python -m apache_beam.runners.worker.worker_pool_main --service_port=50000), since the pods cannot call back
# into the driver as LOOPBACK workers do.
DEFAULT_WORKER_POOL = "localhost:50000"
FETCH_SCRIPT = "scripts/fetch-flink-job-server.sh"


def cache_dir() -> str:
    """The runtime cache (scripts/runtime.sh: /var/cache/dlqos as root, else ~/.cache/dlqos), its flink/ folder."""
    default = "/var/cache/dlqos" if os.getuid() == 0 else os.path.expanduser("~/.cache/dlqos")
    return os.path.join(os.environ.get("DLQOS_CACHE") or default, "flink")


def job_server_jar() -> str:
    """Where the pinned job server jar is (DLQOS_FLINK_JOB_SERVER_JAR names another local file)."""
    return os.environ.get("DLQOS_FLINK_JOB_SERVER_JAR") or os.path.join(cache_dir(), f"{JOB_SERVER}-{BEAM_VERSION}.jar")


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
    if shutil.which("java") is None:
        raise ConfigError("--runner flink needs Java (17 or 21) on PATH to run Beam's Flink job server")


def beam_args(master: Optional[str] = None, cluster: bool = False) -> Tuple[str, ...]:
    """Beam arguments for Flink. Local runs: an embedded Flink, or the cluster at --flink-master, with LOOPBACK
    SDK workers calling back into this process. Compiled (cluster) runs: EXTERNAL workers from the worker pool
    beside each TaskManager, and the jar at the image's copy of the cache path (nothing checked here)."""
    if cluster and master is None:
        raise ConfigError("compile --runner flink needs --flink-master HOST:PORT, the cluster's JobManager")
    master = check_master(master) or "[local]"
    jar = job_server_jar()
    if not cluster:
        check_local_runtime(jar)
    environment = ("--environment_type=EXTERNAL", f"--environment_config={DEFAULT_WORKER_POOL}") if cluster \
        else ("--environment_type=LOOPBACK",)
    return ("--runner=FlinkRunner", f"--flink_version={FLINK_VERSION}", f"--flink_master={master}",
            f"--flink_job_server_jar={jar}") + environment
