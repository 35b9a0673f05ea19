import numpy as np
import tensorflow as tf

from models.steps import cnn, dense
from models.training import parameter_counts


def test_reuses_step_one_preprocessing():
    inputs = {"pixels": tf.constant([[0, 51, 255] * 261 + [0]], tf.int64), "label": tf.constant([4], tf.int64)}
    ours = cnn.preprocessing_fn(inputs)
    step_one = dense.preprocessing_fn(inputs)
    np.testing.assert_array_equal(ours["image"].numpy(), step_one["image"].numpy())
    assert ours["label"].numpy().tolist() == [4]


def test_convolutions_pooling_and_dropout():
    model = cnn.build_model()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("MaxPooling2D") == 2 and kinds.count("Dropout") == 4
    # convs 320 + 18,496 + 36,928; dense 7*7*64*128 + 128 = 401,536; output 1,290
    assert parameter_counts(model) == {"total": 458570, "trainable": 458570, "non_trainable": 0}
    probabilities = model({"image": tf.zeros([2, 784])}).numpy()
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
