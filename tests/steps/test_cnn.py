import numpy as np
import tensorflow as tf

from dlqos.steps import cnn, dense
from dlqos.training import parameter_counts


def test_reuses_step_one_preprocessing():
    assert cnn.preprocessing_fn is dense.preprocessing_fn


def test_convolutions_pooling_and_dropout():
    model = cnn.build_model()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("MaxPooling2D") == 2 and kinds.count("Dropout") == 4
    # convs 320 + 18,496 + 36,928; dense 7*7*64*128 + 128 = 401,536; output 1,290
    assert parameter_counts(model) == {"total": 458570, "trainable": 458570, "non_trainable": 0}
    probabilities = model({"image": tf.zeros([2, 784])}).numpy()
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
