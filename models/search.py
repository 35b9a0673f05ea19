"""KerasTuner for the TFX Tuner's executor: the search space as KerasTuner hyper-parameters, a random search whose
first trial is the configuration as given and that starts no trial past its time budget, and a tuner that trains
tf_keras models (KerasTuner's own Tuner accepts only Keras 3 models; our models are tf_keras, as TFX's are).

Imported by models.training.tune only: KerasTuner loads Keras 3 (about 2 s), which the Trainer does not need.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import keras_tuner
from keras_tuner.engine import base_tuner, trial as trial_module

from models.tuning import Dimension


def hyperparameters(space: Sequence[Dimension]) -> keras_tuner.HyperParameters:
    """The space as KerasTuner declares it; a dimension without a default starts at its low end."""
    declared = keras_tuner.HyperParameters()
    for dimension in space:
        if dimension.kind == "choice":
            declared.Choice(dimension.name, list(dimension.choices), default=dimension.default)
        else:
            declared.Float(dimension.name, dimension.low, dimension.high, step=dimension.step,
                           sampling="log" if dimension.kind == "log" else "linear",
                           default=dimension.low if dimension.default is None else dimension.default)
    return declared


class BudgetedRandomSearch(keras_tuner.oracles.RandomSearchOracle):
    """Random search over a declared space. The first trial is first_values (the configuration as given), so the
    results compare the best with the defaults; no trial starts once max_seconds have passed since the first."""

    def __init__(self, first_values: dict, max_seconds: Optional[float], **kwargs):
        # A trial that raises (a bad setting, a model that cannot be built) ends the search with its error; a
        # trial that merely trains badly scores badly.
        super().__init__(allow_new_entries=False, tune_new_entries=False, max_consecutive_failed_trials=1, **kwargs)
        self.first_values = dict(first_values)
        self.max_seconds = max_seconds
        self.started = None
        self.first_trial_id = None

    def populate_space(self, trial_id):
        self.started = self.started or time.monotonic()
        if self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds:
            return {"status": trial_module.TrialStatus.STOPPED, "values": None}
        if not self.trials:
            self.first_trial_id = trial_id
            return {"status": trial_module.TrialStatus.RUNNING, "values": dict(self.first_values)}
        return super().populate_space(trial_id)

    def _record_values(self, trial):
        """KerasTuner fills the dimensions a trial leaves out with random values; the first trial leaves out on
        purpose what the configuration has no single value for (a model's own dropout rates), so they stay out."""
        if trial.trial_id != self.first_trial_id:  # when created and again when it ends
            return super()._record_values(trial)
        values_hash = self._compute_values_hash(trial.hyperparameters.values)
        self._tried_so_far.add(values_hash)
        self._id_to_hash[trial.trial_id] = values_hash


class ModelSearch(base_tuner.BaseTuner):
    """One trial: build(values) compiles a fresh tf_keras model, fitted with the search's fit arguments; its score
    is the objective after the last epoch, as the Trainer's model would end."""

    def __init__(self, oracle, build: Callable[[dict], object], directory: str, project_name: str):
        super().__init__(oracle=oracle, directory=directory, project_name=project_name, overwrite=True)
        self.build = build

    def run_trial(self, trial, **fit_kwargs):
        model = self.build(dict(trial.hyperparameters.values))
        history = model.fit(**fit_kwargs)
        return {name: float(values[-1]) for name, values in history.history.items()}
