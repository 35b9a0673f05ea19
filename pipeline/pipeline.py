"""One pure factory for every study step's TFX pipeline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import common  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tensorflow_model_analysis.proto import config_pb2 as tfma
from tfx import v1 as tfx

from components.dream_generator import DeepDream
from components.drift import DriftValidator, PreviousSpanStatistics
from components.pusher import AtomicPusher
from common.config import GateConfig, PipelineConfig, TrainingConfig


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """TFMA: the gate metric with an absolute bound and a bounded regression vs the last blessed model, and at least
    gate.min_examples evaluated examples."""
    gate: GateConfig = config.gate
    gate_name = _metric_module(gate.metric)[0]
    direction = tfma.MetricDirection.HIGHER_IS_BETTER if gate.higher_is_better else tfma.MetricDirection.LOWER_IS_BETTER
    bound = {} if gate.min_value is None else (
        {"lower_bound": {"value": gate.min_value}} if gate.higher_is_better else {"upper_bound": {"value": gate.min_value}})
    overall_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(**bound) if bound else None,
        change_threshold=tfma.GenericChangeThreshold(
            direction=direction,
            absolute={"value": -gate.max_regression if gate.higher_is_better else gate.max_regression}),
    )
    # The gate applies to the overall slice; per-label slices are reported, not gated.
    gated = [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=overall_threshold)]
    enough = [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.min_examples})))]
    thresholds = {gate_name: gated, "ExampleCount": enough}
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=config.eval_signature, label_key=config.label_key,
                                    prediction_key=config.prediction_key)],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[f]) for f in config.slice_features],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name=name, module=module, per_slice_thresholds=thresholds.get(name))
            for name, module in [("ExampleCount", None)] + [_metric_module(m) for m in config.metrics]
        ])],
    )


def _metric_module(metric: str) -> tuple:
    """'module.Class' names a custom Keras metric; a bare name is a TFMA/Keras built-in."""
    module, _, name = metric.rpartition(".")
    return name, module or None


def _example_gen(config: PipelineConfig):
    """DatasetExampleGen on the raw dataset files, or ImportExampleGen on TFRecords a user brought."""
    if config.raw_data is not None:
        from components.examplegen import DatasetExampleGen

        # The fingerprint only keys TFX's cache: the executor reads the dataset's settings.
        settings = {**config.raw_data, "source_fingerprint": config.source_fingerprint}
        return DatasetExampleGen(config.examples_dir, settings, config.span_window).with_id("ExampleGen")
    return tfx.components.ImportExampleGen(
        input_base=config.examples_dir,
        input_config=tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name="train", pattern="train/*"),
            tfx.proto.Input.Split(name="eval", pattern="eval/*"),
        ]),
    )


@dataclass(frozen=True)
class DataHalf:
    """The components that bring a step's data in, and the ones its tail reads."""

    components: tuple
    example_gen: object
    schema_gen: object = None
    transform: object = None


def data_half(config: PipelineConfig) -> DataHalf:
    """A trained step: ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (benchmarks/scaling.py
    runs it alone); a step that trains nothing reads the ExampleGen's examples only."""
    example_gen = _example_gen(config)
    if not config.trains:
        return DataHalf((example_gen,), example_gen)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"],
                                                  stats_options=_statistics_options(config))
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    previous_statistics = tfx.dsl.Resolver(
        strategy_class=_previous_statistics_strategy(config),
        statistics=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleStatistics),
    ).with_id("previous_span_statistics_resolver")
    # ExampleValidator's check, plus drift against the previous span's statistics (components/drift.py).
    example_validator = DriftValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"],
        previous_statistics=previous_statistics.outputs["statistics"], thresholds=config.drift.as_dict(),
    ).with_id("ExampleValidator")
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=config.preprocessing_fn,
        materialize=config.training.materialize_transform,
        # StatisticsGen and ExampleValidator already check the raw data; Transform's pre-/post-transform
        # statistics are more full passes that nothing downstream reads (docs/benchmarks.md).
        disable_statistics=True,
        # Keys TFX's cache to the code (preprocessing_fn takes no custom_config, so TFX does not pass it on).
        custom_config={"source_fingerprint": config.source_fingerprint},
    )
    transform.add_upstream_node(example_validator)  # data that drifted stops the run before Transform and training
    return DataHalf((example_gen, statistics_gen, schema_gen, previous_statistics, example_validator, transform),
                    example_gen, schema_gen, transform)


def _previous_statistics_strategy(config: PipelineConfig):
    """PreviousSpanStatistics (the last two spans that passed) where the store is ours; where the orchestrator
    provides it (Kubeflow V2, whose compiler takes only TFX's LatestArtifactStrategy and LatestBlessedModelStrategy),
    the newest statistics recorded before the run, compared only when they are of an older span."""
    return PreviousSpanStatistics if config.metadata_path else tfx.dsl.experimental.LatestArtifactStrategy


def _statistics_options(config: PipelineConfig):
    """StatisticsGen's options: the features with an L-infinity drift threshold declared categorical, so that their
    statistics hold the value frequencies the comparator reads (an integer label otherwise gets a histogram only)."""
    if not config.drift.categorical:
        return None
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = schema_pb2.Schema()
    for name in config.drift.categorical:
        feature = schema.feature.add(name=name, type=schema_pb2.INT)
        feature.int_domain.is_categorical = True
    return tfdv.StatsOptions(schema=schema)


