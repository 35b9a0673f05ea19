import pytest
import tensorflow as tf

from dlqos.errors import ConfigError
from dlqos.strategy import DeviceUnavailable, get_strategy


def test_cpu_and_auto_are_one_device_here():
    assert isinstance(get_strategy("cpu"), tf.distribute.OneDeviceStrategy)
    if not tf.config.list_logical_devices("GPU"):
        assert isinstance(get_strategy("auto"), tf.distribute.OneDeviceStrategy)


def test_unknown_strategy():
    with pytest.raises(ConfigError, match="unknown strategy 'gpu'"):
        get_strategy("gpu")


def test_mirrored_without_devices_says_what_it_found():
    if tf.config.list_logical_devices("GPU") or len(tf.config.list_logical_devices("CPU")) > 1:
        pytest.skip("this host has devices for mirrored")  # not counted as a pass
    with pytest.raises(DeviceUnavailable, match=r"found 0 GPU\(s\), 1 CPU device"):
        get_strategy("mirrored")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DeviceUnavailable, match="TF_CONFIG"):
        get_strategy("multi_worker_mirrored")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        get_strategy("multi_worker_mirrored")


def test_tpu_needs_an_address(monkeypatch):
    for name in ("TPU_NAME", "DLQOS_TPU_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DeviceUnavailable, match="needs a TPU address"):
        get_strategy("tpu")
