import pytest

from dlqos.config import GateConfig, OutputLayout, PipelineConfig, TrainingConfig
from dlqos.errors import ConfigError


def test_training_steps_cover_whole_epochs():
    config = TrainingConfig.for_data(num_train=1000, num_eval=130, epochs=3, batch_size=64)
    assert config.train_steps == 3 * 16  # ceil(1000 / 64) = 16 steps per epoch
    assert config.eval_steps == 3  # ceil(130 / 64)


@pytest.mark.parametrize("field", ["epochs", "train_steps", "eval_steps", "batch_size"])
def test_training_rejects_non_positive_values(field):
    values = dict(epochs=1, train_steps=1, eval_steps=1, batch_size=1)
    values[field] = 0
    with pytest.raises(ConfigError):
        TrainingConfig(**values)


def test_custom_config_carries_strategy_and_seed():
    config = TrainingConfig(epochs=2, train_steps=10, eval_steps=2, strategy="mirrored", seed=7,
                            model={"rnn_units": 8}, data_metadata="/e/dataset.json")
    assert config.custom_config() == {"epochs": 2, "batch_size": 64, "learning_rate": 1e-3,
                                      "strategy": "mirrored", "precision": "float32", "cache_input": True,
                                      "materialize_transform": False, "seed": 7,
                                      "model": {"rnn_units": 8},
                                      "data_metadata": "/e/dataset.json"}


def _pipeline_config(**changes):
    values = dict(step="dense", pipeline_name="p", pipeline_root="/r", metadata_path="/m.sqlite",
                  examples_dir="/e", serving_model_dir="/s", preprocessing_fn="a.b", run_fn="a.c",
                  training=TrainingConfig(epochs=1, train_steps=1, eval_steps=1))
    values.update(changes)
    return PipelineConfig(**values)


def test_gate_metric_must_be_evaluated():
    with pytest.raises(ConfigError, match="MeanSquaredError"):
        _pipeline_config(gate=GateConfig(metric="MeanSquaredError"))


def test_replace_keeps_other_fields():
    config = _pipeline_config().replace(enable_cache=True)
    assert config.enable_cache and config.pipeline_name == "p"


def test_output_layout_paths():
    layout = OutputLayout("/out")
    assert layout.metadata_path == "/out/metadata.sqlite"
    assert layout.pipeline_root("dlqos-dense") == "/out/pipelines/dlqos-dense"
    assert layout.serving_model_dir("dense") == "/out/serving/dense"
