"""The cnn pipeline on tiny data in CIFAR-10's own format (python pickle batches, 32x32 RGB): the model adapts to
the stored shape and class count, is blessed and pushed, and its pixel signature takes RGB images."""
import json
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from dlqos import cli, metadata

pytestmark = pytest.mark.e2e


def cifar_like(count: int, seed: int):
    """32x32 RGB images whose class (0..9) is which of 10 horizontal bands is bright red."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count)
    images = rng.integers(0, 60, size=(count, 32, 32, 3)).astype(np.uint8)
    for index, label in enumerate(labels):
        images[index, 3 * label:3 * label + 3, :, 0] = 255
    return images, labels


def write_cifar_batches(directory: str) -> str:
    from data import cifar10

    os.makedirs(directory)
    for number, name in enumerate((*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH)):
        images, labels = cifar_like(100, seed=number)
        batch = {b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), b"labels": labels.tolist()}
        with open(os.path.join(directory, name), "wb") as f:
            pickle.dump(batch, f)
    return directory


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn")
    data = write_cifar_batches(str(root / "cifar-10-batches-py"))
    out = str(root / "out")
    code = cli.main(["run", "cnn", "--dataset", "cifar10", "--data-dir", data, "--output-dir", out,
                     "--epochs", "3", "--batch-size", "32"])
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"code": code, "run": metadata.pipeline_runs(store, "dlqos-cnn")[-1]}


def test_cifar10_format_trains_blesses_and_pushes(run):
    assert run["code"] == cli.EXIT_OK and run["run"].blessed and run["run"].pushed_to
    with open(os.path.join(run["run"].nodes["Trainer"].output("model").uri, "training.json")) as f:
        record = json.load(f)
    # conv 896 for 3 input channels (not 320 for Fashion-MNIST's 1); dense 8*8*64*128 + 128 at 32x32 input
    assert record["parameters"]["total"] == 896 + 18496 + 36928 + 524416 + 1290


def test_pushed_model_takes_rgb_pixels(run):
    loaded = tf.saved_model.load(run["run"].pushed_to)
    images, labels = cifar_like(40, seed=11)
    outputs = loaded.signatures["serving_pixels"](pixels=tf.constant(images, tf.float32))
    assert outputs["probabilities"].shape == (40, 10)
    assert np.mean(outputs["class_id"].numpy() == labels) > 0.7
