"""The Trainer's optimizer as configuration (common.config.OptimizerConfig -> a tf_keras optimizer).

The paper compares first-order methods (SGD, momentum), adaptive ones (RMSprop, Adam, AdamW) and switching from
Adam to SGD (SWATS, Keskar & Socher 2017, "Improving Generalization Performance by Switching from Adam to SGD").
Each takes a learning rate and a schedule over its training phase; the gradients' global norm may be clipped and
the kernels L2-penalised. The default, OptimizerConfig(), builds exactly the study's original Adam(learning_rate).
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras as keras

from common.config import OptimizerConfig

MOMENTUM = 0.9  # momentum and nesterov: the usual heavy-ball coefficient
EXPONENTIAL_FINAL_FRACTION = 0.1  # exponential: the rate falls to a tenth of its start over the phase
SWATS_WARMUP_FRACTION = 10  # swats: Adam for the first tenth of the phase before the switch criterion is tested


def learning_rate_schedule(schedule: str, learning_rate: float, decay_steps: int):
    """constant: the rate itself; cosine: to 0 over decay_steps; exponential: to a tenth over decay_steps."""
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=decay_steps)
    if schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps=decay_steps,
                                                           decay_rate=EXPONENTIAL_FINAL_FRACTION)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")  # OptimizerConfig refuses it first


def build_optimizer(settings: OptimizerConfig, learning_rate: float, decay_steps: int) -> keras.optimizers.Optimizer:
    """A fresh optimizer for one training phase of decay_steps steps (build inside the strategy scope)."""
    rate = learning_rate_schedule(settings.schedule, learning_rate, max(1, decay_steps))
    common = {"global_clipnorm": settings.clip_norm} if settings.clip_norm is not None else {}
    name = settings.name
    if name == "adam":
        return keras.optimizers.Adam(rate, **common)
    if name == "adamw":
        decay = {} if settings.weight_decay is None else {"weight_decay": settings.weight_decay}
        return keras.optimizers.AdamW(rate, **decay, **common)
    if name in ("sgd", "momentum", "nesterov"):
        return keras.optimizers.SGD(rate, momentum=0.0 if name == "sgd" else MOMENTUM,
                                    nesterov=name == "nesterov", **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rate, **common)
    if name == "swats":
        return SWATS(rate, min_steps=max(1, decay_steps // SWATS_WARMUP_FRACTION), **common)
    raise ValueError(f"unknown optimizer {name!r}")  # OptimizerConfig refuses it first


def l2_penalised(variable) -> bool:
    """Kernels, recurrent kernels and embeddings: not biases, nor BatchNorm's scales and shifts."""
    return variable.shape.rank is not None and variable.shape.rank >= 2


def add_l2_penalty(model: keras.Model, settings: OptimizerConfig) -> Optional[float]:
    """weight_decay/2 * sum of squared trainable kernels as a model loss, so its gradient is weight_decay * w (SGD's
    weight decay). AdamW decays its own way (decoupled), so it gets none here. Returns the coefficient added."""
    if settings.weight_decay is None or settings.name == "adamw":
        return None
    coefficient = settings.weight_decay

    def penalty():
        kernels = [w for w in model.trainable_weights if l2_penalised(w)]  # read when traced: fine-tuning adds some
        return coefficient * tf.add_n([tf.nn.l2_loss(tf.cast(w, tf.float32)) for w in kernels] or [tf.constant(0.0)])

    model.add_loss(penalty)
    return coefficient


