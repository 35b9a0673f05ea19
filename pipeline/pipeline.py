"""One pure factory for every study step's TFX pipeline."""
from __future__ import annotations

from typing import Sequence, Tuple

import dlqos  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tensorflow_model_analysis.proto import config_pb2 as tfma
from tfx import v1 as tfx

from components.deepdream import DeepDream
from components.pusher import AtomicPusher
from dlqos.config import GateConfig, PipelineConfig, TrainingConfig


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
        from data.examplegen import DatasetExampleGen

        return DatasetExampleGen(config.examples_dir, config.raw_data).with_id("ExampleGen")
    return tfx.components.ImportExampleGen(
        input_base=config.examples_dir,
        input_config=tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name="train", pattern="train/*"),
            tfx.proto.Input.Split(name="eval", pattern="eval/*"),
        ]),
    )


def data_components(config: PipelineConfig) -> tuple:
    """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform: the data half of a trained
    step's pipeline (benchmarks/scaling.py runs it alone)."""
    example_gen = _example_gen(config)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=config.preprocessing_fn,
        materialize=config.training.materialize_transform,
        # StatisticsGen and ExampleValidator already check the raw data; Transform's pre-/post-transform
        # statistics are more full passes that nothing downstream reads (docs/benchmarks.md).
        disable_statistics=True,
    )
    return example_gen, statistics_gen, schema_gen, example_validator, transform


def create_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer
    -> Resolver(latest blessed) -> Evaluator(TFMA gate) -> Pusher(TF Serving layout);
    for a step that trains nothing (config.dream): ExampleGen -> DeepDream."""
    if config.dream is not None:
        example_gen = _example_gen(config)
        return _pipeline(config, [example_gen, DeepDream(examples=example_gen.outputs["examples"], **config.dream)])
    example_gen, statistics_gen, schema_gen, example_validator, transform = data_components(config)
    trainer = _trainer(config, example_gen, schema_gen, transform)
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = _evaluator(config, example_gen, trainer, baseline_model=model_resolver.outputs["model"])
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_model_dir)),
    ).with_id("Pusher")
    return _pipeline(config, [example_gen, statistics_gen, schema_gen, example_validator, transform, trainer,
                              model_resolver, evaluator, pusher])


def create_variant_pipeline(config: PipelineConfig,
                            variants: Sequence[Tuple[str, TrainingConfig]]) -> tfx.dsl.Pipeline:
    """The data half once, then a Trainer and an Evaluator per (name, training) variant, all reading the same
    ExampleGen and Transform artifacts: optimizers and seeds compared on identical data, which is analysed once
    instead of once per variant. Node ids are Trainer_<name> / Evaluator_<name>. No Resolver (a variant is
    judged alone, not against the served model) and no Pusher: a variant never reaches serving."""
    example_gen, statistics_gen, schema_gen, example_validator, transform = data_components(config)
    components = [example_gen, statistics_gen, schema_gen, example_validator, transform]
    for name, training in variants:
        trainer = _trainer(config.replace(training=training), example_gen, schema_gen, transform)
        components += [trainer.with_id(f"Trainer_{name}"),
                       _evaluator(config, example_gen, trainer).with_id(f"Evaluator_{name}")]
    return _pipeline(config, components)


def _trainer(config: PipelineConfig, example_gen, schema_gen, transform):
    """The step's Trainer on the raw examples (or Transform's materialized copy), configured by config.training."""
    return tfx.components.Trainer(
        run_fn=config.run_fn,
        examples=transform.outputs["transformed_examples"] if config.training.materialize_transform
        else example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.training.eval_steps),
        custom_config=config.training.custom_config(),
    )


def _evaluator(config: PipelineConfig, example_gen, trainer, baseline_model=None):
    """TFMA on the eval split with the step's gate; a baseline (the last blessed model) only where one is given."""
    baseline = {} if baseline_model is None else {"baseline_model": baseline_model}
    return tfx.components.Evaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
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
