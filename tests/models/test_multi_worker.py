"""The Trainer under multi_worker_mirrored for real: two worker processes on 127.0.0.1 joined by TF_CONFIG, each
running the dense step's run_fn on the same Transform output, training in sync; only the chief exports."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.models.steps.trainer import NUM_EXAMPLES
from tests.helpers import ROOT


pytestmark = pytest.mark.workers
EPOCHS = 2
BATCH_PER_REPLICA = 2
WORKERS = 2
STEPS_PER_EPOCH = -(-NUM_EXAMPLES // (BATCH_PER_REPLICA * WORKERS))  # 12 examples, global batch 4: 3
WORKER_TIMEOUT_S = 240  # a worker whose peer died waits for it; bounded, then both are killed


def run_worker(root: str, out_dir: str) -> None:
    """One worker (TF_CONFIG set by the caller): prints the labels of its share of the first global batches,
    then runs the dense step's run_fn as TFX's Trainer calls it, under the same strategy (TensorFlow configures
    collective ops once, at startup: nothing here may run TensorFlow before the strategy exists)."""
    import pathlib

    import tensorflow_transform as tft

    from models import training
    from models.steps import dense
    from tests.models.steps.trainer import pipeline_training, trainer_fn_args

    strategy = training.get_strategy("multi_worker_mirrored")
    training.get_strategy = lambda name: strategy
    data = (tft.TFTransformOutput(str(pathlib.Path(root) / "graph")), pathlib.Path(root), None, None)
    config = pipeline_training(data, epochs=EPOCHS, batch_size=BATCH_PER_REPLICA, strategy="multi_worker_mirrored")
    fn_args = trainer_fn_args(data, config, out_dir)
    batches = iter(strategy.experimental_distribute_dataset(training.input_dataset(
        fn_args, fn_args.train_files, data[0], BATCH_PER_REPLICA * WORKERS, config.seed)))
    for _ in range(STEPS_PER_EPOCH):
        labels = [t.numpy().tolist() for t in strategy.experimental_local_results(next(batches)[1])]
        print("SHARE", json.dumps(labels), flush=True)
    dense.run_fn(fn_args)


def free_ports(count: int) -> list:
    """Ports the kernel hands out now (bound together, so distinct), released for the workers' servers."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_workers(root: str, tmp_path) -> list:
    """(process, out dir, temp dir) per worker: its own output and TMPDIR, so what each left is visible."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(WORKERS)]}
    script = "import sys; from tests.models.test_multi_worker import run_worker; run_worker(sys.argv[1], sys.argv[2])"
    workers = []
    for index in range(WORKERS):
        out_dir = tmp_path / f"out{index}"
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        env = {**os.environ, "PYTHONPATH": ROOT, "TMPDIR": str(scratch), "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        env.pop("DLQOS_LOGICAL_CPUS", None)
        process = subprocess.Popen([sys.executable, "-c", script, root, str(out_dir)], env=env, cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        workers.append((process, out_dir, scratch))
    return workers


def wait_for(workers: list) -> list:
    """Each worker's (exit code, output); on a timeout every worker is killed and the test fails with logs."""
    results = []
    try:
        for process, _, _ in workers:
            output, _ = process.communicate(timeout=WORKER_TIMEOUT_S)
            results.append((process.returncode, output))
    finally:
        for process, _, _ in workers:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results


def epoch_metrics(output: str, steps: int) -> list:
    """Keras' verbose=2 line per finished epoch ("3/3 - 4s - loss: ... val_accuracy: 0.5000 - ..."), timings
    dropped: a worker prints it only after taking all `steps` steps of the epoch."""
    return re.findall(rf"^{steps}/{steps} - \S+ - (loss: .*? val_accuracy: [\d.]+)", output, re.MULTILINE)


def test_two_workers_train_in_sync_and_only_the_chief_exports(transform_data, tmp_path):
    import tensorflow as tf

    _, root, pixels, labels = transform_data
    workers = start_workers(str(root), tmp_path)
    results = wait_for(workers)
    for index, (code, output) in enumerate(results):
        assert code == 0, f"worker {index} exited {code}:\n{output[-4000:]}"
    shares = [[json.loads(line) for line in re.findall(r"^SHARE (.*)$", output, re.MULTILINE)]
              for _, output in results]
    for worker_shares in shares:  # one replica per worker, holding its half of each global batch
        assert [len(replica) for share in worker_shares for replica in share] == [BATCH_PER_REPLICA] * STEPS_PER_EPOCH
    seen = sorted(label for worker_shares in shares for share in worker_shares for label in share[0])
    assert seen == sorted(labels.tolist())  # the halves are disjoint: together one pass over the examples
    metrics = [epoch_metrics(output, STEPS_PER_EPOCH) for _, output in results]
    for index, (_, output) in enumerate(results):  # each worker took every step of both epochs
        assert len(metrics[index]) == EPOCHS, f"worker {index}:\n{output[-4000:]}"
    assert metrics[0] == metrics[1]  # in sync: the same all-reduced loss and accuracy every epoch

    chief_model = workers[0][1] / "model"
    record = json.loads((chief_model / "training.json").read_text())
    assert (record["strategy"], record["strategy_class"], record["replicas"]) == (
        "multi_worker_mirrored", tf.distribute.MultiWorkerMirroredStrategy.__name__, WORKERS)
    assert (record["train_steps"], record["steps_per_epoch"], record["global_batch_size"]) == (
        EPOCHS * STEPS_PER_EPOCH, STEPS_PER_EPOCH, BATCH_PER_REPLICA * WORKERS)
    served = tf.saved_model.load(str(chief_model / "Format-Serving")).signatures["serving_pixels"](
        pixels=tf.constant(pixels[:3].reshape(3, 28, 28), tf.float32))
    probabilities = served["probabilities"].numpy()
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

    _, other_out, other_tmp = workers[1]  # the non-chief saved (collectively) to a temporary directory only
    assert not (other_out / "model").exists()
    assert not list(other_tmp.glob("dlqos-worker-export-*")), "the non-chief's temporary export was not removed"

