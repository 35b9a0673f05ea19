import json
import typing

import pytest

from common.config import GateConfig, OptimizerConfig, OutputLayout, PipelineConfig, StepPlan, TrainingConfig
from common.errors import ConfigError
from dlqos.runs import COUNTS, RunOptions
from models.steps import STEPS, model_params


def test_steps_are_one_pass_per_epoch_in_global_batches():
    config = TrainingConfig(epochs=3, batch_size=64)
    assert config.plan(1, {"train": 1000, "eval": 130}) == StepPlan(epochs=3, steps_per_epoch=16, train_steps=48,
                                                                    eval_steps=3, global_batch_size=64)
    # two replicas: a step consumes 128 examples, so an epoch (one pass) is half the steps
    assert config.plan(2, {"train": 1000, "eval": 130}) == StepPlan(3, 8, 24, 2, 128)
    assert TrainingConfig(epochs=1, num_train=10, num_eval=10, batch_size=5).plan(1, {"train": 1000}) == \
        StepPlan(1, 2, 2, 2, 5)  # given counts win over dataset.json's


@pytest.mark.parametrize("train_steps, epochs, plan", [
    (5, 2, (2, 3, 5)), (6, 2, (2, 3, 6)), (7, 5, (4, 2, 7)), (2, 3, (2, 1, 2)), (1, 1, (1, 1, 1))])
def test_train_steps_are_exactly_that_many_steps(train_steps, epochs, plan):
    """(epochs run, steps per epoch, steps in all): the last epoch is cut short, never the total rounded down."""
    got = TrainingConfig(epochs=epochs, train_steps=train_steps).plan(4, {"eval": 1})
    assert (got.epochs, got.steps_per_epoch, got.train_steps) == plan


def test_steps_without_counts_or_train_steps_name_the_missing_count():
    with pytest.raises(ConfigError, match="no train example count"):
        TrainingConfig(epochs=1, eval_steps=1).plan(1, {})


def test_training_config_travels_whole_through_custom_config_and_unknown_keys_are_refused():
    config = TrainingConfig(epochs=2, train_steps=9, batch_size=8, strategy="mirrored", model={"rnn_units": 8},
                            optimizer=OptimizerConfig(name="sgd", clip_norm=1.0), dropout=0.1, num_train=100,
                            data_metadata="/e/dataset.json")
    assert TrainingConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config  # as TFX stores it
    with pytest.raises(ConfigError, match=r"unknown training settings \['noise_factor'\]"):
        TrainingConfig.from_dict({**config.as_dict(), "noise_factor": 0.2})


@pytest.mark.parametrize("field", ["epochs", "train_steps", "eval_steps", "batch_size"])
def test_training_rejects_non_positive_values(field):
    values = dict(epochs=1, train_steps=1, eval_steps=1, batch_size=1)
    values[field] = 0
    with pytest.raises(ConfigError, match=f"^{field} must be a whole number >= 1, got 0$"):  # no dump of the config
        TrainingConfig(**values)


def test_custom_config_carries_strategy_and_seed():
    config = TrainingConfig(epochs=2, train_steps=10, eval_steps=2, strategy="mirrored", seed=7,
                            model={"rnn_units": 8}, data_metadata="/e/dataset.json")
    assert config.custom_config() == {"epochs": 2, "train_steps": 10, "eval_steps": 2, "batch_size": 64,
                                      "learning_rate": 1e-3, "strategy": "mirrored", "precision": "float32",
                                      "cache_input": True, "materialize_transform": False, "seed": 7,
                                      "model": {"rnn_units": 8},
                                      "optimizer": {"name": "adam", "schedule": "constant", "weight_decay": None,
                                                    "clip_norm": None},
                                      "dropout": None,
                                      "data_metadata": "/e/dataset.json", "num_train": None, "num_eval": None,
                                      "tuning": None}


def test_optimizer_settings_travel_through_custom_config_and_back():
    settings = OptimizerConfig(name="swats", schedule="cosine", weight_decay=1e-4, clip_norm=2.0)
    config = TrainingConfig(epochs=1, train_steps=1, eval_steps=1, learning_rate=0.05, optimizer=settings,
                            dropout=0.2)
    custom = json.loads(json.dumps(config.custom_config()))  # as TFX stores it
    assert OptimizerConfig.from_dict(custom["optimizer"]) == settings
    assert (custom["learning_rate"], custom["dropout"]) == (0.05, 0.2)
    assert OptimizerConfig.from_dict({}) == OptimizerConfig()  # a pipeline compiled before: the study's Adam


@pytest.mark.parametrize("changes, message", [
    (dict(learning_rate=0), "learning rate must be a number > 0, got 0"),
    (dict(learning_rate=float("nan")), "learning rate must be a number > 0"),
    (dict(dropout=1.0), "dropout must be a number >= 0 and < 1, got 1.0"),
    (dict(optimizer=OptimizerConfig(name="adam")), None),
])
def test_training_refuses_bad_rates(changes, message):
    values = dict(epochs=1, train_steps=1, eval_steps=1, **changes)
    if message is None:
        TrainingConfig(**values)
        return
    with pytest.raises(ConfigError, match=f"^{message}"):
        TrainingConfig(**values)


