import numpy as np
import tensorflow as tf

from dlqos.steps import textgen
from dlqos.training import parameter_counts


def test_papers_model_has_4021569_parameters():
    model = textgen.build_model(vocab_size=65)
    sizes = {layer.name: layer.count_params() for layer in model.layers}
    assert (sizes["embedding"], sizes["gru"], sizes["logits"]) == (16640, 3938304, 66625)
    assert parameter_counts(model)["total"] == 4021569


def test_preprocessing_shifts_by_one_character():
    ids = tf.constant([list(range(101)), list(range(1, 102))], tf.int64)
    out = textgen.preprocessing_fn({"ids": ids})
    assert out["inputs"].shape == (2, 100) and out["targets"].shape == (2, 100)
    np.testing.assert_array_equal(out["targets"][:, :-1].numpy(), out["inputs"][:, 1:].numpy())
    assert out["targets"].numpy()[0, -1] == 100
