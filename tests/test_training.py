"""dlqos.training.input_dataset: raw examples through the Transform graph give exactly the batches that
Transform's materialized output gives."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest
import tensorflow as tf

from dlqos import training
from dlqos.steps import dense
from tests.conftest import write_transform_graph


def _write_gzip(path: str, rows: list) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for features in rows:
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def _examples_artifact(uri: str):
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = '["train"]'
    return examples


def _fn_args(examples, materialize: bool):
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils

    factory = tfxio_utils.get_tf_dataset_factory_from_artifact([examples], [])
    accessor = DataAccessor(tf_dataset_factory=factory, record_batch_factory=None, data_view_decode_fn=None)
    return types.SimpleNamespace(data_accessor=accessor, custom_config={"materialize_transform": materialize})


@pytest.fixture(scope="module")
def transform_data(tmp_path_factory):
    """A real transform graph for the dense step's preprocessing_fn, raw examples and their transformed copy."""
    root = tmp_path_factory.mktemp("transform")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(12, 784))
    labels = np.arange(12) % 10
    raw_spec = {"pixels": tf.io.FixedLenFeature([784], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
    transform_output = write_transform_graph(str(root), dense.preprocessing_fn, raw_spec,
                                             [{"pixels": p, "label": int(l)} for p, l in zip(pixels, labels)])
    int64 = lambda values: tf.train.Feature(int64_list=tf.train.Int64List(value=values))  # noqa: E731
    _write_gzip(str(root / "raw" / "Split-train" / "data.gz"),
                [{"pixels": int64(p), "label": int64([l])} for p, l in zip(pixels, labels)])
    _write_gzip(str(root / "transformed" / "Split-train" / "data.gz"),
                [{"image": tf.train.Feature(float_list=tf.train.FloatList(value=p / 255.0)), "label": int64([l])}
                 for p, l in zip(pixels, labels)])
    return transform_output, root, pixels, labels


@pytest.mark.parametrize("cache", [False, True])
def test_raw_examples_through_the_graph_match_materialized(transform_data, cache):
    transform_output, root, pixels, labels = transform_data
    batches = {}
    for materialize, folder in ((False, "raw"), (True, "transformed")):
        fn_args = _fn_args(_examples_artifact(str(root / folder)), materialize)
        pattern = str(root / folder / "Split-train" / "*")
        dataset = training.input_dataset(fn_args, pattern, transform_output, batch_size=12, seed=3, cache=cache)
        batches[materialize] = next(iter(dataset))
    (raw_features, raw_labels), (materialized_features, materialized_labels) = batches[False], batches[True]
    assert set(raw_features) == set(materialized_features) == {training.IMAGE_KEY}
    order = np.argsort(raw_labels.numpy(), kind="stable")
    materialized_order = np.argsort(materialized_labels.numpy(), kind="stable")
    np.testing.assert_array_equal(raw_labels.numpy()[order], np.sort(labels))
    np.testing.assert_array_equal(raw_labels.numpy()[order], materialized_labels.numpy()[materialized_order])
    np.testing.assert_allclose(raw_features[training.IMAGE_KEY].numpy()[order],
                               materialized_features[training.IMAGE_KEY].numpy()[materialized_order], rtol=1e-6)
    assert raw_features[training.IMAGE_KEY].dtype == tf.float32
    assert float(tf.reduce_max(raw_features[training.IMAGE_KEY])) <= 1.0


def _fit_args(transform_data, **custom):
    """fn_args for training.fit on the fixture's 12 raw examples (train = eval), one step per epoch."""
    transform_output, root, _, _ = transform_data
    fn_args = _fn_args(_examples_artifact(str(root / "raw")), materialize=False)
    pattern = [str(root / "raw" / "Split-train" / "*")]
    config = {"epochs": 2, "batch_size": 12, "learning_rate": 0.01, "strategy": "cpu", "precision": "float32",
              "cache_input": True, "materialize_transform": False, "seed": 1, "model": {}, **custom}
    fn_args.__dict__.update(transform_output=os.path.dirname(transform_output.transform_savedmodel_dir),
                            train_files=pattern, eval_files=pattern, train_steps=2, eval_steps=1,
                            custom_config=config)
    return fn_args


def _fit_dense(fn_args, dropout=None):
    import tf_keras as keras

    return training.fit(fn_args, lambda: dense.build_model(dropout=dropout),
                        loss=keras.losses.SparseCategoricalCrossentropy(),
                        metrics=lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def test_fit_without_optimizer_settings_trains_with_adam_and_records_it(transform_data):
    model, record = _fit_dense(_fit_args(transform_data))
    assert type(model.optimizer).__name__ == "Adam"
    assert record["optimizer"] == {"name": "adam", "class": "Adam", "learning_rate": 0.01, "schedule": "constant",
                                   "clip_norm": None, "weight_decay": None, "weight_decay_kind": None}
    assert (record["l2_penalty"], record["dropout"]) == (None, None) and not model.losses


def test_fit_applies_and_records_the_configured_optimizer_penalty_and_dropout(transform_data):
    from dlqos.config import OptimizerConfig

    settings = OptimizerConfig(name="nesterov", schedule="cosine", weight_decay=1e-4, clip_norm=1.0)
    model, record = _fit_dense(_fit_args(transform_data, optimizer=settings.to_dict(), dropout=0.3), dropout=0.3)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.nesterov
    assert model.optimizer.global_clipnorm == 1.0 and len(model.losses) == 1  # the L2 penalty
    assert record["optimizer"]["name"] == "nesterov" and record["optimizer"]["schedule"] == "cosine"
    assert (record["l2_penalty"], record["dropout"]) == (1e-4, 0.3)
    assert [layer.rate for layer in model.layers if "dropout" in layer.name] == [0.3, 0.3]
    assert len(record["history"]["loss"]) == 2


def test_a_dropout_rate_for_a_model_without_dropout_layers_is_an_error(transform_data):
    from dlqos.errors import ConfigError

    with pytest.raises(ConfigError, match="dropout 0.3 given, but the model 'dense' has no Dropout layer"):
        _fit_dense(_fit_args(transform_data, dropout=0.3), dropout=None)


def test_dropout_sets_every_rate_of_cnn_and_adds_layers_to_dense_only_when_given():
    from dlqos.steps import cnn

    rates = lambda model: [layer.rate for layer in model.layers if "dropout" in layer.name]  # noqa: E731
    assert rates(cnn.build_model()) == [0.25, 0.25, 0.25, 0.5]  # the tutorial's, unchanged by default
    assert rates(cnn.build_model(dropout=0.1)) == [0.1] * 4
    assert rates(dense.build_model()) == [] and rates(dense.build_model(dropout=0.0)) == [0.0, 0.0]
    assert dense.build_model(dropout=0.2).count_params() == dense.build_model().count_params()
