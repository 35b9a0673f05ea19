"""Step 4, "deep representation learning": the paper's convolutional denoising autoencoder on MNIST.

Exactly the paper's layer table (2,561 parameters on 28x28x1). Gaussian noise (--model-param noise_factor,
default 0.4 as in the keras-io example) is added in the input pipeline, never stored; the model learns noisy ->
clean. TFMA gates on the mean squared error between the clean image and the denoised noisy copy.
"""
from __future__ import annotations

import os

import tensorflow as tf

from models import training
from models.steps import AutoencoderModel
from models.steps.dense import preprocessing_fn  # noqa: F401  (pixels -> [0, 1], as in steps 1 and 2)

IMAGE_SHAPE = (28, 28, 1)
PIXELS = 28 * 28
EVAL_NOISE_SEED = 7  # the evaluation signature's noise is fixed so candidate and baseline see the same inputs


def build_model():
    """Conv2D(16,3) -> MaxPool -> Conv2D(8,3) -> MaxPool -> Conv2D(8,3) -> UpSampling -> Conv2DTranspose(8,3)
    -> UpSampling -> Conv2DTranspose(1,3): 160 + 1,160 + 584 + 584 + 73 = 2,561 parameters."""
    import tf_keras as keras

    inputs = keras.Input(shape=(PIXELS,), name=training.IMAGE_KEY)
    x = keras.layers.Reshape(IMAGE_SHAPE)(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D(padding="same")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D(padding="same")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = keras.layers.UpSampling2D()(x)
    x = keras.layers.Conv2DTranspose(8, 3, activation="relu", padding="same")(x)
    x = keras.layers.UpSampling2D()(x)
    x = keras.layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same", dtype="float32")(x)
    outputs = keras.layers.Reshape((PIXELS,), name="denoised")(x)
    return keras.Model(inputs, outputs, name="autoencoder")


def add_noise(images, factor: float, seed=None):
    noise = tf.random.normal(tf.shape(images), seed=seed) if seed is None else \
        tf.random.stateless_normal(tf.shape(images), seed=[seed, 0])
    return tf.clip_by_value(images + factor * noise, 0.0, 1.0)


def psnr(clean, denoised):
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return tf.image.psnr(tf.reshape(clean, [-1, *IMAGE_SHAPE]), tf.reshape(denoised, [-1, *IMAGE_SHAPE]), 1.0)


def feature_map_model(model):
    """The first convolution on its own (160 parameters): what the learned filters see."""
    import tf_keras as keras

    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    return keras.Model(model.inputs, first_conv.output, name="feature_maps")


def export(model, transform_output, export_dir: str, noise_factor: float) -> None:
    """serving_default: noisy pixels (0..255, float32 [N,28,28]) -> `denoised` pixels [N,28,28];
    evaluate_denoising: clean serialized tf.Example -> seeded noise -> `denoised` pixels [N,784] (for TFMA)."""
    raw_spec = transform_output.raw_feature_spec()
    raw_spec.pop(training.LABEL_KEY, None)
    module = tf.Module()
    module.model = model
    module.tft_layer = transform_output.transform_features_layer()

    def denoise(pixels_int64, noise_seed=None):
        clean = module.tft_layer({"pixels": pixels_int64})[training.IMAGE_KEY]
        inputs = clean if noise_seed is None else add_noise(clean, noise_factor, noise_seed)
        return module.model({training.IMAGE_KEY: inputs}) * 255.0

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="pixels")])
    def serve(pixels):
        flat = tf.cast(tf.round(tf.clip_by_value(tf.reshape(pixels, [-1, PIXELS]), 0.0, 255.0)), tf.int64)
        return {"denoised": tf.reshape(denoise(flat), [-1, 28, 28])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluate_denoising(examples):
        return {"denoised": denoise(tf.io.parse_example(examples, raw_spec)["pixels"], EVAL_NOISE_SEED)}

    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": serve.get_concrete_function(),
        "evaluate_denoising": evaluate_denoising.get_concrete_function(),
    })


