"""The dense pipeline end to end on tiny data, three runs into one store: assertions on ML Metadata,
blessing, the pushed TF Serving layout and the pushed model's signatures."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dlqos import cli, metadata
from tests.conftest import fashion_like_arrays, write_fashion_like_dir

pytestmark = pytest.mark.e2e

COMPONENTS = {"ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
              "Evaluator", "Pusher"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Run 1 and 2: a good model (2 epochs); run 3: crippled (a single training step)."""
    root = tmp_path_factory.mktemp("dense")
    data = write_fashion_like_dir(str(root / "data"), n_train=600, n_eval=200)
    out = str(root / "out")
    args = ["run", "dense", "--data-dir", data, "--output-dir", out, "--epochs", "2", "--batch-size", "32"]
    codes = [cli.main(args), cli.main(args), cli.main(args + ["--train-steps", "1", "--epochs", "1"])]
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"out": out, "codes": codes, "runs": metadata.pipeline_runs(store, "dlqos-dense")}


def test_exit_codes(study):
    assert study["codes"] == [cli.EXIT_OK, cli.EXIT_OK, cli.EXIT_NOT_BLESSED]


def test_every_component_executed_in_every_run(study):
    assert len(study["runs"]) == 3
    for run in study["runs"]:
        assert COMPONENTS <= set(run.nodes)
        assert {run.nodes[c].state for c in COMPONENTS} == {"COMPLETE"}


def test_second_run_resolves_first_model_as_baseline(study):
    first, second, third = study["runs"]
    assert not first.nodes["Evaluator"].inputs.get("baseline_model")
    first_model = first.nodes["Trainer"].output("model").uri
    assert second.nodes["Evaluator"].inputs["baseline_model"][0].uri == first_model
    # the third run compares against the latest blessed model: the second run's
    assert third.nodes["Evaluator"].inputs["baseline_model"][0].uri == second.nodes["Trainer"].output("model").uri


def test_blessing_and_pushes(study):
    first, second, third = study["runs"]
    assert first.blessed and second.blessed and third.blessed is False
    assert first.pushed_to and second.pushed_to and third.pushed_to is None
    serving = os.path.join(study["out"], "serving", "dense")
    versions = sorted(os.listdir(serving))
    assert [os.path.join(serving, v) for v in versions] == [first.pushed_to, second.pushed_to]
    for version in versions:
        assert version.isdigit()
        assert {"saved_model.pb", "variables"} <= set(os.listdir(os.path.join(serving, version)))


def test_crippled_model_fails_the_gate(study):
    third = study["runs"][2]
    evaluation = third.nodes["Evaluator"].output("evaluation").uri
    import tensorflow_model_analysis as tfma

    validation = tfma.load_validation_result(evaluation)
    assert not validation.validation_ok
    failed = {f.metric_key.name for s in validation.metric_validations_per_slice for f in s.failures}
    assert "sparse_categorical_accuracy" in failed


def test_training_record_has_per_epoch_history(study):
    model_dir = study["runs"][0].nodes["Trainer"].output("model").uri
    with open(os.path.join(model_dir, "training.json")) as f:
        record = json.load(f)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(record["history"][key]) == 2
    assert len(record["epoch_seconds"]) == 2 and record["parameters"]["total"] == 235146
    assert record["history"]["loss"][1] < record["history"]["loss"][0]


def test_pushed_model_answers_both_signatures(study):
    loaded = tf.saved_model.load(study["runs"][1].pushed_to)
    images, labels = fashion_like_arrays(16, seed=3)
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=image.reshape(-1).tolist()))}))
        .SerializeToString() for image in images]
    by_example = loaded.signatures["serving_default"](examples=tf.constant(examples))
    by_pixels = loaded.signatures["serving_pixels"](pixels=tf.constant(images, tf.float32))
    assert by_example["probabilities"].shape == (16, 10) and by_example["class_id"].shape == (16,)
    np.testing.assert_allclose(by_example["probabilities"], by_pixels["probabilities"], atol=1e-6)
    accuracy = float(np.mean(by_pixels["class_id"].numpy() == labels))
    assert accuracy >= 0.8, accuracy
