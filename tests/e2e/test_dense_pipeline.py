"""The dense pipeline end to end on tiny data, three runs into one store: assertions on ML Metadata,
blessing, the pushed TF Serving layout and the pushed model's signatures."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dlqos import cli
from tests.helpers import fashion_like_arrays

pytestmark = pytest.mark.e2e

DATA_HALF = {"ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform"}
TAIL = {"Trainer", "Evaluator", "Pusher"}


def test_exit_codes(dense_study):
    assert dense_study["codes"] == [cli.EXIT_OK, cli.EXIT_OK, cli.EXIT_NOT_BLESSED]


def test_the_data_half_runs_once_and_comes_from_the_cache_while_data_and_code_are_unchanged(dense_study):
    """Runs 2 and 3 read the same files with the same code (run 3 changes only training settings): their data
    half is CACHED in ML Metadata, with the first run's artifacts; the Trainer and what follows run every time."""
    first, *later = dense_study["runs"]
    assert len(later) == 2
    assert {first.nodes[c].state for c in DATA_HALF | TAIL} == {"COMPLETE"}
    for run in later:
        assert {c: run.nodes[c].state for c in DATA_HALF} == dict.fromkeys(DATA_HALF, "CACHED")
        assert {c: run.nodes[c].state for c in TAIL} == dict.fromkeys(TAIL, "COMPLETE")
        assert run.nodes["Transform"].output("transform_graph").uri == \
            first.nodes["Transform"].output("transform_graph").uri
        assert run.nodes["Trainer"].output("model").uri != first.nodes["Trainer"].output("model").uri


def test_second_run_resolves_first_model_as_baseline(dense_study):
    first, second, third = dense_study["runs"]
    assert not first.nodes["Evaluator"].inputs.get("baseline_model")
    first_model = first.nodes["Trainer"].output("model").uri
    assert second.nodes["Evaluator"].inputs["baseline_model"][0].uri == first_model
    # the third run compares against the latest blessed model: the second run's
    assert third.nodes["Evaluator"].inputs["baseline_model"][0].uri == second.nodes["Trainer"].output("model").uri


def test_blessing_and_pushes(dense_study):
    first, second, third = dense_study["runs"]
    assert first.blessed and second.blessed and third.blessed is False
    assert first.pushed_to and second.pushed_to and third.pushed_to is None
    serving = os.path.join(dense_study["out"], "serving", "dense")
    versions = sorted(os.listdir(serving))
    assert [os.path.join(serving, v) for v in versions] == [first.pushed_to, second.pushed_to]
    for version in versions:
        assert version.isdigit()
        assert {"saved_model.pb", "variables"} <= set(os.listdir(os.path.join(serving, version)))
        assert os.path.getsize(os.path.join(serving, version, "assets.extra", "tf_serving_warmup_requests")) > 0


def test_crippled_model_fails_the_gate(dense_study):
    third = dense_study["runs"][2]
    evaluation = third.nodes["Evaluator"].output("evaluation").uri
    import tensorflow_model_analysis as tfma

    validation = tfma.load_validation_result(evaluation)
    assert not validation.validation_ok
    failed = {f.metric_key.name for s in validation.metric_validations_per_slice for f in s.failures}
    assert "sparse_categorical_accuracy" in failed


def test_training_record_has_per_epoch_history(dense_study):
    model_dir = dense_study["runs"][0].nodes["Trainer"].output("model").uri
    with open(os.path.join(model_dir, "training.json")) as f:
        record = json.load(f)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(record["history"][key]) == 2
    assert len(record["epoch_seconds"]) == 2 and record["parameters"]["total"] == 235146
    assert record["history"]["loss"][1] < record["history"]["loss"][0]


def test_pushed_model_answers_both_signatures(dense_study):
    loaded = tf.saved_model.load(dense_study["runs"][1].pushed_to)
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


def test_classify_api_over_rest_and_grpc(dense_study):
    """The pushed classifier's `classify` signature (method name tensorflow/serving/classify) through TF Serving's
    Classify API on the stand-in: class names with the same scores as Predict; a predict signature is refused."""
    from data.fashion_mnist import CLASS_NAMES
    from serving.client import GrpcClient, RestClient, ServingClientError
    from serving.config import models_config
    from serving.standin import StandIn

    pushed = dense_study["runs"][1].pushed_to
    server = StandIn(models_config(os.path.dirname(os.path.dirname(pushed))), rest_port=0, grpc_port=0,
                     poll_seconds=3600).start()
    try:
        images, _ = fashion_like_arrays(3, seed=21)
        pixels = images.reshape(3, -1).astype(int).tolist()
        over_rest = RestClient(f"http://127.0.0.1:{server.rest_port}").classify("dense", [{"pixels": p} for p in pixels])
        examples = [tf.train.Example(features=tf.train.Features(feature={
            "pixels": tf.train.Feature(int64_list=tf.train.Int64List(value=p))})) for p in pixels]
        grpc_client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
        over_grpc = grpc_client.classify("dense", examples)
        with pytest.raises(ServingClientError, match="method_name"):
            RestClient(f"http://127.0.0.1:{server.rest_port}").classify("dense", [{"pixels": pixels[0]}],
                                                                        signature="serving_default")
        with pytest.raises(ServingClientError, match="INVALID_ARGUMENT.*method_name"):
            grpc_client.classify("dense", examples, signature="serving_default")
    finally:
        server.stop()
    predicted = tf.saved_model.load(pushed).signatures["serving_default"](
        examples=tf.constant([e.SerializeToString() for e in examples]))["probabilities"].numpy()
    for rest_row, grpc_row, probabilities in zip(over_rest, over_grpc, predicted):
        assert [name for name, _ in rest_row] == [name for name, _ in grpc_row] == list(CLASS_NAMES)
        np.testing.assert_allclose([score for _, score in rest_row], probabilities, rtol=1e-5)
        np.testing.assert_allclose([score for _, score in grpc_row], probabilities, rtol=1e-5)
