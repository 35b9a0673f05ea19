"""`dlqos bench devices`: training throughput of each step's real model under each available strategy.

Each (step, strategy) is measured in a fresh Python process (a logical CPU split must precede TensorFlow's
device initialisation) on synthetic data of the model's input shape, so the figures compare devices, not input
pipelines. Results: <output>/bench/devices.json, read by the study report.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import List

MEASURE = r"""
import json, sys, time
import numpy as np
import common, tensorflow as tf, tf_keras as keras
from models.steps import STEPS
from models.strategy import get_strategy
step_name, strategy_name, batch, steps, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
strategy = get_strategy(strategy_name)
global_batch = batch * strategy.num_replicas_in_sync
with strategy.scope():
    model = STEPS[step_name].code().bench_model()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
shape = tuple(100 if d is None else d for d in model.inputs[0].shape[1:])  # sequences: 100 steps
out_shape = tuple(100 if d is None else d for d in model.outputs[0].shape[1:-1])
classes = model.outputs[0].shape[-1]
rng = np.random.default_rng(0)
n = global_batch * 4
x = rng.integers(0, classes, (n,) + shape) if model.inputs[0].dtype.is_integer else rng.random((n,) + shape, dtype=np.float32)
y = rng.integers(0, classes, (n,) + out_shape)
data = tf.data.Dataset.from_tensor_slices(({model.input_names[0]: x}, y)).batch(global_batch).repeat()
model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up: tracing and allocation
seconds = []
for _ in range(epochs):
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds.append(time.perf_counter() - start)
devices = list(strategy.extended.worker_devices)
print(json.dumps({"strategy": strategy_name, "strategy_class": type(strategy).__name__, "devices": ",".join(devices),
                  "replicas": strategy.num_replicas_in_sync, "global_batch": global_batch, "steps_per_epoch": steps,
                  "epoch_seconds": min(seconds), "examples_per_second": steps * global_batch / min(seconds)}))
"""


def available_strategies() -> List[dict]:
    """(strategy, extra environment) pairs this host can run: the CPU, 2 logical CPUs, and GPUs if present."""
    import tensorflow as tf

    candidates = [{"strategy": "cpu", "env": {}}, {"strategy": "mirrored", "env": {"DLQOS_LOGICAL_CPUS": "2"},
                                                    "label": "mirrored (2 logical CPUs)"}]
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        candidates.append({"strategy": "one_device", "env": {}, "label": "one GPU"})
        if len(gpus) > 1:
            candidates.append({"strategy": "mirrored", "env": {}, "label": f"mirrored ({len(gpus)} GPUs)"})
    return candidates


def bench_devices(output_dir: str, steps: List[str], batch: int = 64, steps_per_epoch: int = 20,
                  epochs: int = 3) -> str:
    from models.steps import STEPS

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = []
    for name in steps:
        if not STEPS[name].trains:
            results.append({"step": name, "skipped": "the step has no trainable model"})
            continue
        for candidate in available_strategies():
            env = dict(os.environ, PYTHONPATH=root, **candidate["env"])
            done = subprocess.run([sys.executable, "-c", MEASURE, name, candidate["strategy"],
                                   str(batch), str(steps_per_epoch), str(epochs)],
                                  env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                results.append({"step": name, "strategy": candidate.get("label", candidate["strategy"]),
                                "error": done.stderr.strip().splitlines()[-1][:300]})
                continue
            record = json.loads(done.stdout.strip().splitlines()[-1])
            record["strategy"] = candidate.get("label", candidate["strategy"])
            results.append({"step": name, **record})
            print(f"{name:10s} {record['strategy']:28s} {record['examples_per_second']:10,.0f} examples/s  "
                  f"{record['epoch_seconds']:.3f} s per {steps_per_epoch}-step epoch", flush=True)
    path = os.path.join(output_dir, "bench", "devices.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"batch_per_replica": batch, "results": results}, f, indent=2)
    return path
