import json

import pytest
import tensorflow as tf

from common.errors import ConfigError
from models.strategy import DeviceUnavailable, get_strategy
from tests.helpers import ROOT


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


TWO_WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


@pytest.mark.parametrize("tf_config, message", [
    ([], "needs a 'cluster'"),
    ({"task": {"type": "worker", "index": 0}}, "needs a 'cluster'"),
    ({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}, "needs a 'cluster'"),
    ({"cluster": TWO_WORKERS}, "'task' must name a job"),
    ({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 2}}, "'task' must name a job"),
    ({"cluster": TWO_WORKERS, "task": {"type": "ps", "index": 0}}, "'task' must name a job"),
])
def test_multi_worker_tf_config_is_checked_before_any_work(monkeypatch, tf_config, message):
    """Checked by check_strategy (the CLI's pre-flight), never left to the strategy: a task outside its cluster
    would wait forever for peers."""
    from models.strategy import check_strategy

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    with pytest.raises(ConfigError, match=message):
        check_strategy("multi_worker_mirrored")


@pytest.mark.parametrize("cluster, task, chief", [
    (TWO_WORKERS, {"type": "worker", "index": 0}, True),
    (TWO_WORKERS, {"type": "worker", "index": 1}, False),
    ({"chief": ["127.0.0.1:3"], **TWO_WORKERS}, {"type": "worker", "index": 0}, False),
    ({"chief": ["127.0.0.1:3"], **TWO_WORKERS}, {"type": "chief", "index": 0}, True),
])
def test_only_the_chief_writes_under_multi_worker(monkeypatch, cluster, task, chief):
    from models.strategy import is_chief

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert is_chief("multi_worker_mirrored") is chief
    assert is_chief("cpu")  # one process: TF_CONFIG describes no peers of its


def test_multi_worker_without_tf_config_is_one_line_exit_2_before_any_work(monkeypatch, tmp_path, capsys):
    from dlqos import cli, runs

    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(runs, "run_step", lambda *args: pytest.fail("a pipeline ran"))
    assert cli.main(["run", "dense", "--strategy", "multi_worker_mirrored", "--output-dir", str(tmp_path)]) == \
        cli.EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert "needs TF_CONFIG describing the cluster" in error and len(error.splitlines()) == 1


LATE_MULTI_WORKER_SCRIPT = """
import tensorflow as tf
from common.errors import ConfigError
from models.strategy import get_strategy
tf.constant(1) + 1  # TensorFlow's runtime starts, as after ExampleGen/Transform in one process
try:
    get_strategy("multi_worker_mirrored")
except ConfigError as error:
    print("ERROR", error)
"""


def test_multi_worker_after_other_tensorflow_work_is_one_clear_error():
    """TensorFlow configures collective ops only at startup; a Trainer sharing its process with earlier TF work
    gets that said in one line (in a fresh process: the pytest one has started TensorFlow long ago)."""
    import os
    import subprocess
    import sys

    root = ROOT
    tf_config = json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}})
    done = subprocess.run([sys.executable, "-c", LATE_MULTI_WORKER_SCRIPT], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root, TF_CONFIG=tf_config), timeout=120)
    assert "ERROR strategy 'multi_worker_mirrored' must be created before any other TensorFlow work" in done.stdout, \
        done.stderr[-3000:]


def test_tpu_needs_an_address(monkeypatch):
    for name in ("TPU_NAME", "DLQOS_TPU_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DeviceUnavailable, match="set TPU_NAME .* or DLQOS_TPU_ADDRESS"):
        get_strategy("tpu")


def test_tpu_fake_address_fails_fast_with_a_clear_error():
    import time

    start = time.monotonic()
    with pytest.raises(DeviceUnavailable, match=r"TPU at grpc://127.0.0.1:1 is not reachable"):
        get_strategy("tpu", tpu_address="grpc://127.0.0.1:1")
    assert time.monotonic() - start < 30  # bounded: never the indefinite hang of an unreachable TPU


MIRRORED_SCRIPT = """
import os, sys, numpy as np
import common, tensorflow as tf, tf_keras as keras
from models.strategy import get_strategy
from models.steps import dense
strategy = get_strategy("mirrored")
print("replicas", strategy.num_replicas_in_sync, type(strategy).__name__)
with strategy.scope():
    model = dense.build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
rng = np.random.default_rng(0)
labels = rng.integers(0, 10, 512)
images = np.zeros((512, 784), np.float32)
for i, label in enumerate(labels):
    images[i, label * 78:(label + 1) * 78] = 1.0
data = tf.data.Dataset.from_tensor_slices(({"image": images}, labels)).batch(64).repeat()
history = model.fit(data, epochs=2, steps_per_epoch=8, verbose=0)
module = tf.Module()
module.model = model
@tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="image")])
def serve(image):
    return {"probabilities": module.model({"image": image})}
tf.saved_model.save(module, sys.argv[1], signatures={"serving_default": serve.get_concrete_function()})
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["serving_default"](image=tf.constant(images[:32]))["probabilities"].numpy()
print("served", out.shape, float(np.mean(out.argmax(1) == labels[:32])))
"""


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_trains_and_serves(tmp_path):
    import os
    import subprocess
    import sys

    root = ROOT
    env = dict(os.environ, DLQOS_LOGICAL_CPUS="2", PYTHONPATH=root)
    done = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path / "model")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert lines["replicas"] == "2 MirroredStrategy"
    shape, accuracy = lines["served"].rsplit(" ", 1)
    assert shape == "(32, 10)" and float(accuracy) > 0.5


def test_precision_auto_is_float32_on_cpu_and_unknown_is_a_config_error():
    import tensorflow as tf

    from common.errors import ConfigError
    from models.strategy import resolve_precision

    cpu = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert resolve_precision("auto", cpu) == "float32"
    assert resolve_precision("mixed_bfloat16", cpu) == "mixed_bfloat16"
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("float8", cpu)


def test_mixed_policy_builds_low_precision_layers_with_float32_outputs_and_is_restored():
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from models.steps import cnn
    from models.strategy import precision_policy

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope(), precision_policy("mixed_bfloat16", strategy) as name:
        model = cnn.build_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert name == "mixed_bfloat16" and keras.mixed_precision.global_policy().name == "float32"
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    y = np.arange(64) % 10
    history = model.fit({"image": x}, y, epochs=2, batch_size=32, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    assert model.predict({"image": x[:2]}, verbose=0).dtype == np.float32


def test_mirrored_on_one_cpu_is_refused_before_any_work_naming_dlqos_logical_cpus(monkeypatch, tmp_path, capsys):
    from dlqos import cli, runs

    if tf.config.list_logical_devices("GPU") or len(tf.config.list_logical_devices("CPU")) > 1:
        pytest.skip("this host has devices for mirrored")  # not counted as a pass
    monkeypatch.delenv("DLQOS_LOGICAL_CPUS", raising=False)
    monkeypatch.setattr(runs, "run_step", lambda *args: pytest.fail("a pipeline ran"))
    assert cli.main(["run", "dense", "--strategy", "mirrored", "--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert "set DLQOS_LOGICAL_CPUS=2" in capsys.readouterr().err


def test_logical_cpus_must_be_a_count(monkeypatch):
    from models.strategy import check_strategy

    monkeypatch.setenv("DLQOS_LOGICAL_CPUS", "two")
    with pytest.raises(ConfigError, match="DLQOS_LOGICAL_CPUS must be a number of CPU devices >= 1, got 'two'"):
        check_strategy("auto")
