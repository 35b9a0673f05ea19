"""One place that turns a strategy name into a tf.distribute strategy (CPU, GPUs, workers, TPU), and the
numeric precision that goes with it."""
from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import Optional

from common.errors import ConfigError

STRATEGIES = ("auto", "cpu", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LOGICAL_CPUS_ENV = "DLQOS_LOGICAL_CPUS"  # split the CPU into N logical devices (exercises mirrored without GPUs)
TPU_CONNECT_TIMEOUT_S = 10.0


class DeviceUnavailable(ConfigError):
    """The requested device is not there; the message says what was found."""


def get_strategy(name: str = "auto", tpu_address: Optional[str] = None):
    """`auto` picks mirrored on 2+ GPUs, one GPU, else the CPU; other names never fall back silently."""
    import tensorflow as tf

    _check_name(name)
    if name == "multi_worker_mirrored":  # before anything initialises TensorFlow's devices (listing them does)
        return _multi_worker_strategy()
    _split_cpu_if_asked()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name in ("cpu", "one_device"):
        return tf.distribute.OneDeviceStrategy("/cpu:0" if name == "cpu" or not gpus else "/gpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(_mirrored_devices())
    address = _tpu_address(tpu_address)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def check_strategy(name: str) -> None:
    """Refuse a strategy whose devices are missing before any pipeline work: the Trainer that builds it comes
    after data conversion, ExampleGen and Transform. Builds nothing (a TPU system is initialised once, later)."""
    _check_name(name)
    _split_cpu_if_asked()
    if name == "mirrored":
        _mirrored_devices()
    elif name == "multi_worker_mirrored":
        _check_tf_config()
    elif name == "tpu":
        _tpu_address(None)


def _split_cpu_if_asked() -> None:
    """DLQOS_LOGICAL_CPUS=N, checked as a count (a typo is one line, not a ValueError from the Trainer), applied
    before anything initialises TensorFlow's devices in this process."""
    text = os.environ.get(LOGICAL_CPUS_ENV)
    if not text:
        return
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{LOGICAL_CPUS_ENV} must be a number of CPU devices >= 1, got '{text}'")
    split_cpu(int(text))


def _check_name(name: str) -> None:
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")


def _mirrored_devices() -> Optional[list]:
    """What mirrored replicates over: every GPU (None: the strategy's default), else 2+ logical CPU devices."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    if gpus:
        return None
    if len(cpus) > 1:  # logical CPU devices: how the strategy is exercised without a GPU
        return [device.name for device in cpus]
    raise DeviceUnavailable(f"strategy 'mirrored' needs GPUs or 2+ logical CPUs; found {len(gpus)} GPU(s), "
                            f"{len(cpus)} CPU device(s): set {LOGICAL_CPUS_ENV}=2 to split the CPU into two")


def _multi_worker_strategy():
    """MultiWorkerMirroredStrategy from TF_CONFIG (checked first). TensorFlow configures collective ops only
    before its runtime starts in the process, so the Trainer must be each worker's first TensorFlow work; the
    RuntimeError it raises otherwise becomes one line saying so."""
    import tensorflow as tf

    _check_tf_config()
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as why:
        raise DeviceUnavailable(f"strategy 'multi_worker_mirrored' must be created before any other TensorFlow "
                                f"work in the process (run each worker's Trainer as its own process): {why}") from why


def _check_tf_config() -> tuple:
    """(cluster, task type, task index) from TF_CONFIG, checked here: a missing or malformed one is one line before
    any work, not a stack trace from the strategy (or workers waiting forever for a task that does not exist)."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        raise DeviceUnavailable("strategy 'multi_worker_mirrored' needs TF_CONFIG describing the cluster, e.g. "
                                '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                                '"index": 0}}')
    try:
        config = json.loads(text)
    except ValueError as why:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {why}") from why
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(isinstance(cluster.get(job), list) and cluster[job]
                                                for job in ("chief", "worker")):
        raise ConfigError("TF_CONFIG needs a 'cluster' with a non-empty 'worker' (or 'chief') list of host:port")
    if not isinstance(task, dict) or not isinstance(task.get("index"), int) or not (
            0 <= task["index"] < len(cluster.get(task.get("type")) or ())):
        raise ConfigError(f"TF_CONFIG's 'task' must name a job of its cluster and an index within it, got {task}")
    return cluster, task["type"], task["index"]


def is_chief(strategy_name: str) -> bool:
    """Whether this process writes the Trainer's outputs (model, record). Only multi_worker_mirrored has other
    workers: there the 'chief' task, or worker 0 where the cluster has none (Keras' rule, multi_worker_util)."""
    if strategy_name != "multi_worker_mirrored":
        return True
    cluster, task_type, index = _check_tf_config()
    return task_type == "chief" if "chief" in cluster else (task_type, index) == ("worker", 0)


def _tpu_address(given: Optional[str]) -> str:
    """The TPU to use: `given`, else TPU_NAME or DLQOS_TPU_ADDRESS; a grpc:// address must answer."""
    address = given or os.environ.get("TPU_NAME") or os.environ.get("DLQOS_TPU_ADDRESS")
    if not address:
        raise DeviceUnavailable("strategy 'tpu' needs a TPU: set TPU_NAME (a Cloud TPU name) or DLQOS_TPU_ADDRESS "
                                "(grpc://HOST:PORT); none is set")
    _check_reachable(address)
    return address


def split_cpu(count: int) -> None:
    """Expose the CPU as `count` logical devices. TensorFlow allows this only before it initialises its devices
    (so in a fresh process, before any op); afterwards it is a clear error, not a silent single device."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as why:
        raise DeviceUnavailable(f"{LOGICAL_CPUS_ENV}={count} must be set before TensorFlow initialises its "
                                f"devices (a fresh process): {why}") from why


def _check_reachable(address: str) -> None:
    """A TPU worker address (grpc://host:port) must accept a connection within a bound: a wrong address fails
    in seconds instead of hanging in initialize_tpu_system. Names (Cloud TPU node names) are left to TF."""
    if not address.startswith("grpc://"):
        return
    host, _, port = address[len("grpc://"):].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=TPU_CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as why:
        raise DeviceUnavailable(f"TPU at {address} is not reachable within {TPU_CONNECT_TIMEOUT_S:.0f} s: {why}") from why


def resolve_precision(name: str, strategy) -> str:
    """`auto`: mixed_bfloat16 on TPUs, mixed_float16 when the strategy's devices are GPUs, float32 on CPUs.
    An explicit mixed policy on a CPU is honoured (bfloat16 runs there, slowly; float16 very slowly)."""
    import tensorflow as tf

    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision '{name}' (choose from {', '.join(PRECISIONS)})")
    if name != "auto":
        return name
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    devices = strategy.extended.worker_devices
    return "mixed_float16" if devices and all("GPU" in d.upper() for d in devices) else "float32"


@contextlib.contextmanager
def precision_policy(name: str, strategy):
    """Build models under the Keras mixed-precision policy for `name`, then restore the previous global policy
    (the study trains every step in one process). Layers keep the policy they were built with; the models'
    output layers are float32 (dtype="float32") so softmax and losses stay numerically stable."""
    import tf_keras as keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(resolve_precision(name, strategy))
    try:
        yield keras.mixed_precision.global_policy().name
    finally:
        keras.mixed_precision.set_global_policy(previous)
