"""The autoencoder pipeline on tiny MNIST-format data: a trained model passes the MSE gate and is pushed with
its denoising signature; a crippled one (one training step) is not blessed and not pushed."""
import os

import numpy as np
import pytest
import tensorflow as tf

from dlqos import cli, metadata
from tests.helpers import fashion_like_arrays, write_fashion_like_dir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("autoencoder")
    data = write_fashion_like_dir(str(root / "data"), n_train=600, n_eval=200)  # same idx layout as MNIST
    out = str(root / "out")
    args = ["run", "autoencoder", "--data-dir", data, "--output-dir", out, "--batch-size", "32"]
    codes = [cli.main(args + ["--epochs", "4"]), cli.main(args + ["--epochs", "1", "--train-steps", "1"])]
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"codes": codes, "runs": metadata.pipeline_runs(store, "dlqos-autoencoder"), "out": out}


def test_trained_is_pushed_and_crippled_is_not(runs):
    assert runs["codes"] == [cli.EXIT_OK, cli.EXIT_NOT_BLESSED]
    trained, crippled = runs["runs"]
    assert trained.blessed and trained.pushed_to and crippled.blessed is False and crippled.pushed_to is None
    assert os.listdir(os.path.join(runs["out"], "serving", "autoencoder")) == [os.path.basename(trained.pushed_to)]


def test_figures_and_psnr_recorded(runs):
    import json

    model_dir = runs["runs"][0].nodes["Trainer"].output("model").uri
    for figure in ("denoising.png", "feature_maps.png"):
        assert os.path.getsize(os.path.join(model_dir, figure)) > 1000
    with open(os.path.join(model_dir, "training.json")) as f:
        denoising = json.load(f)["denoising"]
    assert denoising["psnr_db"] > denoising["noisy_psnr_db"]  # it denoises


def test_pushed_model_denoises_through_its_serving_signature(runs):
    loaded = tf.saved_model.load(runs["runs"][0].pushed_to)
    clean, _ = fashion_like_arrays(8, seed=5)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 0.4 * 255, clean.shape), 0, 255).astype(np.float32)
    denoised = loaded.signatures["serving_default"](pixels=tf.constant(noisy))["denoised"].numpy()
    assert denoised.shape == (8, 28, 28)
    assert np.mean((denoised - clean) ** 2) < np.mean((noisy - clean) ** 2)
