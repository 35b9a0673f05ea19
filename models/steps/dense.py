"""Step 1, "non-linearity": a ReLU multi-layer perceptron on Fashion-MNIST.

The paper shows loss falling 0.64 -> 0.25 and accuracy rising 60% -> 88% as the non-linear layers learn;
this module is that model, its Transform and its Trainer entry point.
"""
from __future__ import annotations

import tensorflow as tf

from models import training

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
HIDDEN_UNITS = (256, 128)


def preprocessing_fn(inputs):
    """Pixels 0..255 (int64 [N, 784]) -> floats in [0, 1]; the label passes through."""
    return {
        training.IMAGE_KEY: tf.cast(inputs["pixels"], tf.float32) / 255.0,
        training.LABEL_KEY: inputs[training.LABEL_KEY],
    }


def build_model(image_shape=IMAGE_SHAPE, num_classes: int = NUM_CLASSES, dropout=None):
    """The paper's MLP; dropout (a rate, for the optimization study's regularisation) adds a Dropout layer after
    each hidden layer (None: none, the paper's model)."""
    import tf_keras as keras

    height, width, channels = image_shape
    inputs = keras.Input(shape=(height * width * channels,), name=training.IMAGE_KEY)
    x = inputs
    for units in HIDDEN_UNITS:
        x = keras.layers.Dense(units, activation="relu")(x)
        if dropout is not None:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="dense")


bench_model = build_model  # TrainedStepModule: the untrained model at its default shapes (dlqos bench)


def run_fn(fn_args):
    """TFX Trainer entry point."""
    training.run_image_classifier(fn_args, build_model)


def tuner_fn(fn_args):
    """TFX Tuner entry point: the search whose best values the Trainer's run_fn applies."""
    return training.tune_image_classifier(fn_args, "dense", build_model)
