"""models.optimizers: each configured optimizer, schedule, clipping and L2 penalty does what it says; SWATS
switches from Adam to SGD and then makes SGD updates."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from common.config import OptimizerConfig
from common.errors import ConfigError
from models.optimizers import SWATS, add_l2_penalty, build_optimizer, describe


def test_the_default_is_the_studys_plain_adam():
    optimizer = build_optimizer(OptimizerConfig(), 1e-3, 100)
    assert type(optimizer) is keras.optimizers.Adam
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    assert (optimizer.global_clipnorm, optimizer.clipnorm, optimizer.weight_decay) == (None, None, None)


@pytest.mark.parametrize("name, cls, attributes", [
    ("sgd", keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
    ("momentum", keras.optimizers.SGD, {"momentum": 0.9, "nesterov": False}),
    ("nesterov", keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
    ("rmsprop", keras.optimizers.RMSprop, {}),
    ("adamw", keras.optimizers.AdamW, {"weight_decay": 0.004}),  # Keras' default decoupled decay
    ("swats", SWATS, {"switch_tolerance": 1e-3, "min_steps": 10}),  # a tenth of the 100-step phase
])
def test_each_name_builds_its_optimizer(name, cls, attributes):
    optimizer = build_optimizer(OptimizerConfig(name=name), 0.05, 100)
    assert type(optimizer) is cls and float(optimizer.learning_rate) == pytest.approx(0.05)
    assert {key: getattr(optimizer, key) for key in attributes} == attributes


def test_an_unknown_optimizer_or_schedule_is_an_error():
    with pytest.raises(ConfigError, match="unknown optimizer 'lion'"):
        OptimizerConfig(name="lion")
    with pytest.raises(ConfigError, match="unknown learning-rate schedule 'linear'"):
        OptimizerConfig(schedule="linear")
    with pytest.raises(ConfigError, match="unknown optimizer settings \\['momentum'\\]"):
        OptimizerConfig.from_dict({"name": "sgd", "momentum": 0.5})


@pytest.mark.parametrize("schedule, start, end", [("constant", 0.1, 0.1), ("cosine", 0.1, 0.0),
                                                  ("exponential", 0.1, 0.01)])
def test_schedules_decay_over_the_phase(schedule, start, end):
    optimizer = build_optimizer(OptimizerConfig(name="sgd", schedule=schedule), 0.1, 50)
    rate = optimizer._learning_rate
    at = (lambda step: float(rate(step))) if callable(rate) else (lambda step: float(rate))
    assert at(0) == pytest.approx(start) and at(50) == pytest.approx(end, abs=1e-7)
    assert at(25) < start or schedule == "constant"


def test_clip_norm_bounds_the_global_gradient_norm():
    variables = [tf.Variable([0.0, 0.0]), tf.Variable([0.0])]
    optimizer = build_optimizer(OptimizerConfig(name="sgd", clip_norm=1.0), 1.0, 10)
    optimizer.apply_gradients(zip([tf.constant([30.0, 40.0]), tf.constant([0.0])], variables))
    np.testing.assert_allclose(variables[0].numpy(), [-0.6, -0.8], rtol=1e-6)  # the gradient scaled to norm 1


def _tiny_model():
    inputs = keras.Input(shape=(3,))
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))


def test_weight_decay_is_an_l2_penalty_on_kernels_only():
    model = _tiny_model()
    kernel = model.get_layer("out").kernel
    bias = model.get_layer("out").bias
    kernel.assign(tf.ones_like(kernel))
    bias.assign(tf.fill(bias.shape, 5.0))
    assert add_l2_penalty(model, OptimizerConfig(name="sgd", weight_decay=0.1)) == 0.1
    assert float(tf.add_n(model.losses)) == pytest.approx(0.1 / 2 * 6)  # six kernel weights of 1, no bias


def test_adamw_decays_its_own_way_and_gets_no_penalty():
    model = _tiny_model()
    assert add_l2_penalty(model, OptimizerConfig(name="adamw", weight_decay=0.1)) is None and not model.losses
    assert add_l2_penalty(model, OptimizerConfig(name="sgd")) is None and not model.losses
    optimizer = build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.1), 1e-3, 10)
    record = describe(optimizer, OptimizerConfig(name="adamw", weight_decay=0.1), 1e-3)
    assert (record["weight_decay"], record["weight_decay_kind"], record["class"]) == (0.1, "decoupled", "AdamW")


def _swats_on(variable, gradients, **settings):
    optimizer = SWATS(0.01, **settings)
    for gradient in gradients:
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
    return optimizer


def test_swats_switches_when_its_sgd_rate_estimate_settles():
    """A steady gradient: Adam's step has a steady projection, so the estimated SGD rate settles and it switches
    (once the warm-up is over); a gradient that flips sign every step never gives a positive settled rate."""
    steady = tf.Variable([1.0, 2.0, 3.0])
    optimizer = _swats_on(steady, [[0.5, -1.0, 2.0]] * 8, min_steps=4)
    state = optimizer.state(steady)
    assert float(state["switch_step"]) == 5.0  # the first step tested
    assert float(state["sgd_rate"]) == pytest.approx(0.01 * 3 / 3.5, rel=1e-3)  # |p|^2 / -p.g with p = -lr sign(g)
    flipping = tf.Variable([1.0, 2.0, 3.0])
    optimizer = _swats_on(flipping, [[0.5, -1.0, 2.0], [-0.5, 1.0, -2.0]] * 10, min_steps=4)
    assert float(optimizer.state(flipping)["switch_step"]) == 0.0
    assert optimizer.switch_summary()["switched"] == 0


def test_after_switching_swats_makes_momentum_sgd_updates():
    variable = tf.Variable([1.0, 2.0, 3.0])
    optimizer = _swats_on(variable, [[0.5, -1.0, 2.0]] * 8, min_steps=4)
    state = optimizer.state(variable)
    rate = float(state["sgd_rate"])
    momentum = state["u"].numpy()
    adam_moments = state["m"].numpy(), state["v"].numpy()
    for gradient in ([3.0, 0.0, -1.0], [1.0, 1.0, 1.0]):
        before = variable.numpy()
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
        momentum = 0.9 * momentum + np.array(gradient)
        np.testing.assert_allclose(variable.numpy() - before, -(1 - 0.9) * rate * momentum, atol=1e-6)  # Adam: ~1e-2 each
    np.testing.assert_array_equal(state["m"].numpy(), adam_moments[0])  # Adam's moments no longer move
    np.testing.assert_array_equal(state["v"].numpy(), adam_moments[1])
    summary = optimizer.switch_summary()
    assert (summary["switched"], summary["first_step"]) == (1, 5)


def test_swats_trains_a_keras_model_and_records_its_switch():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((256, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    settings = OptimizerConfig(name="swats", clip_norm=10.0)
    model.compile(build_optimizer(settings, 0.05, 80), loss="mse")
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < history[0] / 10
    record = describe(model.optimizer, settings, 0.05)
    assert record["class"] == "SWATS" and record["clip_norm"] == 10.0
    assert record["switch"]["variables"] == 2 and record["switch"]["min_steps"] == 8


def _swats_fit(seed: int):
    """A small classifier trained with SWATS from Keras' seeded initialisation and shuffling."""
    keras.utils.set_random_seed(seed)
    x = np.random.default_rng(0).random((512, 8)).astype("float32")
    y = (x.sum(axis=1) > 4).astype("int64")
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(8,)), keras.layers.Dense(2)])
    model.compile(build_optimizer(OptimizerConfig(name="swats"), 1e-3, 160),  # switches a variable at step 64
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=10, batch_size=32, shuffle=True, verbose=0).history["loss"]
    return history, [w.numpy() for w in model.weights], model.optimizer.switch_summary()


def test_swats_with_the_same_seed_repeats_exactly():
    """Repeatable runs for the custom optimizer: its switch (a float comparison) must not depend on anything
    but the seed; another seed initialises and shuffles otherwise."""
    history, weights, switch = _swats_fit(3)
    again, again_weights, again_switch = _swats_fit(3)
    assert again == history and again_switch == switch and switch["switched"] > 0
    for one, other in zip(weights, again_weights):
        np.testing.assert_array_equal(one, other)
    assert _swats_fit(4)[0] != history