def describe(optimizer, settings: OptimizerConfig, learning_rate: float) -> dict:
    """The training record's account of how the weights were updated (what tells compared variants apart)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # under mixed_float16, a LossScaleOptimizer
    decoupled = settings.name == "adamw"
    record = {"name": settings.name, "class": type(inner).__name__, "learning_rate": learning_rate,
              "schedule": settings.schedule, "clip_norm": settings.clip_norm,
              "weight_decay": inner.weight_decay if decoupled else settings.weight_decay,
              "weight_decay_kind": "decoupled" if decoupled else "l2" if settings.weight_decay is not None else None}
    if settings.name in ("momentum", "nesterov"):
        record["momentum"] = MOMENTUM
    if isinstance(inner, SWATS):
        record["switch"] = inner.switch_summary()
    return record


class SWATS(keras.optimizers.Optimizer):
    """Adam that switches to SGD, per variable, by Keskar & Socher's criterion (their Algorithm 1).

    Adam phase, at step k: p = Adam's step; if p.g != 0, gamma = (p.p) / (-p.g) is the SGD rate whose step along g
    has p's projection, and lambda = beta_2 * lambda + (1 - beta_2) * gamma its running average. When the
    bias-corrected average Lambda = lambda / (1 - beta_2^k) is positive and |Lambda - gamma| < switch_tolerance *
    Lambda, the variable switches for good to SGD with momentum beta_1 at the rate Lambda:
    u = beta_1 * u + g;  w -= (1 - beta_1) * Lambda * u.
    Two departures, measured on a synthetic 4,000-example MLP (lr 1e-3, 315 steps): the paper's absolute tolerance
    1e-9 (and 1e-6) is below float32's resolution at the rates seen (Lambda ~ 1e-2..1e-1): nothing switched, so
    the tolerance is relative (1e-3); and tested from k = 2 as in the paper, looser tolerances switched variables
    after 2-12 steps (an average of a few steps matches gamma by chance), losing 2 points of accuracy, so the
    criterion is tested only from k > min_steps
    (build_optimizer: a tenth of the phase). Reference implementations also switch per parameter tensor; the
    learning-rate schedule acts only in the Adam phase (Lambda is then fixed).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, switch_tolerance=1e-3,
                 min_steps=1, name="SWATS", **kwargs):
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.switch_tolerance = switch_tolerance
        self.min_steps = min_steps

    SLOTS = ("m", "v", "u")  # Adam's moments; the SGD phase's momentum buffer
    SCALARS = ("average_rate", "sgd_rate", "switch_step")  # lambda, Lambda, the step it switched at (0: not yet)

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._state = {name: [self.add_variable_from_reference(var, name) for var in var_list]
                       for name in self.SLOTS}
        self._state.update({name: [self.add_variable_from_reference(var, name, shape=[]) for var in var_list]
                            for name in self.SCALARS})

    def state(self, variable) -> dict:
        index = self._index_dict[self._var_key(variable)]
        return {name: slots[index] for name, slots in self._state.items()}

    def update_step(self, gradient, variable):
        gradient = tf.convert_to_tensor(gradient)  # embeddings' IndexedSlices: the criterion needs the whole step
        state = self.state(variable)
        tf.cond(state["switch_step"] > 0, lambda: self._sgd_step(gradient, variable, state),
                lambda: self._adam_step(gradient, variable, state))

    def _sgd_step(self, gradient, variable, state):
        state["u"].assign(self.beta_1 * state["u"] + gradient)
        variable.assign_sub((1 - self.beta_1) * state["sgd_rate"] * state["u"])
        return tf.constant(True)

    def _adam_step(self, gradient, variable, state):
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        m = state["m"].assign(beta_1 * state["m"] + (1 - beta_1) * gradient)
        v = state["v"].assign(beta_2 * state["v"] + (1 - beta_2) * tf.square(gradient))
        alpha = tf.cast(self.learning_rate, dtype) * tf.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
        p = -alpha * m / (tf.sqrt(v) + self.epsilon)
        variable.assign_add(p)
        p_dot_g = tf.reduce_sum(p * gradient)
        gamma = tf.math.divide_no_nan(tf.reduce_sum(p * p), -p_dot_g)
        average = tf.where(p_dot_g != 0, beta_2 * state["average_rate"] + (1 - beta_2) * gamma, state["average_rate"])
        state["average_rate"].assign(average)
        rate = average / (1 - beta_2 ** step)
        switch = (p_dot_g != 0) & (step > self.min_steps) & (rate > 0) & (tf.abs(rate - gamma) < self.switch_tolerance * rate)
        state["sgd_rate"].assign(tf.where(switch, rate, state["sgd_rate"]))
        state["switch_step"].assign(tf.where(switch, step, state["switch_step"]))
        return tf.constant(False)

    def switch_summary(self) -> dict:
        """How many variables switched to SGD, when, and at which rates (for the training record)."""
        steps = [float(s.numpy()) for s in self._state["switch_step"]] if getattr(self, "_built", False) else []
        rates = [float(r.numpy()) for r, s in zip(self._state["sgd_rate"], steps) if s > 0] if steps else []
        switched = [int(s) for s in steps if s > 0]
        return {"criterion": "Keskar & Socher 2017, per variable, relative", "tolerance": self.switch_tolerance,
                "min_steps": self.min_steps,
                "variables": len(steps), "switched": len(switched),
                "first_step": min(switched, default=None), "last_step": max(switched, default=None),
                "sgd_rates": {"min": min(rates, default=None), "max": max(rates, default=None)}}

    def get_config(self):
        return {**super().get_config(), "learning_rate": self._serialize_hyperparameter(self._learning_rate),
                "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "switch_tolerance": self.switch_tolerance, "min_steps": self.min_steps}