def trained_tail(config: PipelineConfig, data: DataHalf) -> list:
    """[Tuner ->] Trainer -> Resolver(latest blessed) -> Evaluator(TFMA gate against it) [-> InfraValidator] ->
    Pusher(TF Serving layout), which pushes only a model every validator blessed; the Tuner where the training config
    asks for tuning, its best hyper-parameters the Trainer's."""
    tuner = _tuner(config, data) if config.training.tuning else None
    trainer = _trainer(config, data, tuner)
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = _evaluator(config, data, trainer, baseline_model=model_resolver.outputs["model"])
    validator = None if config.infra_validation is None else \
        infra_validator(config, trainer.outputs["model"], data.example_gen.outputs["examples"])
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_model_dir)),
        infra_blessing=None if validator is None else validator.outputs["blessing"],
    ).with_id("Pusher")
    return [*([tuner] if tuner else []), trainer, model_resolver, evaluator, *([validator] if validator else []),
            pusher]


def infra_validator(config: PipelineConfig, model, examples):
    """TFX's InfraValidator: the model loaded in a TF Serving container (config.infra_validation) and sent eval
    examples on the step's eval signature, which takes serialized tf.Examples (TFMA evaluates through it)."""
    settings = config.infra_validation
    image_name, _, tag = settings.image.rpartition(":")
    return tfx.components.InfraValidator(
        model=model,
        examples=examples,
        serving_spec=tfx.proto.ServingSpec(
            tensorflow_serving=tfx.proto.TensorFlowServing(image_name=image_name, tags=[tag]),
            local_docker=tfx.proto.LocalDockerConfig(client_base_url=settings.docker_url),
            model_name=config.step),
        validation_spec=tfx.proto.ValidationSpec(max_loading_time_seconds=settings.max_loading_seconds,
                                                 num_tries=settings.num_tries),
        request_spec=tfx.proto.RequestSpec(
            tensorflow_serving=tfx.proto.TensorFlowServingRequestSpec(signature_names=[config.eval_signature]),
            split_name="eval", num_examples=settings.num_examples),
    )


def dream_tail(config: PipelineConfig, data: DataHalf) -> list:
    """The DeepDream component on the ExampleGen's photos: nothing is trained, gated or pushed."""
    return [DeepDream(examples=data.example_gen.outputs["examples"], **config.dream)]


def variant_tail(config: PipelineConfig, data: DataHalf, name: str) -> list:
    """One optimizer x seed variant: Trainer_<name> and Evaluator_<name>. No Resolver (a variant is judged alone,
    not against the served model) and no Pusher: a variant never reaches serving."""
    trainer = _trainer(config, data).with_id(f"Trainer_{name}")
    return [trainer, _evaluator(config, data, trainer).with_id(f"Evaluator_{name}")]


def create_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """The step's data half composed with its tail (trained_tail, or dream_tail for a step that trains nothing)."""
    data = data_half(config)
    tail = trained_tail if config.trains else dream_tail
    return _pipeline(config, [*data.components, *tail(config, data)])


def create_variant_pipeline(config: PipelineConfig,
                            variants: Sequence[Tuple[str, TrainingConfig]]) -> tfx.dsl.Pipeline:
    """The data half once, then a variant_tail per (name, training) variant, all reading the same ExampleGen and
    Transform artifacts: optimizers and seeds compared on identical data, analysed once instead of once per
    variant."""
    data = data_half(config)
    tails = [variant_tail(config.replace(training=training), data, name) for name, training in variants]
    return _pipeline(config, [*data.components, *(component for tail in tails for component in tail)])


def _training_inputs(config: PipelineConfig, data: DataHalf) -> dict:
    """What the Tuner and the Trainer both read: the raw examples (or Transform's materialized copy), the
    Transform graph, the schema, the step counts and the TrainingConfig."""
    return dict(
        examples=data.transform.outputs["transformed_examples"] if config.training.materialize_transform
        else data.example_gen.outputs["examples"],
        transform_graph=data.transform.outputs["transform_graph"],
        schema=data.schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.training.eval_steps),
        custom_config=config.training.custom_config(),
    )


def _tuner(config: PipelineConfig, data: DataHalf):
    """The stock TFX Tuner: the step's tuner_fn searches within config.training.tuning's budget."""
    return tfx.components.Tuner(tuner_fn=config.tuner_fn, **_training_inputs(config, data))


def _trainer(config: PipelineConfig, data: DataHalf, tuner=None):
    """The step's Trainer, configured by config.training; with a tuner, trained with its best hyper-parameters."""
    tuned = {"hyperparameters": tuner.outputs["best_hyperparameters"]} if tuner is not None else {}
    return tfx.components.Trainer(run_fn=config.run_fn, **_training_inputs(config, data), **tuned)


def _evaluator(config: PipelineConfig, data: DataHalf, trainer, baseline_model=None):
    """TFMA on the eval split with the step's gate; a baseline (the last blessed model) only where one is given."""
    baseline = {} if baseline_model is None else {"baseline_model": baseline_model}
    return tfx.components.Evaluator(examples=data.example_gen.outputs["examples"], model=trainer.outputs["model"],
                                    eval_config=eval_config(config), **baseline)


def _pipeline(config: PipelineConfig, components: list) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
        if config.metadata_path else None,
        beam_pipeline_args=list(config.beam_pipeline_args),
    )
