import json

import pytest
from tensorflow_model_analysis.proto import config_pb2

from common.config import DriftConfig, GateConfig, InfraValidationConfig, TrainingConfig
from components.drift import DriftValidator
from common.errors import ConfigError
from pipeline.pipeline import create_pipeline, create_variant_pipeline, eval_config
from tests.helpers import pipeline_config

ORDER = ["ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
         "latest_blessed_model_resolver", "Evaluator", "Pusher", "previous_span_statistics_resolver"]
RESOLVERS = ("latest_blessed_model_resolver", "previous_span_statistics_resolver")


def _by_id(pipeline):
    return {component.id: component for component in pipeline.components}


def test_components_in_dependency_order():
    ids = [c.id for c in create_pipeline(pipeline_config()).components]  # TFX sorts them topologically
    assert sorted(ids) == sorted(ORDER)
    chain = [n for n in ORDER if n not in RESOLVERS]
    assert [ids.index(n) for n in chain] == sorted(ids.index(n) for n in chain)
    assert ids.index("latest_blessed_model_resolver") < ids.index("Evaluator")
    assert ids.index("previous_span_statistics_resolver") < ids.index("ExampleValidator")


def test_the_drift_check_reads_the_previous_span_and_comes_before_transform():
    components = _by_id(create_pipeline(pipeline_config(drift=DriftConfig(categorical={"label": 0.2}))))
    validator = components["ExampleValidator"]
    statistics_gen = components["StatisticsGen"]
    assert isinstance(validator, DriftValidator)
    assert validator.inputs["statistics"] is statistics_gen.outputs["statistics"]
    assert validator.inputs["previous_statistics"] is \
        components["previous_span_statistics_resolver"].outputs["statistics"]
    assert json.loads(validator.exec_properties["drift_thresholds"]) == {"categorical": {"label": 0.2},
                                                                         "numeric": {"pixels": 0.1}}
    assert validator in components["Transform"].upstream_nodes  # drift stops the run before Transform and training
    # the label is declared categorical, so that its statistics hold the value frequencies L-infinity compares
    assert "isCategorical" in statistics_gen.exec_properties["stats_options_json"]


def test_a_span_window_puts_the_examplegen_globs_under_span_folders():
    raw_data = {"dataset": "fashion_mnist", "patterns": {"train": "train-*-ubyte.gz", "eval": "t10k-*-ubyte.gz"},
                "source": "test", "options": {}}
    example_gen = _by_id(create_pipeline(pipeline_config(raw_data=raw_data, span_window=2)))["ExampleGen"]
    assert json.loads(example_gen.exec_properties["input_config"])["splits"] == [
        {"name": "train", "pattern": "span-{SPAN}/train-*-ubyte.gz"},
        {"name": "eval", "pattern": "span-{SPAN}/t10k-*-ubyte.gz"}]
    assert '"span_window": 2' in example_gen.exec_properties["custom_config"].replace(".0", "")


def test_a_span_window_needs_raw_files():
    with pytest.raises(ConfigError, match="spans need the raw dataset files"):
        pipeline_config(span_window=1)


def test_wiring():
    components = _by_id(create_pipeline(pipeline_config()))
    trainer = components["Trainer"]
    evaluator = components["Evaluator"]
    pusher = components["Pusher"]
    transform = components["Transform"]
    # The Trainer applies the Transform graph to the raw examples; nothing transformed is written.
    assert trainer.inputs["examples"] is components["ImportExampleGen"].outputs["examples"]
    assert trainer.inputs["transform_graph"] is transform.outputs["transform_graph"]
    assert "transformed_examples" not in transform.outputs
    assert transform.exec_properties["disable_statistics"]
    assert evaluator.inputs["model"] is trainer.outputs["model"]
    assert evaluator.inputs["baseline_model"] is components["latest_blessed_model_resolver"].outputs["model"]
    assert evaluator.inputs["examples"] is components["ImportExampleGen"].outputs["examples"]
    assert pusher.inputs["model_blessing"] is evaluator.outputs["blessing"]


def test_materialized_transform_feeds_the_trainer():
    training = TrainingConfig(epochs=2, train_steps=40, eval_steps=5, materialize_transform=True)
    components = _by_id(create_pipeline(pipeline_config(training=training)))
    transform = components["Transform"]
    assert components["Trainer"].inputs["examples"] is transform.outputs["transformed_examples"]
    assert '"materialize_transform": true' in components["Trainer"].exec_properties["custom_config"]


def test_config_flows_into_components():
    config = pipeline_config()
    pipeline = create_pipeline(config)
    components = _by_id(pipeline)
    trainer = components["Trainer"].exec_properties
    assert trainer["run_fn"] == "models.steps.dense.run_fn"
    assert '"num_steps": 40' in trainer["train_args"] and '"num_steps": 5' in trainer["eval_args"]
    assert '"strategy": "cpu"' in trainer["custom_config"]
    assert components["Transform"].exec_properties["preprocessing_fn"] == "models.steps.dense.preprocessing_fn"
    assert "/serving/dense" in components["Pusher"].exec_properties["push_destination"]
    assert components["ImportExampleGen"].exec_properties["input_base"] == "/data/ex"
    assert pipeline.beam_pipeline_args == ["--runner=FnApiRunner"]
    assert pipeline.metadata_connection_config.sqlite.filename_uri == "/root/m.sqlite"
    assert pipeline.pipeline_info.pipeline_root == "/root/p"


