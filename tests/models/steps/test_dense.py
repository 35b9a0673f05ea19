import numpy as np
import tensorflow as tf

from models.steps import dense
from models.training import parameter_counts


def test_preprocessing_scales_pixels_and_keeps_label():
    pixels = tf.constant([[0] * 783 + [255], [51] * 784], dtype=tf.int64)
    outputs = dense.preprocessing_fn({"pixels": pixels, "label": tf.constant([3, 9], tf.int64)})
    image = outputs["image"].numpy()
    assert image.dtype == np.float32 and image.shape == (2, 784)
    assert image[0, -1] == 1.0 and image[0, 0] == 0.0 and np.allclose(image[1], 0.2)
    assert outputs["label"].numpy().tolist() == [3, 9]


def test_model_is_a_nonlinear_mlp_with_softmax_output():
    model = dense.build_model()
    relu_layers = [layer for layer in model.layers if getattr(layer, "activation", None) is tf.keras.activations.relu
                   or getattr(getattr(layer, "activation", None), "__name__", "") == "relu"]
    assert len(relu_layers) == len(dense.HIDDEN_UNITS)
    # 784*256+256 + 256*128+128 + 128*10+10
    assert parameter_counts(model) == {"total": 235146, "trainable": 235146, "non_trainable": 0}
    probabilities = model({"image": tf.zeros([3, 784])}).numpy()
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
