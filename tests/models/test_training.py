"""models.training: raw examples through the Transform graph give exactly the batches that Transform's materialized
output gives; fit takes the steps, optimizer and dropout that the pipeline's TrainingConfig says."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models import training
from models.steps import dense
from tests.helpers import ROOT
from tests.models.steps.trainer import (examples_artifact as _examples_artifact, pipeline_training, reader_fn_args,
                                 trainer_fn_args)


def _fn_args(examples):
    return reader_fn_args(examples, {})


@pytest.mark.parametrize("cache", [False, True])
def test_raw_examples_through_the_graph_match_materialized(transform_data, cache):
    transform_output, root, pixels, labels = transform_data
    batches = {}
    for materialize, folder in ((False, "raw"), (True, "transformed")):
        fn_args = _fn_args(_examples_artifact(str(root / folder)))
        pattern = str(root / folder / "Split-train" / "*")
        dataset = training.input_dataset(fn_args, pattern, transform_output, batch_size=12, seed=3, cache=cache,
                                         materialized=materialize)
        batches[materialize] = next(iter(dataset))
    raw_features, raw_labels = batches[False]
    materialized_features, materialized_labels = batches[True]
    assert set(raw_features) == set(materialized_features) == {training.IMAGE_KEY}
    order = np.argsort(raw_labels.numpy(), kind="stable")
    materialized_order = np.argsort(materialized_labels.numpy(), kind="stable")
    np.testing.assert_array_equal(raw_labels.numpy()[order], np.sort(labels))
    np.testing.assert_array_equal(raw_labels.numpy()[order], materialized_labels.numpy()[materialized_order])
    np.testing.assert_allclose(raw_features[training.IMAGE_KEY].numpy()[order],
                               materialized_features[training.IMAGE_KEY].numpy()[materialized_order], rtol=1e-6)
    assert raw_features[training.IMAGE_KEY].dtype == tf.float32
    assert float(tf.reduce_max(raw_features[training.IMAGE_KEY])) <= 1.0


def _fit_args(transform_data, tmp_path, **settings):
    """fn_args for training.fit on the fixture's 12 raw examples (train = eval): 2 epochs of one step each."""
    from common.config import OptimizerConfig, TrainingConfig

    settings = {"optimizer": OptimizerConfig(), **settings}
    config = TrainingConfig(epochs=2, train_steps=2, eval_steps=1, batch_size=12, learning_rate=0.01, strategy="cpu",
                            seed=1, **settings)
    return trainer_fn_args(transform_data, config, str(tmp_path))


def _fit_dense(fn_args, dropout=None):
    import tf_keras as keras

    return training.fit(fn_args, lambda: dense.build_model(dropout=dropout),
                        loss=keras.losses.SparseCategoricalCrossentropy(),
                        metrics=lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def test_fit_without_optimizer_settings_trains_with_adam_and_records_it(transform_data, tmp_path):
    model, record = _fit_dense(_fit_args(transform_data, tmp_path))
    assert type(model.optimizer).__name__ == "Adam"
    assert record["optimizer"] == {"name": "adam", "class": "Adam", "learning_rate": 0.01, "schedule": "constant",
                                   "clip_norm": None, "weight_decay": None, "weight_decay_kind": None}
    assert (record["l2_penalty"], record["dropout"]) == (None, None) and not model.losses


def test_fit_applies_and_records_the_configured_optimizer_penalty_and_dropout(transform_data, tmp_path):
    from common.config import OptimizerConfig

    settings = OptimizerConfig(name="nesterov", schedule="cosine", weight_decay=1e-4, clip_norm=1.0)
    model, record = _fit_dense(_fit_args(transform_data, tmp_path, optimizer=settings, dropout=0.3), dropout=0.3)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.nesterov
    assert model.optimizer.global_clipnorm == 1.0 and len(model.losses) == 1  # the L2 penalty
    assert record["optimizer"]["name"] == "nesterov" and record["optimizer"]["schedule"] == "cosine"
    assert (record["l2_penalty"], record["dropout"]) == (1e-4, 0.3)
    assert [layer.rate for layer in model.layers if "dropout" in layer.name] == [0.3, 0.3]
    assert len(record["history"]["loss"]) == 2


def test_a_dropout_rate_for_a_model_without_dropout_layers_is_an_error(transform_data, tmp_path):
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match="dropout 0.3 given, but the model 'dense' has no Dropout layer"):
        _fit_dense(_fit_args(transform_data, tmp_path, dropout=0.3), dropout=None)


