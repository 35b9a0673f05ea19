import numpy as np
import tensorflow as tf

from dlqos.steps import textgen
from dlqos.training import parameter_counts
from tests.conftest import write_transform_graph


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


def test_generate_carries_the_gru_state_between_characters(tmp_path):
    """Near-zero temperature, the exported `generate` must pick what the whole-sequence model picks given all the
    text so far; a one-step loop that dropped the GRU state would continue from the last character alone."""
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    vocabulary = list("abcdefgh ")
    model = textgen.build_model(len(vocabulary), embedding_dim=8, rnn_units=16)
    for layer_name in ("gru", "logits"):  # larger weights: decisive logits that depend on the context
        layer = model.get_layer(layer_name)
        layer.set_weights([w * 4 for w in layer.get_weights()])
    windows = [{"ids": np.arange(101) % len(vocabulary)}]
    transform_output = write_transform_graph(str(tmp_path), textgen.preprocessing_fn,
                                             {"ids": tf.io.FixedLenFeature([101], tf.int64)}, windows)
    textgen.export(model, transform_output, vocabulary, str(tmp_path / "export"))
    generate = tf.saved_model.load(str(tmp_path / "export")).signatures["generate"]
    text = generate(prompt=tf.constant("bad cafe"), num_chars=tf.constant(40), temperature=tf.constant(0.0),
                    seed=tf.constant(0, tf.int64))["text"].numpy().decode()
    ids = [vocabulary.index(c) for c in "bad cafe"]
    for _ in range(40):
        ids.append(int(tf.argmax(model(tf.constant([ids], tf.int64))[0, -1])))
    assert text == "".join(vocabulary[i] for i in ids[len("bad cafe"):])
