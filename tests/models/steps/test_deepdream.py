import numpy as np
import pytest
import tf_keras as keras

from models import backbones
from common.errors import ConfigError
from models.steps import deepdream
from models.training import parameter_counts


def tiny_backbone():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="low", kernel_initializer=keras.initializers.he_normal(1))(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="high", kernel_initializer=keras.initializers.he_normal(2))(x)
    return keras.Model(inputs, x, name="tiny")


def photo(height=48, width=64, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(height, width, 3), dtype=np.uint8)


def test_paper_inception_v3_parameter_split():
    """Paper: InceptionV3 without its top, 21,802,784 parameters, 21,768,352 trainable, 34,432 not."""
    model, source = backbones.inception_v3(None)
    assert parameter_counts(model) == {"total": 21802784, "trainable": 21768352, "non_trainable": 34432}
    assert "random" in source
    assert {"mixed3", "mixed5"} <= {layer.name for layer in model.layers}


def test_gradient_ascent_raises_the_loss_at_every_checkpoint():
    settings = deepdream.DreamSettings(steps=30, checkpoints=(0, 10, 20, 30), step_size=0.05, tile_size=512)
    snapshots = deepdream.dream(deepdream.dream_model(tiny_backbone(), ["low", "high"]), photo(), settings)
    assert [s["step"] for s in snapshots] == [0, 10, 20, 30]
    losses = [s["loss"] for s in snapshots]
    assert all(later > earlier for earlier, later in zip(losses, losses[1:])), losses
    assert all(s["image"].shape == (48, 64, 3) and s["image"].dtype == np.uint8 for s in snapshots)
    assert not np.array_equal(snapshots[0]["image"], snapshots[-1]["image"])


def test_tiles_and_octaves_on_an_image_larger_than_a_tile_are_reproducible():
    settings = deepdream.DreamSettings(steps=6, checkpoints=(6,), step_size=0.05, octaves=2, octave_scale=1.5,
                                       tile_size=32, seed=3)
    model = deepdream.dream_model(tiny_backbone(), ["high"])
    first = deepdream.dream(model, photo(96, 80), settings)
    again = deepdream.dream(model, photo(96, 80), settings)
    assert np.isfinite(first[0]["loss"]) and first[0]["image"].shape == (96, 80, 3)
    np.testing.assert_array_equal(first[0]["image"], again[0]["image"])
    assert deepdream.octave_sizes(96, 80, settings) == [(64, 53), (96, 80)]


def test_keras_model_file_as_backbone(tmp_path):
    path = str(tmp_path / "tiny.h5")
    tiny_backbone().save(path)
    model, source, default_layers = deepdream.build_backbone(path, "auto")
    assert source == f"Keras model file {path}" and default_layers == ()
    assert deepdream.dream_model(model, ["high"]).output_shape == (None, None, None, 8)


@pytest.mark.parametrize("bad", [dict(steps=0), dict(checkpoints=(0, 400)), dict(checkpoints=(20, 10)),
                                 dict(tile_size=8), dict(step_size=0.0)])
def test_bad_settings_are_clear_errors(bad):
    with pytest.raises(ConfigError):
        deepdream.DreamSettings(**bad)


def test_unknown_layer_and_backbone_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="mixed99"):
        deepdream.dream_model(tiny_backbone(), ["mixed99"])
    with pytest.raises(ConfigError, match="cannot load"):
        deepdream.build_backbone(str(tmp_path / "missing.h5"), "auto")
