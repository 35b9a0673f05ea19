"""Trainer-side machinery every step shares: reading Transform output, fitting under a distribution
strategy while recording the per-epoch history, and exporting TF Serving signatures.

Models are tf_keras (Keras 2): Transform's layer and TFMA speak it. The export is a plain tf.Module holding the
model and the Transform layer (attached so its tables are initialised in serving).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Callable, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

from common.config import OptimizerConfig, StepPlan, TrainingConfig, TuningConfig
from common.environment import environment
from common.errors import ConfigError
from models.optimizers import add_l2_penalty, build_optimizer, describe
from models.steps import get_step
from models.strategy import get_strategy, is_chief, precision_policy
from models.tuning import apply_hyperparameters, default_values, search_space
from serving.wire import CLASSIFY_METHOD

TRAINING_RECORD = "training.json"  # written beside Format-Serving in the Trainer's model artifact
LABEL_KEY = "label"
IMAGE_KEY = "image"  # the transformed, scaled pixels the models read


def input_dataset(fn_args, file_pattern, tf_transform_output: tft.TFTransformOutput, batch_size: int,
                  seed: int, label_key: str = LABEL_KEY, cache: bool = False,
                  materialized: bool = False) -> tf.data.Dataset:
    """(features, label) batches of transformed examples, repeated forever, shuffled with a fixed seed.

    The files are raw examples that the Transform graph is applied to here (the pipeline's default), or
    Transform's materialized output when `materialized` (TrainingConfig.materialize_transform).
    cache: read, parse and transform the GZIP TFRecords once, then serve later epochs from memory (batches
    reshuffled each epoch). The study's datasets fit in memory; parsing every epoch made the Trainer ~2x slower
    than Keras fed from arrays (docs/benchmarks.md).
    Under multi_worker_mirrored each worker keeps its share of every global batch (auto-shard DATA: the same
    seeded order on every worker, split by rebatching), so a split with fewer files than workers still trains.
    """
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=label_key if materialized else None,
                                             shuffle_seed=seed, num_epochs=1 if cache else None)
    if materialized:
        dataset = fn_args.data_accessor.tf_dataset_factory(file_pattern, options,
                                                           tf_transform_output.transformed_metadata.schema)
    else:
        transform = tf_transform_output.transform_features_layer()

        def transform_and_split(raw):
            features = transform(raw)
            return features, features.pop(label_key)

        dataset = fn_args.data_accessor.tf_dataset_factory(
            file_pattern, options, tf_transform_output.raw_metadata.schema).map(
            transform_and_split, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache().shuffle(256, seed=seed, reshuffle_each_iteration=True).repeat()
    sharding = tf.data.Options()
    sharding.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(sharding)


def trainer_config(fn_args) -> TrainingConfig:
    """The pipeline's TrainingConfig, rebuilt from the Trainer's custom_config (an unknown key is an error). Its
    data facts are the dataset.json the ExampleGen wrote inside the Examples artifact the Trainer reads, unless
    the config names a file (ImportExampleGen's TFRecords with their dataset.json beside them)."""
    config = TrainingConfig.from_dict(fn_args.custom_config)
    tuned = tuned_values(fn_args)
    if tuned is not None:
        config = apply_hyperparameters(config, tuned)
    files = getattr(fn_args, "train_files", None)  # FnArgs leaves it None where a Trainer has no examples
    if config.data_metadata or not files:
        return config
    facts = os.path.join(os.path.dirname(os.path.dirname(files[0])), "dataset.json")  # files: <uri>/Split-train/*
    return dataclasses.replace(config, data_metadata=facts) if tf.io.gfile.exists(facts) else config


def tuned_values(fn_args) -> Optional[dict]:
    """The Tuner's best hyper-parameter values the Trainer received (its `hyperparameters` input), or None."""
    hyperparameters = getattr(fn_args, "hyperparameters", None)
    return dict(hyperparameters["values"]) if hyperparameters else None


def data_facts(config: TrainingConfig) -> dict:
    """The dataset.json beside the examples (config.data_metadata), {} where none is named."""
    if not config.data_metadata:
        return {}
    with tf.io.gfile.GFile(config.data_metadata) as f:
        return json.load(f)


def data_params(config: TrainingConfig) -> dict:
    """What the model must know about its data, read from the dataset.json beside the examples: an image
    dataset's stored shape and class count, a text dataset's character vocabulary. (The model's
    hyper-parameters are the step's ModelConfig, rebuilt from config.model.)"""
    metadata = data_facts(config)
    data = {}
    if "vocabulary" in metadata:
        data["vocabulary"] = metadata["vocabulary"]
    if "shape" in metadata:
        data.update(image_shape=list(metadata["shape"]), num_classes=len(metadata["class_names"]),
                    class_names=list(metadata["class_names"]))
    return data


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds per epoch, for the report's training-time figures."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def parameter_counts(model: keras.Model) -> dict:
    trainable = int(sum(keras.backend.count_params(w) for w in model.trainable_weights))
    non_trainable = int(sum(keras.backend.count_params(w) for w in model.non_trainable_weights))
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


def check_dropout(model: keras.Model, dropout: Optional[float]) -> None:
    """A dropout rate given for a model without Dropout layers would change nothing: an error, not silence."""
    if dropout is not None and not any(isinstance(layer, keras.layers.Dropout) for layer in model.submodules):
        raise ConfigError(f"dropout {dropout} given, but the model '{model.name}' has no Dropout layer")


def compile_phase(model: keras.Model, settings: OptimizerConfig, learning_rate: float, steps: int, loss,
                  metrics: Callable[[], Sequence]) -> None:
    """Compile with a fresh optimizer for a phase of `steps` steps (its schedule decays over them)."""
    # Under mixed_float16, tf_keras' compile wraps the optimizer in a LossScaleOptimizer.
    model.compile(optimizer=build_optimizer(settings, learning_rate, steps), loss=loss, metrics=list(metrics()))


def training_data(fn_args, config: TrainingConfig, plan: StepPlan, label_key: str,
                  dataset_map: Optional[Callable]) -> tuple:
    """(train, evaluation) datasets in global batches (what one step consumes over all replicas)."""
    train, evaluation = (input_dataset(fn_args, files, tft.TFTransformOutput(fn_args.transform_output),
                                       plan.global_batch_size, config.seed, label_key, config.cache_input,
                                       config.materialize_transform)
                         for files in (fn_args.train_files, fn_args.eval_files))
    if dataset_map is not None:
        train = train.map(dataset_map)
        evaluation = evaluation.map(dataset_map)
    return train, evaluation


def fit(fn_args, build_model: Callable[[], keras.Model], loss, metrics: Callable[[], Sequence],
        dataset_map: Optional[Callable] = None, label_key: str = LABEL_KEY, callbacks: Sequence = (),
        fine_tune: Optional[Tuple[Callable, int]] = None) -> tuple:
    """Build and compile inside the strategy scope, then fit as the pipeline's TrainingConfig says (epochs or
    exactly train_steps steps, in global batches; its optimizer, L2 penalty and dropout).

    dataset_map turns (features, label) batches into what the model trains on (e.g. noisy -> clean images).
    fine_tune = (unfreeze(model), epochs): a second phase after the first, recompiled at a tenth of the
    learning rate (transfer learning's fine-tuning of a pretrained backbone's top layers).
    Returns the model and the training record (history, epoch times, parameters, strategy, optimizer).
    """
    config = trainer_config(fn_args)
    keras.utils.set_random_seed(config.seed)
    strategy = get_strategy(config.strategy)
    plan = config.plan(strategy.num_replicas_in_sync, data_facts(config).get("counts", {}))
    train, evaluation = training_data(fn_args, config, plan, label_key, dataset_map)
    with strategy.scope(), precision_policy(config.precision, strategy) as precision:
        model = build_model()
        check_dropout(model, config.dropout)
        l2 = add_l2_penalty(model, config.optimizer)
        compile_phase(model, config.optimizer, config.learning_rate, plan.train_steps, loss, metrics)
    parameters = parameter_counts(model)  # as built (the paper's model summaries), before any fine-tuning
    fit_args = dict(x=train, steps_per_epoch=plan.steps_per_epoch, validation_data=evaluation,
                    validation_steps=plan.eval_steps, verbose=2)
    phases = Phases(model, fit_args, callbacks)
    phases.run(plan.epochs, stop_after=plan.train_steps)
    optimizer = describe(model.optimizer, config.optimizer, config.learning_rate)  # after fitting: SWATS's switch
    fine_tuning = None
    if fine_tune is not None:
        unfreeze, epochs = fine_tune
        with strategy.scope():
            unfreeze(model)
            compile_phase(model, config.optimizer, config.learning_rate / 10, plan.steps_per_epoch * epochs, loss,
                          metrics)
        phases.run(epochs)
        fine_tuning = {"epochs": epochs, "trainable_parameters": parameter_counts(model)["trainable"],
                       "optimizer": describe(model.optimizer, config.optimizer, config.learning_rate / 10)}
    # The paper prints Keras' test line ("313/313 - loss: 0.6811 - accuracy: 0.7737"): the same, on our eval split.
    evaluation_results = model.evaluate(evaluation, steps=plan.eval_steps, verbose=2, return_dict=True)
    return model, {
        **phases.record(plan.global_batch_size), "per_replica_batch_size": config.batch_size,
        "strategy": config.strategy, "strategy_class": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync, "precision": precision, "parameters": parameters,
        "optimizer": optimizer, "l2_penalty": l2, "dropout": config.dropout, "fine_tuning": fine_tuning,
        "evaluation": {key: float(value) for key, value in evaluation_results.items()},
        "tuned_hyperparameters": tuned_values(fn_args),  # the Tuner's best values applied (None: not tuned)
        "seed": config.seed, "environment": environment(),  # what the numbers depend on beyond the settings
    }


class Phases:
    """Training phases of one model fitted one after another (training, then any fine-tuning), their history,
    epoch times and steps kept as one continuous run."""

    def __init__(self, model: keras.Model, fit_args: dict, callbacks: Sequence):
        self.model = model
        self.fit_args = fit_args
        self.callbacks = list(callbacks)
        self.history = {}
        self.epoch_seconds = []
        self.epochs = 0
        self.steps = 0

    def run(self, epochs: int, stop_after: Optional[int] = None) -> None:
        timer = EpochTimer()
        counter = StepCounter(stop_after)
        more = self.model.fit(epochs=self.epochs + epochs, initial_epoch=self.epochs,
                              callbacks=[timer, counter, *self.callbacks], **self.fit_args)
        for key, values in more.history.items():
            self.history.setdefault(key, []).extend(float(v) for v in values)
        self.epoch_seconds += timer.seconds
        self.epochs += epochs
        self.steps += counter.steps

    def record(self, global_batch_size: int) -> dict:
        return {"history": self.history, **throughput(self.epoch_seconds, self.steps * global_batch_size),
                "epochs": self.epochs, "steps_per_epoch": self.fit_args["steps_per_epoch"], "train_steps": self.steps,
                "global_batch_size": global_batch_size}


class StepCounter(keras.callbacks.Callback):
    """Counts the optimizer steps a phase takes and, given `stop_after`, ends it after exactly that many: a
    --train-steps that is not a multiple of the epochs cuts the last epoch short instead of being rounded down
    to whole epochs."""

    def __init__(self, stop_after: Optional[int] = None):
        super().__init__()
        self.stop_after = stop_after

    def on_train_begin(self, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.stop_after is not None and self.steps >= self.stop_after:
            self.model.stop_training = True


def throughput(epoch_seconds: Sequence[float], examples: int) -> dict:
    return {"epoch_seconds": list(epoch_seconds), "train_seconds": sum(epoch_seconds),
            "examples_per_second": examples / max(sum(epoch_seconds), 1e-9)}


def model_artifact_dir(fn_args) -> str:
    """The Trainer's model artifact: Format-Serving (what is pushed) plus our record and figures beside it."""
    return os.path.dirname(fn_args.serving_model_dir.rstrip("/"))


def write_training_record(fn_args, record: dict) -> Optional[str]:
    """training.json beside the model, by the chief only (None elsewhere): other workers' records are partial."""
    if not is_chief(record.get("strategy", "")):
        return None
    path = os.path.join(model_artifact_dir(fn_args), TRAINING_RECORD)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(record, indent=2))
    return path


@contextlib.contextmanager
def worker_export_dir(strategy_name: str, export_dir: str):
    """Where this worker writes the model (or the figures beside it): export_dir on the chief; elsewhere a
    temporary directory removed afterwards. Every worker must save (saving a distributed model runs collective
    ops), one may write it: the Keras multi-worker save pattern. Every step's run_fn exports through it."""
    if is_chief(strategy_name):
        yield export_dir
        return
    scratch = tempfile.mkdtemp(prefix="dlqos-worker-export-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)




def export_classifier(model: keras.Model, transform_output: tft.TFTransformOutput, export_dir: str,
                      image_shape: Sequence[int], class_names: Sequence[str]) -> None:
    """Save with three signatures over the same Transform graph and model:

    - serving_default: serialized tf.Example (`examples`) -> probabilities, class_id (TFMA and gRPC clients);
    - serving_pixels: pixel values 0..255 as float32 [N,H,W(,C)] (`pixels`) -> the same (JSON clients);
    - classify: serialized tf.Example (`inputs`) -> `classes` (class names) and `scores`, marked with the
      classify method name so TF Serving's Classify API (gRPC Classify, REST :classify) serves it.
    """
    height, width, channels = image_shape
    raw_spec = transform_output.raw_feature_spec()
    raw_spec.pop(LABEL_KEY, None)
    module = tf.Module()
    module.model = model
    module.tft_layer = transform_output.transform_features_layer()

    def predict(raw_features):
        transformed = module.tft_layer(raw_features)
        probabilities = module.model({IMAGE_KEY: transformed[IMAGE_KEY]})
        return {"probabilities": probabilities, "class_id": tf.argmax(probabilities, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        return predict(tf.io.parse_example(examples, raw_spec))

    pixel_shape = [None, height, width] if channels == 1 else [None, height, width, channels]

    @tf.function(input_signature=[tf.TensorSpec(pixel_shape, tf.float32, name="pixels")])
    def serve_pixels(pixels):
        flat = tf.reshape(pixels, [-1, height * width * channels])
        return predict({"pixels": tf.cast(tf.round(tf.clip_by_value(flat, 0.0, 255.0)), tf.int64)})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        scores = predict(tf.io.parse_example(inputs, raw_spec))["probabilities"]
        return {"classes": tf.broadcast_to(tf.constant(list(class_names)), tf.shape(scores)), "scores": scores}

    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": serve_examples.get_concrete_function(),
        "serving_pixels": serve_pixels.get_concrete_function(),
        "classify": classify.get_concrete_function(),
    })
    set_method_name(export_dir, "classify", CLASSIFY_METHOD)


def set_method_name(export_dir: str, signature_name: str, method_name: str) -> None:
    """TF2's saver writes every signature as a predict signature; TF Serving dispatches Classify/Regress by the
    SignatureDef's method_name, so set it in saved_model.pb (loading in TF2 ignores it)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[signature_name].method_name = method_name
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def classifier_metrics() -> list:
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def run_image_classifier(fn_args, build_model: Callable[[Sequence[int], int], keras.Model]) -> None:
    """The whole run_fn of a classification step: fit build_model(image_shape, num_classes, dropout=rate or None
    for the model's own) for the stored data (dataset.json), export both signatures, write the record."""
    config = trainer_config(fn_args)
    params = data_params(config)
    image_shape = params["image_shape"]
    model, record = fit(
        fn_args, lambda: build_model(image_shape, params["num_classes"], dropout=config.dropout),
        loss=keras.losses.SparseCategoricalCrossentropy(), metrics=classifier_metrics)
    with worker_export_dir(config.strategy, fn_args.serving_model_dir) as export_dir:
        export_classifier(model, tft.TFTransformOutput(fn_args.transform_output), export_dir, image_shape,
                          params["class_names"])
    write_training_record(fn_args, record)


ACCURACY_OBJECTIVE = ("val_accuracy", "max")  # on the eval split
LOSS_OBJECTIVE = ("val_loss", "min")


def tune(fn_args, step_name: str, build_model: Callable[[TrainingConfig], keras.Model], loss,
         metrics: Callable[[], Sequence], objective: Tuple[str, str] = LOSS_OBJECTIVE,
         dataset_map: Optional[Callable] = None, label_key: str = LABEL_KEY):
    """The TunerFnResult of a step's tuner_fn: a random search over the step's space (models.tuning.search_space)
    within the configured budget, each trial build_model(the configuration with the trial's values) compiled as
    the Trainer compiles it and fitted on the same data, scored by `objective` (a Keras history key, direction)
    on the eval split. Trials run on one device in float32 (no distribution strategy)."""
    import keras_tuner
    from tfx import v1 as tfx

    from models import search

    # The Tuner's FnArgs name the Transform graph transform_graph_path only; the Trainer's also transform_output,
    # the name this library reads (TFX's Trainer executor sets it the same way).
    fn_args.transform_output = fn_args.transform_graph_path
    step = get_step(step_name)
    config = trainer_config(fn_args)
    tuning = config.tuning or TuningConfig()
    space = search_space(config, step.model, step.takes_dropout)
    each_trial = dataclasses.replace(config, epochs=tuning.trial_epochs or config.epochs)
    plan = each_trial.plan(1, data_facts(config).get("counts", {}))
    train, evaluation = training_data(fn_args, config, plan, label_key, dataset_map)

    def build(values: dict) -> keras.Model:
        settings = apply_hyperparameters(config, values)
        keras.utils.set_random_seed(config.seed)  # every trial starts from the same initial weights
        model = build_model(settings)
        check_dropout(model, settings.dropout)
        add_l2_penalty(model, settings.optimizer)
        compile_phase(model, settings.optimizer, settings.learning_rate, plan.train_steps, loss, metrics)
        return model

    oracle = search.BudgetedRandomSearch(
        default_values(space), tuning.max_seconds, objective=keras_tuner.Objective(*objective),
        max_trials=tuning.max_trials, seed=tuning.seed, hyperparameters=search.hyperparameters(space))
    tuner = search.ModelSearch(oracle, build, directory=fn_args.working_dir, project_name=step_name)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs=dict(
        x=train, validation_data=evaluation, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch,
        validation_steps=plan.eval_steps, verbose=2))


def tune_image_classifier(fn_args, step_name: str, build_model: Callable[[Sequence[int], int], keras.Model]):
    """The whole tuner_fn of a classification step: the search for the model run_image_classifier trains."""
    params = data_params(trainer_config(fn_args))
    return tune(fn_args, step_name,
                lambda settings: build_model(params["image_shape"], params["num_classes"], dropout=settings.dropout),
                loss=keras.losses.SparseCategoricalCrossentropy(), metrics=classifier_metrics,
                objective=ACCURACY_OBJECTIVE)
