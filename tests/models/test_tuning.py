"""The Tuner's search space comes from the typed configuration, and a trial's values go back onto it."""
import pytest

from common.config import ADAPTIVE_OPTIMIZERS, OptimizerConfig, PipelineConfig, TrainingConfig, TuningConfig
from common.errors import ConfigError
from dlqos.runs import RunOptions, build_config, check_training_options
from common.config import OutputLayout
from models.steps import STEPS, TextgenModel
from models.tuning import (DROPOUT, LEARNING_RATE, OPTIMIZER, apply_hyperparameters, default_values,
                          search_space)


def space_of(step: str, **training):
    config = TrainingConfig(epochs=1, tuning=TuningConfig(), **training)
    return {d.name: d for d in search_space(config, STEPS[step].model, STEPS[step].takes_dropout)}


def test_dense_space_is_rate_optimizer_and_dropout_around_the_configured_values():
    space = space_of("dense", learning_rate=2e-3, optimizer=OptimizerConfig(name="rmsprop"))
    assert space_of("dense", optimizer=OptimizerConfig(name="sgd"))[OPTIMIZER].choices[0] == "sgd"  # as given first
    assert sorted(space) == sorted([LEARNING_RATE, OPTIMIZER, DROPOUT])
    rate = space[LEARNING_RATE]
    assert (rate.kind, rate.default, rate.low, rate.high) == ("log", 2e-3, pytest.approx(2e-4), pytest.approx(2e-2))
    assert space[OPTIMIZER].default == "rmsprop" and set(space[OPTIMIZER].choices) == set(ADAPTIVE_OPTIMIZERS)
    assert (space[DROPOUT].low, space[DROPOUT].high, space[DROPOUT].default) == (0.0, 0.5, None)


def test_the_budget_and_span_shape_the_space():
    config = TrainingConfig(epochs=1, dropout=0.2, tuning=TuningConfig(optimizers=("sgd",), learning_rate_span=3,
                                                                        max_dropout=0.3))
    space = {d.name: d for d in search_space(config, STEPS["cnn"].model, True)}
    assert space[OPTIMIZER].choices == ("adam", "sgd")  # the configured optimizer is always a choice (trial 0)
    assert space[LEARNING_RATE].high == pytest.approx(3e-3) and space[DROPOUT].high == 0.3
    assert space[DROPOUT].default == 0.2


def test_steps_without_dropout_layers_search_no_dropout_and_textgen_searches_its_widths():
    assert DROPOUT not in space_of("autoencoder")
    textgen = space_of("textgen", model={"embedding_dim": 64, "rnn_units": 256})
    assert textgen["model.rnn_units"].choices == (256, 128, 512)
    assert textgen["model.embedding_dim"].default == 64
    assert "model.max_chars" not in textgen  # a limit, not a width


def test_the_first_trial_is_the_configuration_as_given():
    space = search_space(TrainingConfig(epochs=1, learning_rate=1e-3), STEPS["cnn"].model, True)
    assert default_values(space) == {LEARNING_RATE: 1e-3, OPTIMIZER: "adam"}  # cnn keeps its own dropout rates
    config = TrainingConfig(epochs=1)
    assert apply_hyperparameters(config, default_values(space)) == config


def test_best_values_apply_onto_the_typed_config():
    config = TrainingConfig(epochs=1, model={"embedding_dim": 64}, optimizer=OptimizerConfig(clip_norm=1.0))
    tuned = apply_hyperparameters(config, {LEARNING_RATE: 0.01, OPTIMIZER: "swats", DROPOUT: 0.1,
                                           "model.rnn_units": 512})
    assert tuned.learning_rate == 0.01 and tuned.dropout == 0.1
    assert tuned.optimizer == OptimizerConfig(name="swats", clip_norm=1.0)  # other optimizer settings kept
    assert TextgenModel.from_dict(tuned.model) == TextgenModel(embedding_dim=64, rnn_units=512)


@pytest.mark.parametrize("values, message", [
    ({"momentum": 0.9}, "unknown hyper-parameter"),
    ({OPTIMIZER: "lbfgs"}, "unknown optimizer"),
    ({LEARNING_RATE: -1}, "learning rate must be"),
])
def test_an_unknown_or_bad_hyperparameter_is_an_error(values, message):
    with pytest.raises(ConfigError, match=message):
        apply_hyperparameters(TrainingConfig(epochs=1), values)


def test_a_width_the_step_lacks_fails_where_its_model_config_is_rebuilt():
    tuned = apply_hyperparameters(TrainingConfig(epochs=1), {"model.units": 8})
    with pytest.raises(ConfigError, match="unknown TextgenModel parameters"):
        TextgenModel.from_dict(tuned.model)


def test_tuning_travels_through_custom_config_and_unknown_keys_are_refused():
    config = TrainingConfig(epochs=1, tuning=TuningConfig(max_trials=3, max_seconds=60, optimizers=("adam", "sgd")))
    assert TrainingConfig.from_dict(config.custom_config()) == config
    with pytest.raises(ConfigError, match="unknown tuning settings"):
        TrainingConfig.from_dict({**config.custom_config(), "tuning": {"trials": 3}})


@pytest.mark.parametrize("changes, message", [
    ({"max_trials": 0}, "max_trials"), ({"max_seconds": 0}, "max_seconds"), ({"optimizers": ()}, "optimizer"),
    ({"optimizers": ("adam", "lbfgs")}, "unknown optimizer"), ({"max_dropout": 1}, "max_dropout"),
])
def test_tuning_refuses_bad_budgets(changes, message):
    with pytest.raises(ConfigError, match=message):
        TuningConfig(**changes)


def test_tune_adds_the_tuner_fn_and_is_refused_for_a_step_that_trains_nothing(tmp_path):
    options = RunOptions(tuning=TuningConfig(max_trials=2))
    config = build_config(STEPS["dense"], options, OutputLayout(str(tmp_path)), str(tmp_path))
    assert config.tuner_fn == "models.steps.dense.tuner_fn" and config.training.tuning.max_trials == 2
    assert build_config(STEPS["dense"], RunOptions(), OutputLayout(str(tmp_path)), str(tmp_path)).tuner_fn is None
    with pytest.raises(ConfigError, match="--tune does not apply to deepdream"):
        check_training_options([STEPS["deepdream"]], options)
    with pytest.raises(ConfigError, match="tuner_fn"):
        config.replace(tuner_fn=None)
    assert isinstance(config, PipelineConfig)
