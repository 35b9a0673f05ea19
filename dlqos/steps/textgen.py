"""Step 6, "deep adaptive learning": a character-level GRU text generator on Shakespeare.

Embedding(vocab, 256) -> GRU(1024, return_sequences) -> Dense(vocab): 4,021,569 parameters with the paper's
65 characters. Trained on windows of 100 characters to predict each next character; served by a `generate`
signature (prompt, num_chars, temperature, seed -> text) that runs the GRU one step at a time with explicit
state inside a tf.while_loop, so TF Serving answers string in -> string out in one call.
"""
from __future__ import annotations

import os

import tensorflow as tf

from dlqos import training

PAPER_VOCABULARY = 65
EMBEDDING_DIM = 256
RNN_UNITS = 1024
DEFAULTS = {"embedding_dim": EMBEDDING_DIM, "rnn_units": RNN_UNITS}  # the paper's model


def preprocessing_fn(inputs):
    """A window of 101 character ids -> the first 100 (inputs) and the 100 that follow each (targets)."""
    ids = inputs["ids"]
    return {"inputs": ids[:, :-1], "targets": ids[:, 1:]}


def build_model(vocab_size: int = PAPER_VOCABULARY, embedding_dim: int = EMBEDDING_DIM, rnn_units: int = RNN_UNITS):
    import tf_keras as keras

    inputs = keras.Input(shape=(None,), dtype="int64", name="inputs")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    x, _ = keras.layers.GRU(rnn_units, return_sequences=True, return_state=True, name="gru")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
    return keras.Model(inputs, logits, name="textgen")


def export(model, transform_output, vocabulary, export_dir: str) -> None:
    """generate: (prompt string, num_chars int32, temperature float32, seed int64) -> `text` of num_chars characters;
    serving_default: serialized tf.Example windows -> per-example mean cross-entropy `loss` (what TFMA gates on)."""
    module = tf.Module()
    module.model = model
    module.tft_layer = transform_output.transform_features_layer()
    characters = tf.constant(vocabulary)
    ids = tf.range(len(vocabulary), dtype=tf.int64)
    module.char_to_id = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(characters, ids), 0)
    module.id_to_char = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(ids, characters), "")
    embedding, gru, dense = (model.get_layer(name) for name in ("embedding", "gru", "logits"))

    def step(char_ids, state=None):
        sequence, state = gru(embedding(char_ids), initial_state=state)
        return dense(sequence[:, -1, :]), state

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="prompt"),
                                  tf.TensorSpec([], tf.int32, name="num_chars"),
                                  tf.TensorSpec([], tf.float32, name="temperature"),
                                  tf.TensorSpec([], tf.int64, name="seed")])
    def generate(prompt, num_chars, temperature, seed):
        prompt_ids = module.char_to_id.lookup(tf.strings.unicode_split(prompt, "UTF-8"))
        prompt_ids = tf.cond(tf.size(prompt_ids) > 0, lambda: prompt_ids, lambda: tf.zeros([1], tf.int64))
        logits, state = step(prompt_ids[tf.newaxis, :])
        scale = 1.0 / tf.maximum(temperature, 1e-3)

        def body(i, logits, state, generated):
            next_id = tf.random.stateless_categorical(logits * scale, 1, seed=tf.stack([seed, tf.cast(i, tf.int64)]))
            logits, state = step(next_id, state)
            return i + 1, logits, state, generated.write(i, next_id[0, 0])

        _, _, _, generated = tf.while_loop(
            lambda i, *_: i < num_chars, body,
            (tf.constant(0), logits, state, tf.TensorArray(tf.int64, size=num_chars)))
        return {"text": tf.strings.reduce_join(module.id_to_char.lookup(generated.stack()))}

    raw_spec = transform_output.raw_feature_spec()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        transformed = module.tft_layer(tf.io.parse_example(examples, raw_spec))
        losses = tf.keras.losses.sparse_categorical_crossentropy(
            transformed["targets"], module.model(transformed["inputs"]), from_logits=True)
        return {"loss": tf.reduce_mean(losses, axis=-1)}

    tf.saved_model.save(module, export_dir, signatures={"serving_default": serve_examples.get_concrete_function(),
                                                        "generate": generate.get_concrete_function()})


def run_fn(fn_args):
    """TFX Trainer entry point: fit next-character prediction, checkpoint every epoch, export, sample."""
    import tensorflow_transform as tft
    import tf_keras as keras

    params = training.model_params(training.trainer_config(fn_args), DEFAULTS)
    vocabulary = params["vocabulary"]
    checkpoints = os.path.join(fn_args.model_run_dir, "checkpoints", "ckpt_{epoch}")  # the paper's ckpt_10
    model, record = training.fit(
        fn_args,
        lambda: build_model(len(vocabulary), params["embedding_dim"], params["rnn_units"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=lambda: [],
        label_key="targets",
        callbacks=[keras.callbacks.ModelCheckpoint(checkpoints, save_weights_only=True)])
    export(model, tft.TFTransformOutput(fn_args.transform_output), vocabulary, fn_args.serving_model_dir)
    sample = tf.saved_model.load(fn_args.serving_model_dir).signatures["generate"](
        prompt=tf.constant("ROMEO:"), num_chars=tf.constant(200), temperature=tf.constant(1.0),
        seed=tf.constant(42, tf.int64))["text"].numpy().decode("utf-8")
    record["sample"] = {"prompt": "ROMEO:", "temperature": 1.0, "seed": 42, "text": sample}
    record["perplexity"] = float(tf.exp(record["history"]["val_loss"][-1]))
    training.write_training_record(fn_args, record)