def save_figures(model, dataset, out_dir: str, noise_factor: float) -> dict:
    """denoising.png (noisy / denoised / clean, like the paper's figure 7) and feature_maps.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = next(iter(dataset))[0][training.IMAGE_KEY][:8]
    noisy = add_noise(clean, noise_factor, EVAL_NOISE_SEED)
    denoised = model({training.IMAGE_KEY: noisy})
    figure, axes = plt.subplots(3, 8, figsize=(8, 3.2))
    for row, (title, images) in enumerate((("noisy", noisy), ("denoised", denoised), ("clean", clean))):
        for column in range(8):
            axes[row, column].imshow(tf.reshape(images[column], [28, 28]).numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, column].axis("off")
        axes[row, 0].set_title(title, fontsize=8, loc="left")
    figure.savefig(os.path.join(out_dir, "denoising.png"), dpi=80, bbox_inches="tight")
    plt.close(figure)
    maps = feature_map_model(model)({training.IMAGE_KEY: clean[:4]}).numpy()
    figure, axes = plt.subplots(4, 16, figsize=(12, 3.2))
    for image in range(4):
        for channel in range(16):
            axes[image, channel].imshow(maps[image, :, :, channel], cmap="viridis")
            axes[image, channel].axis("off")
    figure.savefig(os.path.join(out_dir, "feature_maps.png"), dpi=80, bbox_inches="tight")
    plt.close(figure)
    return {"psnr_db": float(tf.reduce_mean(psnr(clean, denoised))),
            "noisy_psnr_db": float(tf.reduce_mean(psnr(clean, noisy)))}


bench_model = build_model  # TrainedStepModule: the untrained model at its default shapes (dlqos bench)


def noisy_to_clean(noise_factor: float):
    """(features, label) batches -> (noisy image, clean image): what the autoencoder learns to undo."""

    def pair(features, _label):
        clean = features[training.IMAGE_KEY]
        return {training.IMAGE_KEY: add_noise(clean, noise_factor)}, clean

    return pair


def run_fn(fn_args):
    """TFX Trainer entry point: fit noisy -> clean, export both signatures, write figures and the record."""
    import tensorflow_transform as tft
    import tf_keras as keras

    config = training.trainer_config(fn_args)
    noise_factor = AutoencoderModel.from_dict(config.model).noise_factor
    # Binary cross-entropy on the sigmoid output, as in the keras-io example: MSE plateaus at a blank image.
    model, record = training.fit(fn_args, build_model, loss=keras.losses.BinaryCrossentropy(),
                                 metrics=lambda: [keras.metrics.MeanSquaredError(name="mse")],
                                 dataset_map=noisy_to_clean(noise_factor))
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    with training.worker_export_dir(config.strategy, fn_args.serving_model_dir) as export_dir:
        export(model, transform_output, export_dir, noise_factor)
    evaluation = training.input_dataset(fn_args, fn_args.eval_files, transform_output, 64, 0,
                                        materialized=config.materialize_transform)
    with training.worker_export_dir(config.strategy, training.model_artifact_dir(fn_args)) as out_dir:
        tf.io.gfile.makedirs(out_dir)
        record["denoising"] = {"noise_factor": noise_factor, **save_figures(model, evaluation, out_dir, noise_factor)}
    training.write_training_record(fn_args, record)


def tuner_fn(fn_args):
    """TFX Tuner entry point: learning rate and optimizer against the eval split's denoising loss."""
    import tf_keras as keras

    noise_factor = AutoencoderModel.from_dict(training.trainer_config(fn_args).model).noise_factor
    return training.tune(fn_args, "autoencoder", lambda settings: build_model(),
                         loss=keras.losses.BinaryCrossentropy(),
                         metrics=lambda: [keras.metrics.MeanSquaredError(name="mse")],
                         dataset_map=noisy_to_clean(noise_factor))
