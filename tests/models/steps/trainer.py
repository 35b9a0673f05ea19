"""What TFX's Trainer hands a run_fn, built without a pipeline: a real Transform graph for the dense step's
preprocessing_fn over 12 raw Fashion-like examples (train = eval), and fn_args made the way the Trainer makes
them from a pipeline's TrainingConfig (TrainArgs/EvalArgs steps, custom_config through JSON)."""
from __future__ import annotations

import json
import os
import types

import numpy as np
import pytest
import tensorflow as tf

from data.tfrecords import METADATA_FILE
from common.config import OutputLayout, TrainingConfig
from models.steps import dense, get_step
from tests.helpers import write_transform_graph

NUM_EXAMPLES = 12


def write_gzip(path: str, rows: list) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for features in rows:
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def examples_artifact(uri: str):
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.split_names = '["train"]'
    return examples


def reader_fn_args(examples, custom_config: dict):
    """The part of fn_args that reads examples: the Trainer's data accessor over `examples`."""
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils

    factory = tfxio_utils.get_tf_dataset_factory_from_artifact([examples], [])
    accessor = DataAccessor(tf_dataset_factory=factory, record_batch_factory=None, data_view_decode_fn=None)
    return types.SimpleNamespace(data_accessor=accessor, custom_config=custom_config)


def make_transform_data(root):
    """(transform output, root, pixels, labels): raw examples under root/raw, their transformed copy under
    root/transformed, and a dataset.json beside the raw ones as the data conversion writes it."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(NUM_EXAMPLES, 784))
    labels = np.arange(NUM_EXAMPLES) % 10
    raw_spec = {"pixels": tf.io.FixedLenFeature([784], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
    transform_output = write_transform_graph(str(root), dense.preprocessing_fn, raw_spec,
                                             [{"pixels": p, "label": int(label)} for p, label in zip(pixels, labels)])
    int64 = lambda values: tf.train.Feature(int64_list=tf.train.Int64List(value=values))  # noqa: E731
    write_gzip(str(root / "raw" / "Split-train" / "data.gz"),
               [{"pixels": int64(p), "label": int64([label])} for p, label in zip(pixels, labels)])
    write_gzip(str(root / "transformed" / "Split-train" / "data.gz"),
               [{"image": tf.train.Feature(float_list=tf.train.FloatList(value=p / 255.0)), "label": int64([label])}
                for p, label in zip(pixels, labels)])
    with open(root / "raw" / METADATA_FILE, "w") as f:
        json.dump(data_metadata(), f)
    return transform_output, root, pixels, labels


def data_metadata() -> dict:
    return {"shape": [28, 28, 1], "class_names": [f"class {i}" for i in range(10)],
            "counts": {"train": NUM_EXAMPLES, "eval": NUM_EXAMPLES}}


@pytest.fixture(scope="module")
def transform_data(tmp_path_factory):
    return make_transform_data(tmp_path_factory.mktemp("transform"))


def pipeline_training(transform_data, step: str = "dense", **options) -> TrainingConfig:
    """The TrainingConfig `dlqos run STEP` builds for the fixture's examples with these RunOptions."""
    from dlqos.runs import RunOptions, build_config

    _, root, _, _ = transform_data
    return build_config(get_step(step), RunOptions(**options), OutputLayout(str(root / "out")), str(root / "raw"),
                        data_metadata()).training


def trainer_fn_args(transform_data, training: TrainingConfig, out_dir: str):
    """fn_args as TFX's Trainer builds them for a pipeline with this TrainingConfig: train/eval steps from its
    TrainArgs/EvalArgs (num_steps unset -> None), custom_config through JSON, train = eval = the raw examples."""
    transform_output, root, _, _ = transform_data
    fn_args = reader_fn_args(examples_artifact(str(root / "raw")), json.loads(json.dumps(training.custom_config())))
    pattern = [str(root / "raw" / "Split-train" / "*")]
    fn_args.__dict__.update(transform_output=os.path.dirname(transform_output.transform_savedmodel_dir),
                            train_files=pattern, eval_files=pattern, train_steps=training.train_steps or None,
                            eval_steps=training.eval_steps or None,
                            serving_model_dir=os.path.join(out_dir, "model", "Format-Serving"),
                            model_run_dir=os.path.join(out_dir, "model_run"))
    return fn_args
