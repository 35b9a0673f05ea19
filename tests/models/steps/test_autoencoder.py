import os

import numpy as np
import tensorflow as tf

from models.steps import autoencoder
from models.training import parameter_counts
from tests.models.steps.trainer import pipeline_training, trainer_fn_args

PAPER_TABLE = [("Conv2D", 160), ("MaxPooling2D", 0), ("Conv2D", 1160), ("MaxPooling2D", 0), ("Conv2D", 584),
               ("UpSampling2D", 0), ("Conv2DTranspose", 584), ("UpSampling2D", 0), ("Conv2DTranspose", 73)]


def test_exactly_the_papers_layer_table():
    model = autoencoder.build_model()
    layers = [(type(layer).__name__, layer.count_params()) for layer in model.layers
              if type(layer).__name__ not in ("InputLayer", "Reshape")]
    assert layers == PAPER_TABLE
    assert parameter_counts(model) == {"total": 2561, "trainable": 2561, "non_trainable": 0}
    assert model({"image": tf.zeros([2, 784])}).shape == (2, 784)


def test_feature_map_model_is_the_first_convolution():
    feature_maps = autoencoder.feature_map_model(autoencoder.build_model())
    assert feature_maps.count_params() == 160 and feature_maps.output_shape == (None, 28, 28, 16)


def test_noise_is_clipped_and_seeded():
    clean = tf.fill([4, 784], 0.5)
    noisy = autoencoder.add_noise(clean, 0.4, seed=3)
    assert float(tf.reduce_min(noisy)) >= 0.0 and float(tf.reduce_max(noisy)) <= 1.0
    np.testing.assert_array_equal(noisy.numpy(), autoencoder.add_noise(clean, 0.4, seed=3).numpy())
    assert float(tf.reduce_mean(tf.abs(noisy - clean))) > 0.1


def test_psnr():
    clean = tf.fill([1, 784], 0.5)
    assert abs(float(autoencoder.psnr(clean, clean + 0.1)[0]) - 20.0) < 1e-3  # 10*log10(1 / 0.01)


def test_the_noise_factor_model_param_reaches_the_trainer(transform_data, tmp_path):
    """--model-param noise_factor=0.15 is taken by the autoencoder and is the noise its run_fn trains with."""
    import json

    from models.steps import STEPS, model_params
    from models.training import TRAINING_RECORD

    params = model_params([STEPS["autoencoder"]], [("noise_factor", "0.15")])
    config = pipeline_training(transform_data, "autoencoder", model=params, epochs=1, batch_size=12, strategy="cpu")
    fn_args = trainer_fn_args(transform_data, config, str(tmp_path))
    autoencoder.run_fn(fn_args)
    with open(tmp_path / "model" / TRAINING_RECORD) as f:
        assert json.load(f)["denoising"]["noise_factor"] == 0.15


def test_a_worker_that_is_not_the_chief_writes_nothing(transform_data, tmp_path, monkeypatch):
    """Under multi_worker_mirrored every worker runs run_fn; only the chief may write the model, the figures and
    the record (others save into scratch directories), or workers overwrite each other's files."""
    from models import training

    monkeypatch.setattr(training, "is_chief", lambda strategy_name: False)
    config = pipeline_training(transform_data, "autoencoder", epochs=1, batch_size=12, strategy="cpu")
    fn_args = trainer_fn_args(transform_data, config, str(tmp_path))
    autoencoder.run_fn(fn_args)
    written = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / "model") for f in files]
    assert written == []
