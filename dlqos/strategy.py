"""One place that turns a strategy name into a tf.distribute strategy (CPU, GPUs, workers, TPU)."""
from __future__ import annotations

import json
import os
from typing import Optional

from dlqos.errors import ConfigError

STRATEGIES = ("auto", "cpu", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


class DeviceUnavailable(ConfigError):
    """The requested device is not there; the message says what was found."""


def get_strategy(name: str = "auto", tpu_address: Optional[str] = None):
    """`auto` picks mirrored on 2+ GPUs, one GPU, else the CPU; other names never fall back silently."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name in ("cpu", "one_device"):
        return tf.distribute.OneDeviceStrategy("/cpu:0" if name == "cpu" or not gpus else "/gpu:0")
    if name == "mirrored":
        cpus = tf.config.list_logical_devices("CPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        if len(cpus) > 1:  # logical CPU devices: how the strategy is exercised without a GPU
            return tf.distribute.MirroredStrategy([d.name for d in cpus])
        raise DeviceUnavailable(f"strategy 'mirrored' needs GPUs or 2+ logical CPUs; found {len(gpus)} GPU(s), "
                                f"{len(cpus)} CPU device(s)")
    if name == "multi_worker_mirrored":
        if "TF_CONFIG" not in os.environ:
            raise DeviceUnavailable("strategy 'multi_worker_mirrored' needs TF_CONFIG describing the cluster")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as why:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {why}") from why
        return tf.distribute.MultiWorkerMirroredStrategy()
    address = tpu_address or os.environ.get("TPU_NAME") or os.environ.get("DLQOS_TPU_ADDRESS")
    if not address:
        raise DeviceUnavailable("strategy 'tpu' needs a TPU address (--tpu-address, TPU_NAME or DLQOS_TPU_ADDRESS); "
                                f"found {len(gpus)} GPU(s) and no TPU")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
