"""A standalone Flink 1.19 session cluster on 127.0.0.1: one JobManager and one TaskManager, separate JVMs, for
`--flink-master` runs without a cluster of one's own (the tests, the scaling benchmark, a try by hand).

The classpath is the pinned cluster set (scripts/fetch-flink-job-server.sh cluster: Flink 1.19.0's modules from
Maven Central, sha256-checked; Maven Central serves no flink-dist jar). Flink's own bin/ scripts are not in that
set, so this does what they do: write a config, start StandaloneSessionClusterEntrypoint and TaskManagerRunner with
the Java 17 module flags Flink 1.19 needs, and wait on the REST API. Beam's Flink runner (the job server's jars)
follows Flink's own on the classpath, as in a Flink image with them in lib/, so runs may pass --flink-runner-provided
and submit their jobs without shipping it.

    scripts/runtime.sh python -m pipeline.beam.flink_cluster --rest-port 8081    # until Ctrl-C
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import List, Optional

from common.errors import ConfigError
from pipeline.beam import flink

CLUSTER_DIR = "flink-1.19.0-cluster"  # scripts/fetch-flink-job-server.sh cluster: SERVER
ENTRYPOINTS = {"jobmanager": "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
               "taskmanager": "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"}
# Flink 1.19's default env.java.opts.all for Java 17 (Kryo and the RPC system reflect into these packages)
JAVA_OPENS = tuple(f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
    "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text", "java.time",
    "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "java.util.concurrent.locks"))
# The TaskManager's memory spelled out (Flink's scripts derive it with BashJavaUtils; TaskManagerRunner refuses to
# start without it): 1.5 GB in all. Sort-merge shuffle's default 512 buffers per result partition exhausts 128 MB
# of network buffers on StatisticsGen's ~100-vertex graph, so each partition starts with 64.
TM_MEMORY = {"framework.heap.size": "128m", "task.heap.size": "512m", "managed.size": "256m",
             "framework.off-heap.size": "128m", "task.off-heap.size": "0m", "network.min": "128m",
             "network.max": "128m", "jvm-metaspace.size": "256m", "jvm-overhead.min": "192m",
             "jvm-overhead.max": "192m"}
TM_JVM = ("-Xmx640m", "-Xms640m", "-XX:MaxDirectMemorySize=256m", "-XX:MaxMetaspaceSize=256m")
LOG4J = ("rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = file\nappender.file.name = file\n"
         "appender.file.type = File\nappender.file.fileName = ${sys:log.file}\nappender.file.layout.type = "
         "PatternLayout\nappender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n\n")


def cluster_jar() -> str:
    """The manifest jar naming the checked cluster classpath, in the runtime cache (as this process sees it)."""
    return os.path.join(flink.cache_dir(), CLUSTER_DIR, "cluster.jar")


def write_config(directory: str, rest_port: int, slots: int) -> None:
    """flink-conf.yaml and log4j.properties: everything on 127.0.0.1, `slots` task slots and default parallelism."""
    settings = {"jobmanager.rpc.address": "127.0.0.1", "jobmanager.rpc.port": flink.free_port(),
                "jobmanager.bind-host": "127.0.0.1", "jobmanager.memory.process.size": "1024m",
                "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1", "rest.port": rest_port,
                "taskmanager.host": "127.0.0.1", "taskmanager.bind-host": "127.0.0.1",
                "taskmanager.numberOfTaskSlots": slots, "taskmanager.cpu.cores": slots, "parallelism.default": slots,
                "taskmanager.network.sort-shuffle.min-buffers": 64, "io.tmp.dirs": os.path.join(directory, "tmp")}
    settings.update({f"taskmanager.memory.{key}": value for key, value in TM_MEMORY.items()})
    os.makedirs(os.path.join(directory, "tmp"), exist_ok=True)
    with open(os.path.join(directory, "flink-conf.yaml"), "w") as conf:
        conf.writelines(f"{key}: {value}\n" for key, value in settings.items())
    with open(os.path.join(directory, "log4j.properties"), "w") as log4j:
        log4j.write(LOG4J)


class FlinkCluster:
    """A JobManager and a TaskManager as child processes; a context manager that stops both (SIGTERM, then KILL).
    The kernel kills them if the thread that started them ends first (flink.die_with_parent)."""

    def __init__(self, slots: int = 2, rest_port: Optional[int] = None, workdir: Optional[str] = None):
        for needed in (cluster_jar(), flink.job_server_jar(), flink.loopback_bind()):
            if not os.path.isfile(needed):
                raise ConfigError(f"{needed} is missing: run {flink.FETCH_SCRIPT} and {flink.FETCH_SCRIPT} cluster "
                                  "(pinned, sha256-checked)")
        self.slots = slots
        self.rest_port = rest_port or flink.free_port()
        self.workdir = workdir or tempfile.mkdtemp(prefix="dlqos-flink-")
        self.master = f"127.0.0.1:{self.rest_port}"
        self.processes: List[subprocess.Popen] = []

    def _start(self, role: str, jvm: tuple) -> None:
        log = os.path.join(self.workdir, f"{role}.log")
        command = [flink.JAVA_LAUNCHER, *JAVA_OPENS, *jvm, f"-Dlog.file={log}",
                   f"-Dlog4j.configurationFile=file:{self.workdir}/log4j.properties", "-cp",
                   f"{cluster_jar()}:{flink.job_server_jar()}",
                   ENTRYPOINTS[role], "--configDir", self.workdir]
        with open(os.path.join(self.workdir, f"{role}.out"), "w") as out:
            self.processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                                   env=flink.jvm_environment(), preexec_fn=flink.die_with_parent,
                                                   start_new_session=True))

    def start(self, timeout: float = 120) -> "FlinkCluster":
        """Start both processes and wait until the TaskManager's slots are registered (one line on failure)."""
        write_config(self.workdir, self.rest_port, self.slots)
        self._start("jobmanager", ("-Xmx512m",))
        self._start("taskmanager", TM_JVM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes):
                break
            try:
                if self.rest("overview").get("slots-total") == self.slots:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Flink cluster did not come up in {timeout:.0f} s; see {self.workdir}/*.log")

    def rest(self, path: str) -> dict:
        """A GET on the JobManager's REST API, as JSON."""
        with urllib.request.urlopen(f"http://{self.master}/{path}", timeout=10) as answer:
            return json.load(answer)

    def jobs(self) -> List[dict]:
        """Every job the cluster ran, oldest first: /jobs/overview, each with its vertices (/jobs/<id>)."""
        jobs = self.rest("jobs/overview")["jobs"]
        for job in jobs:
            job["vertices"] = self.rest(f"jobs/{job['jid']}")["vertices"]
        return sorted(jobs, key=lambda job: job["start-time"])

    def peak_rss_mb(self) -> float:
        """The JobManager's and the TaskManager's peak resident memory together (VmHWM, Linux)."""
        total = 0
        for process in self.processes:
            with open(f"/proc/{process.pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        return total / 1024

    def stop(self, timeout: float = 20) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> "FlinkCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rest-port", type=int, default=8081)
    parser.add_argument("--slots", type=int, default=2)
    args = parser.parse_args(argv)
    with FlinkCluster(args.slots, args.rest_port) as cluster:
        print(f"Flink cluster up: --flink-master {cluster.master} (logs in {cluster.workdir}; Ctrl-C stops)",
              flush=True)
        try:
            while all(process.poll() is None for process in cluster.processes):
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