def test_dropout_sets_every_rate_of_cnn_and_adds_layers_to_dense_only_when_given():
    from models.steps import cnn

    rates = lambda model: [layer.rate for layer in model.layers if "dropout" in layer.name]  # noqa: E731
    assert rates(cnn.build_model()) == [0.25, 0.25, 0.25, 0.5]  # the tutorial's, unchanged by default
    assert rates(cnn.build_model(dropout=0.1)) == [0.1] * 4
    assert rates(dense.build_model()) == [] and rates(dense.build_model(dropout=0.0)) == [0.0, 0.0]
    assert dense.build_model(dropout=0.2).count_params() == dense.build_model().count_params()


def test_train_steps_is_the_number_of_optimizer_steps_taken(transform_data, tmp_path):
    """--train-steps 5 with 2 epochs trains 5 steps (3 + 2), not 5 // 2 * 2 = 4."""
    config = pipeline_training(transform_data, train_steps=5, epochs=2, batch_size=4, strategy="cpu")
    model, record = _fit_dense(trainer_fn_args(transform_data, config, str(tmp_path)))
    assert int(model.optimizer.iterations) == 5
    assert (record["steps_per_epoch"], record["epochs"], len(record["history"]["loss"])) == (3, 2, 2)


def test_each_epoch_is_one_pass_over_the_examples(transform_data, tmp_path):
    """Without --train-steps, the steps come from the example count in dataset.json: 12 examples, batch 4."""
    config = pipeline_training(transform_data, epochs=2, batch_size=4, strategy="cpu")
    model, record = _fit_dense(trainer_fn_args(transform_data, config, str(tmp_path)))
    assert int(model.optimizer.iterations) == 2 * 3
    assert record["steps_per_epoch"] * record["global_batch_size"] == 12


def mirrored_epoch(root: str, out_dir: str) -> dict:
    """In a fresh process with DLQOS_LOGICAL_CPUS=2: one epoch of dense under `mirrored`, batch 3 per replica."""
    import pathlib

    from models.strategy import check_strategy
    from tests.models.steps.trainer import make_transform_data

    check_strategy("mirrored")  # splits the CPU before TensorFlow initialises its devices
    data = make_transform_data(pathlib.Path(root))
    config = pipeline_training(data, epochs=1, batch_size=3, strategy="mirrored")
    model, record = _fit_dense(trainer_fn_args(data, config, out_dir))
    return {"iterations": int(model.optimizer.iterations.numpy()), **{key: record[key] for key in (
        "replicas", "steps_per_epoch", "global_batch_size")}}


@pytest.mark.slow
def test_a_mirrored_epoch_is_one_pass_over_the_examples(tmp_path):
    """The batch size is per replica; an epoch's steps come from the global batch (3 x 2 replicas): 12 examples
    are 2 steps, not 4 (two passes)."""
    script = ("import json, sys; from tests.models.test_training import mirrored_epoch; "
              "print('RESULT', json.dumps(mirrored_epoch(sys.argv[1], sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data"), str(tmp_path / "out")],
                          env={**os.environ, "DLQOS_LOGICAL_CPUS": "2"}, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result == {"iterations": 2, "replicas": 2, "steps_per_epoch": 2, "global_batch_size": 6}
