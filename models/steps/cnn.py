"""Step 2, "computer vision": a convolutional classifier for low-resolution images.

Convolutions, pooling and dropout ("a lot of parameters, convolutions and drops"), after the TensorFlow CNN
tutorial the paper follows (313/313 test batches on CIFAR-10: loss 0.6811, accuracy 77.37%). Runs on
Fashion-MNIST by default, so steps 1 and 2 compare on the same data; `--dataset cifar10` is the paper's data
(the model adapts to the stored image shape and class count).
"""
from __future__ import annotations

from models import training
from models.steps.dense import preprocessing_fn  # noqa: F401  (same pixels -> [0, 1] scaling as step 1)

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_model(image_shape=IMAGE_SHAPE, num_classes: int = NUM_CLASSES, dropout=None):
    """dropout: one rate for every Dropout layer (None: the tutorial's 0.25 after convolutions, 0.5 before the
    output)."""
    import tf_keras as keras

    height, width, channels = image_shape
    inputs = keras.Input(shape=(height * width * channels,), name=training.IMAGE_KEY)
    x = keras.layers.Reshape(tuple(image_shape))(inputs)
    for filters, pool in ((32, True), (64, True), (64, False)):
        x = keras.layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        if pool:
            x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Dropout(0.25 if dropout is None else dropout)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dropout(0.5 if dropout is None else dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


bench_model = build_model  # TrainedStepModule: the untrained model at its default shapes (dlqos bench)


def run_fn(fn_args):
    """TFX Trainer entry point."""
    training.run_image_classifier(fn_args, build_model)


def tuner_fn(fn_args):
    """TFX Tuner entry point: the search whose best values the Trainer's run_fn applies."""
    return training.tune_image_classifier(fn_args, "cnn", build_model)