@pytest.mark.parametrize("options, message", [
    (dict(optimizer="lion"), "unknown optimizer 'lion'"),
    (dict(lr_schedule="step"), "unknown learning-rate schedule 'step'"),
    (dict(weight_decay=-1), "weight decay must be a number >= 0"),
    (dict(clip_norm=0), "clip norm must be a number > 0"),
    (dict(learning_rate=-0.1), "learning rate must be a number > 0"),
    (dict(dropout=-0.1), "dropout must be a number >= 0 and < 1"),
])
def test_run_options_refuse_bad_optimizer_settings(options, message):
    with pytest.raises(ConfigError, match=message):
        RunOptions(**options)


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
    from models.steps import get_step

    return build_config(get_step(step_name), RunOptions(**options), OutputLayout("/out"), "/e",
                        {"counts": {"train": 100, "eval": 10}})


def test_counts_not_given_come_from_the_profile():
    training = _built("dense", batch_size=10).training
    assert (training.epochs, training.batch_size, training.train_steps) == (2, 10, None)
    assert training.plan(1, {}).train_steps == 2 * 10  # the given counts: 100 examples, batch 10


def test_without_counts_the_trainer_counts_the_examples_at_run_time():
    from dlqos.runs import build_config
    from models.steps import get_step

    training = build_config(get_step("dense"), RunOptions(train_steps=7), OutputLayout("/out"), "/e").training
    assert (training.num_train, training.num_eval, training.train_steps) == (None, None, 7)
    assert training.data_metadata == "/e/dataset.json"


def test_each_step_takes_only_its_own_model_params():
    study = {"rnn_units": 64, "fine_tune_layers": 3, "steps": 5}
    assert _built("textgen", model=study).training.model == {"embedding_dim": 64, "rnn_units": 64}
    assert _built("transfer", model=study).training.model == {"fine_tune_layers": 3, "input_size": 96}  # quick
    dream = _built("deepdream", model=study).dream  # DreamModel's every field, JSON-ready, quick's overrides
    assert (dream["steps"], dream["checkpoints"], dream["octave_scale"]) == (5, [0, 20, 40, 60], 1.3)
    assert _built("dense", model=study).training.model == {}


def test_model_params_are_typed_and_unknown_ones_list_what_the_steps_take():
    assert model_params([STEPS["deepdream"]], [("step_size", "0.02"), ("checkpoints", "0,5")]) == {
        "step_size": 0.02, "checkpoints": (0, 5)}  # parsed once, here; the component gets [0, 5]
    with pytest.raises(ConfigError, match=r"not a parameter of dense, cnn; the parameters are: none$"):
        model_params([STEPS["dense"], STEPS["cnn"]], [("rnn_units", "8")])
    with pytest.raises(ConfigError, match=r"octaves=1.5: octaves must be int; the parameters are: checkpoints \(comma-separated ints\)"):
        model_params([STEPS["deepdream"]], [("octaves", "1.5")])
    with pytest.raises(ConfigError, match=r"checkpoints=0,x: checkpoints must be comma-separated ints"):
        model_params([STEPS["deepdream"]], [("checkpoints", "0,x")])


@pytest.mark.parametrize("step", sorted(STEPS))
def test_every_profile_model_param_is_declared_with_its_type(step):
    declared = STEPS[step].model_params
    for profile in STEPS[step].profiles.values():
        model = STEPS[step].model.from_dict(profile.model)  # the step's typed ModelConfig, defaults under them
        for key, value in profile.model.items():
            kind = typing.get_origin(declared[key]) or declared[key]  # tuple[int, ...]: a tuple
            assert getattr(model, key) == value and isinstance(value, kind), (key, value)


def test_the_model_config_travels_whole_and_comes_back_as_the_same_dataclass():
    from models.steps import TextgenModel

    model = TextgenModel.from_dict(_built("textgen", profile="quick").training.custom_config()["model"])
    assert model == TextgenModel(embedding_dim=64, rnn_units=256)
    assert TextgenModel.from_dict(model.as_dict()) == model and TextgenModel.from_dict({}).rnn_units == 1024
    with pytest.raises(ConfigError, match=r"unknown TextgenModel parameters \['rnn_unit'\]"):
        TextgenModel.from_dict({"rnn_unit": 8})


def test_the_default_training_is_unchanged_adam_at_the_profiles_rate():
    training = _built("autoencoder").training
    assert (training.optimizer, training.learning_rate, training.dropout) == (OptimizerConfig(), 3e-3, None)


def test_optimizer_options_reach_the_training_config_and_sgd_defaults_to_ten_times_the_rate():
    assert _built("dense", optimizer="sgd").training.learning_rate == pytest.approx(1e-2)
    assert _built("dense", optimizer="rmsprop").training.learning_rate == pytest.approx(1e-3)
    training = _built("cnn", optimizer="momentum", learning_rate=0.2, lr_schedule="exponential", weight_decay=1e-4,
                      clip_norm=5.0, dropout=0.1).training
    assert training.optimizer == OptimizerConfig(name="momentum", schedule="exponential", weight_decay=1e-4,
                                                 clip_norm=5.0)
    assert (training.learning_rate, training.dropout) == (0.2, 0.1)


def test_a_training_setting_a_step_would_ignore_is_refused():
    with pytest.raises(ConfigError, match=r"^--dropout does not apply to transfer \(no Dropout layer in its model\); "
                                          r"the steps that take it: dense, cnn$"):
        _built("transfer", dropout=0.2)
    with pytest.raises(ConfigError, match=r"^--optimizer does not apply to deepdream \(trains nothing\)"):
        _built("deepdream", optimizer="sgd")
    assert _built("deepdream").dream  # defaults are not "given"
