"""Keras metrics TFMA computes in the Evaluator beside its built-ins (referenced by module and class name)."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def _sparse_squared_error(y_true, y_pred):
    """Summed squared error between the one-hot label and the class probabilities (the Brier score)."""
    y_true = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
    one_hot = tf.one_hot(y_true, depth=tf.shape(y_pred)[-1], dtype=y_pred.dtype)
    return tf.reduce_sum(tf.square(one_hot - y_pred), axis=-1)


class SparseMeanSquaredError(keras.metrics.MeanMetricWrapper):
    """The paper's 'mean squared error' of a classifier: mean over examples of sum_k (onehot_k - p_k)^2."""

    def __init__(self, name="sparse_mean_squared_error", dtype=None):
        super().__init__(_sparse_squared_error, name=name, dtype=dtype)


class MeanReportedLoss(keras.metrics.Mean):
    """The mean of a scalar model output, labels ignored: lets TFMA gate on a loss the model itself reports
    per example (the text generator's cross-entropy over its 100 next-character predictions)."""

    def __init__(self, name="mean_reported_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_pred, sample_weight=sample_weight)
