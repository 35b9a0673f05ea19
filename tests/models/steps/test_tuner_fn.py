"""Each trained step's tuner_fn on a real Transform graph and 12 examples: KerasTuner runs the trials on the step's
model, trial 0 is the configuration as given, and the best values apply back onto the TrainingConfig."""
import importlib

import pytest

from common.config import TuningConfig
from models.tuning import LEARNING_RATE, OPTIMIZER, apply_hyperparameters
from tests.models.steps.trainer import pipeline_training, trainer_fn_args, transform_data  # noqa: F401  (fixture)

TRIALS = 2
pytestmark = pytest.mark.slow  # about 15 s a step: KerasTuner trials of the real models


def tuner_result(transform_data, out_dir, step: str, **options):  # noqa: F811
    """(TrainingConfig, what the step's tuner_fn returns) for fn_args as TFX's Tuner builds them."""
    config = pipeline_training(transform_data, step, epochs=1, batch_size=12, strategy="cpu",
                               tuning=TuningConfig(max_trials=TRIALS, seed=3), **options)
    fn_args = trainer_fn_args(transform_data, config, str(out_dir))
    fn_args.transform_graph_path = fn_args.transform_output
    fn_args.working_dir = str(out_dir / "tuner")
    del fn_args.transform_output  # the Tuner's FnArgs have transform_graph_path only
    return config, importlib.import_module(f"models.steps.{step}").tuner_fn(fn_args)


@pytest.mark.parametrize("step, options", [
    ("dense", {}), ("cnn", {}), ("autoencoder", {}), ("transfer", {"model": {"input_size": 96}})])
def test_tuner_fn_searches_the_steps_model_from_its_configuration(transform_data, tmp_path, step, options):  # noqa: F811
    config, result = tuner_result(transform_data, tmp_path, step, **options)
    result.tuner.search(**result.fit_kwargs)
    trials = {trial.trial_id: trial for trial in result.tuner.oracle.trials.values()}
    assert len(trials) == TRIALS and all(trial.status == "COMPLETED" for trial in trials.values())
    first = trials[min(trials)].hyperparameters.values
    assert first == {LEARNING_RATE: config.learning_rate, OPTIMIZER: "adam"}  # own dropout: left out
    best = result.tuner.get_best_hyperparameters()[0].values
    assert apply_hyperparameters(config, best).learning_rate == best[LEARNING_RATE]


def test_a_trial_that_raises_ends_the_search_with_its_error(transform_data, tmp_path):  # noqa: F811
    _, result = tuner_result(transform_data, tmp_path, "transfer", model={"backbone_weights": "none"})
    with pytest.raises(RuntimeError, match="MobileNetV2 weights must be"):
        result.tuner.search(**result.fit_kwargs)
