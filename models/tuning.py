"""The Tuner's search space, built from the typed configuration, and a trial's values applied back onto it.

Pure configuration (no TensorFlow): models.training turns the space into KerasTuner hyper-parameters for the TFX
Tuner, and the Trainer applies the Tuner's best_hyperparameters with apply_hyperparameters, so the values travel
under the names the space declares and nothing else is accepted.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from common.config import OptimizerConfig, TrainingConfig, TuningConfig
from common.errors import ConfigError

LEARNING_RATE = "learning_rate"
OPTIMIZER = "optimizer"
DROPOUT = "dropout"
MODEL_PREFIX = "model."  # a width of the step's ModelConfig: "model.rnn_units"
TUNABLE_WIDTH = {"tune": "width"}  # dataclasses.field metadata: the Tuner tries half, the value and twice it
DROPOUT_STEP = 0.05


@dataclass(frozen=True)
class Dimension:
    """One hyper-parameter of the search. kind: "log" (a float sampled log-uniformly in [low, high]), "linear"
    (a float in [low, high] by `step`) or "choice" (one of `choices`). default: the configured value, which the
    first trial uses; None where the configuration has no single value (a model's own dropout rates), so the
    first trial leaves the dimension out and the model keeps its own."""

    name: str
    kind: str
    default: object = None
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[float] = None
    choices: tuple = ()


def search_space(training: TrainingConfig, model_class, takes_dropout: bool) -> Tuple[Dimension, ...]:
    """The dimensions for a step: learning rate, optimizer, dropout (takes_dropout) and its tunable widths."""
    tuning = training.tuning or TuningConfig()
    rate = training.learning_rate
    span = tuning.learning_rate_span
    optimizers = tuple(dict.fromkeys((training.optimizer.name, *tuning.optimizers)))
    space = [Dimension(LEARNING_RATE, "log", rate, low=rate / span, high=rate * span),
             Dimension(OPTIMIZER, "choice", training.optimizer.name, choices=optimizers)]
    if takes_dropout:
        space.append(Dimension(DROPOUT, "linear", training.dropout, low=0.0, high=tuning.max_dropout,
                               step=DROPOUT_STEP))
    model = model_class.from_dict(training.model)
    for width in (f for f in dataclasses.fields(model_class) if f.metadata.get("tune") == "width"):
        value = getattr(model, width.name)
        space.append(Dimension(MODEL_PREFIX + width.name, "choice", value,
                               choices=tuple(dict.fromkeys((value, max(1, value // 2), value * 2)))))
    return tuple(space)


def default_values(space: Tuple[Dimension, ...]) -> dict:
    """The first trial: the configuration as given (a dimension without a default is left out)."""
    return {dimension.name: dimension.default for dimension in space if dimension.default is not None}


def apply_hyperparameters(training: TrainingConfig, values: Mapping) -> TrainingConfig:
    """`training` with a trial's values (the Tuner's best_hyperparameters in the Trainer). A name outside the
    space's is an error; a model width the step does not have fails where the step rebuilds its ModelConfig, a
    dropout for a model without Dropout layers where the Trainer builds it (check_dropout)."""
    unknown = sorted(name for name in values if name not in (LEARNING_RATE, OPTIMIZER, DROPOUT)
                     and not name.startswith(MODEL_PREFIX))
    if unknown:
        raise ConfigError(f"unknown hyper-parameter(s) {unknown}: the Trainer takes {LEARNING_RATE}, {OPTIMIZER}, "
                          f"{DROPOUT} and {MODEL_PREFIX}<width>")
    changes = {}
    if LEARNING_RATE in values:
        changes["learning_rate"] = float(values[LEARNING_RATE])
    if OPTIMIZER in values:
        changes["optimizer"] = OptimizerConfig.from_dict({**training.optimizer.to_dict(), "name": values[OPTIMIZER]})
    if DROPOUT in values:
        changes["dropout"] = float(values[DROPOUT])
    widths = {name[len(MODEL_PREFIX):]: value for name, value in values.items() if name.startswith(MODEL_PREFIX)}
    if widths:
        changes["model"] = {**training.model, **widths}
    return dataclasses.replace(training, **changes)
