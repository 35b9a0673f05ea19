import pytest

from dlqos.config import GateConfig, OutputLayout, PipelineConfig, TrainingConfig
from dlqos.errors import ConfigError
from dlqos.runs import COUNTS, RunOptions
from dlqos.steps import STEPS, model_params


def test_training_steps_cover_whole_epochs():
    config = TrainingConfig.for_data(num_train=1000, num_eval=130, epochs=3, batch_size=64)
    assert config.train_steps == 3 * 16  # ceil(1000 / 64) = 16 steps per epoch
    assert config.eval_steps == 3  # ceil(130 / 64)


@pytest.mark.parametrize("field", ["epochs", "train_steps", "eval_steps", "batch_size"])
def test_training_rejects_non_positive_values(field):
    values = dict(epochs=1, train_steps=1, eval_steps=1, batch_size=1)
    values[field] = 0
    with pytest.raises(ConfigError, match=f"^{field} must be a whole number >= 1, got 0$"):  # no dump of the config
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


@pytest.mark.parametrize("field", COUNTS)
@pytest.mark.parametrize("value", [0, -5, 1.5, "3", True])
def test_run_options_refuse_counts_below_one_instead_of_reading_them_as_not_given(field, value):
    with pytest.raises(ConfigError, match=f"^{field} must be a whole number >= 1"):
        RunOptions(**{field: value})


def _built(step_name: str, **options):
    from dlqos.runs import build_config
    from dlqos.steps import get_step

    return build_config(get_step(step_name), RunOptions(**options), OutputLayout("/out"), "/e",
                        {"counts": {"train": 100, "eval": 10}})


def test_counts_not_given_come_from_the_profile():
    training = _built("dense", batch_size=10).training
    assert (training.epochs, training.batch_size, training.train_steps) == (2, 10, 2 * 10)


def test_each_step_takes_only_its_own_model_params():
    study = {"rnn_units": 64, "fine_tune_layers": 3, "steps": 5}
    assert _built("textgen", model=study).training.model == {"embedding_dim": 64, "rnn_units": 64}
    assert _built("transfer", model=study).training.model == {"fine_tune_layers": 3}
    assert _built("deepdream", model=study).dream["steps"] == 5
    assert _built("dense", model=study).training.model == {}


def test_model_params_are_typed_and_unknown_ones_list_what_the_steps_take():
    assert model_params([STEPS["deepdream"]], [("step_size", "0.02"), ("checkpoints", "0,5")]) == {
        "step_size": 0.02, "checkpoints": "0,5"}
    with pytest.raises(ConfigError, match=r"not a parameter of dense, cnn; the parameters are: none$"):
        model_params([STEPS["dense"], STEPS["cnn"]], [("rnn_units", "8")])
    with pytest.raises(ConfigError, match=r"octaves=1.5: octaves must be int; the parameters are: checkpoints \(str\)"):
        model_params([STEPS["deepdream"]], [("octaves", "1.5")])


@pytest.mark.parametrize("step", sorted(STEPS))
def test_every_profile_model_param_is_declared_with_its_type(step):
    declared = STEPS[step].model_params
    for profile in STEPS[step].profiles.values():
        for key, value in profile.model.items():
            assert isinstance(value, declared[key]), (key, value)
