"""What a run's numbers depend on besides its settings and seed: the library versions and the machine.

The Trainer writes environment() into its training record, so the report can say, for every run it shows, on
which stack and hardware its numbers were measured (the same command with the same seeds gives the same
numbers on the same machine; another machine or version may round differently, e.g. oneDNN on CPUs).
"""
from __future__ import annotations

import hashlib
import os
import platform
from importlib import metadata
from typing import Dict, List, Optional

# The report's names for the distributions a run's numbers depend on (Python itself is added by versions()).
DISTRIBUTIONS = {"tfx": "tfx", "tensorflow": "tensorflow", "tfma": "tensorflow-model-analysis",
                 "tft": "tensorflow-transform", "tf_keras": "tf-keras", "beam": "apache-beam"}


def versions() -> Dict[str, Optional[str]]:
    """{name: installed version} of Python and the stack (None where a distribution is not installed)."""
    found = {"python": platform.python_version()}
    for name, distribution in DISTRIBUTIONS.items():
        try:
            found[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


# The packages whose code decides what a run's data half produces (readers, Transform's preprocessing_fn).
SOURCE_PACKAGES = ("common", "data", "models", "components", "pipeline", "dlqos")  # what can change the data half
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_fingerprint() -> str:
    """sha256 of the project's Python sources: in the ExampleGen's and Transform's settings, so TFX's cache serves
    a re-run's data half only while the code that would recompute it is unchanged."""
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for folder, dirs, files in sorted(os.walk(os.path.join(PROJECT_ROOT, package))):
            dirs.sort()
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, PROJECT_ROOT).encode() + b"\0")
                with open(path, "rb") as source:
                    digest.update(source.read() + b"\0")
    return digest.hexdigest()


def _proc_value(path: str, key: str) -> Optional[str]:
    """The first `key: value` line's value in a /proc file (Linux); None elsewhere or when absent."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def cpu_model() -> str:
    return _proc_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


def memory_gib() -> Optional[float]:
    """Physical memory (MemTotal), GiB to one decimal."""
    total = _proc_value("/proc/meminfo", "MemTotal")  # "24589120 kB"
    return round(int(total.split()[0]) / 2 ** 20, 1) if total else None


def accelerators() -> List[str]:
    """The GPUs TensorFlow sees, by device name where it reports one (an empty list on a CPU-only machine)."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name") or device.name)
    return names


def machine() -> dict:
    """CPU model, the cores this process may use (of all the host's), memory, accelerators and the OS."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cores": usable, "host_cores": os.cpu_count(), "memory_gib": memory_gib(),
            "accelerators": accelerators(), "platform": platform.platform()}


def environment() -> dict:
    return {"versions": versions(), "machine": machine()}


def describe_versions(found: dict) -> str:
    """'tfx 1.21.0, tensorflow 2.19.1, ...' in DISTRIBUTIONS order, Python first."""
    return ", ".join(f"{name} {found.get(name) or '?'}" for name in ("python", *DISTRIBUTIONS))


def describe_machine(found: dict) -> str:
    """'Intel Xeon ..., 2 cores (of 2), 23.4 GiB, no accelerator'."""
    cores = f"{found.get('cores')} cores" + (f" (of {found['host_cores']})"
                                            if found.get("host_cores") not in (None, found.get("cores")) else "")
    memory = f"{found['memory_gib']:g} GiB" if found.get("memory_gib") is not None else "memory unknown"
    gpus = ", ".join(found.get("accelerators") or []) or "no accelerator"
    return f"{found.get('cpu')}, {cores}, {memory}, {gpus}"