def test_gate_on_overall_slice_with_value_and_change_thresholds():
    config = eval_config(pipeline_config())
    assert config.model_specs[0].signature_name == "serving_default"
    assert config.model_specs[0].label_key == "label"
    gated = [m for m in config.metrics_specs[0].metrics if m.per_slice_thresholds]
    assert [m.class_name for m in gated] == ["ExampleCount", "SparseCategoricalAccuracy"]
    enough = gated.pop(0).per_slice_thresholds[0]  # too few eval examples is no verdict: not blessed
    assert list(enough.slicing_specs) == [config_pb2.SlicingSpec()]
    assert enough.threshold.value_threshold.lower_bound.value == GateConfig().min_examples == 50
    threshold = gated[0].per_slice_thresholds[0]
    assert list(threshold.slicing_specs) == [config_pb2.SlicingSpec()]
    assert threshold.threshold.value_threshold.lower_bound.value == 0.8
    assert threshold.threshold.change_threshold.absolute.value == -0.02
    assert threshold.threshold.change_threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"]]


def test_lower_is_better_gate_uses_upper_bound():
    config = eval_config(pipeline_config(gate=GateConfig(metric="SparseCategoricalCrossentropy", higher_is_better=False,
                                                 min_value=0.5, max_regression=0.1)))
    gated = [m for m in config.metrics_specs[0].metrics if m.per_slice_thresholds][1]
    threshold = gated.per_slice_thresholds[0].threshold
    assert gated.class_name == "SparseCategoricalCrossentropy"
    assert threshold.value_threshold.upper_bound.value == 0.5
    assert threshold.change_threshold.absolute.value == 0.1


def test_a_step_that_trains_nothing_has_the_examplegen_and_its_dream_tail_only():
    from common.errors import ConfigError
    from models.steps import STEPS, DreamModel

    dream = {**STEPS["deepdream"].dream, **DreamModel().as_dict(), "data_metadata": "/data/ex/dataset.json"}
    config = pipeline_config(step="deepdream", preprocessing_fn=None, run_fn=None, training=None, dream=dream)
    components = _by_id(create_pipeline(config))
    assert sorted(components) == ["DeepDream", "ImportExampleGen"]
    assert components["DeepDream"].inputs["examples"] is components["ImportExampleGen"].outputs["examples"]
    with pytest.raises(ConfigError, match="either trains .* or dreams"):
        pipeline_config(dream=dream)


def test_variants_share_one_data_half_and_have_no_resolver_or_pusher():
    variants = [(name, TrainingConfig(epochs=1, train_steps=4, eval_steps=1, seed=seed))
                for name, seed in (("adam_seed1", 1), ("sgd_seed2", 2))]
    components = _by_id(create_variant_pipeline(pipeline_config(), variants))
    assert sorted(components) == sorted(ORDER[:5] + ["previous_span_statistics_resolver","Trainer_adam_seed1", "Evaluator_adam_seed1",
                                                     "Trainer_sgd_seed2", "Evaluator_sgd_seed2"])
    for name in ("adam_seed1", "sgd_seed2"):
        trainer = components[f"Trainer_{name}"]
        evaluator = components[f"Evaluator_{name}"]
        assert trainer.inputs["transform_graph"] is components["Transform"].outputs["transform_graph"]
        assert evaluator.inputs["model"] is trainer.outputs["model"] and "baseline_model" not in evaluator.inputs
    assert '"seed": 2' in components["Trainer_sgd_seed2"].exec_properties["custom_config"]


def test_infra_validator_gates_the_pusher_when_configured():
    settings = InfraValidationConfig("unix:///run/docker.sock", "localhost/standin:1", num_examples=4)
    components = _by_id(create_pipeline(pipeline_config(infra_validation=settings)))
    validator = components["InfraValidator"]
    pusher = components["Pusher"]
    assert validator.inputs["model"] is components["Trainer"].outputs["model"]
    assert validator.inputs["examples"] is components["ImportExampleGen"].outputs["examples"]
    assert pusher.inputs["infra_blessing"] is validator.outputs["blessing"]
    assert pusher.inputs["model_blessing"] is components["Evaluator"].outputs["blessing"]
    serving = json.loads(validator.exec_properties["serving_spec"])
    assert serving == {"tensorflow_serving": {"image_name": "localhost/standin", "tags": ["1"]}, "model_name": "dense",
                       "local_docker": {"client_base_url": "unix:///run/docker.sock"}}
    requests = json.loads(validator.exec_properties["request_spec"])
    assert requests == {"tensorflow_serving": {"signature_names": ["serving_default"]}, "split_name": "eval",
                        "num_examples": 4}


def test_without_infra_validation_the_evaluator_alone_gates_the_pusher():
    components = _by_id(create_pipeline(pipeline_config()))
    assert "InfraValidator" not in components and "infra_blessing" not in components["Pusher"].inputs


@pytest.mark.parametrize("changes, message", [({"image": "tensorflow/serving"}, "needs a tag"),
                                              ({"image": "localhost:5000/serving"}, "needs a tag"),
                                              ({"num_tries": 0}, "num_tries")])
def test_infra_validation_settings_are_checked(changes, message):
    with pytest.raises(ConfigError, match=message):
        InfraValidationConfig("unix:///run/docker.sock", **changes)
