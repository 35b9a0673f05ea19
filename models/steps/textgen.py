"""Step 6, "deep adaptive learning": a character-level GRU text generator on Shakespeare.

Embedding(vocab, 256) -> GRU(1024, return_sequences) -> Dense(vocab): 4,021,569 parameters with the paper's
65 characters. Trained on windows of 100 characters to predict each next character; served by a `generate`
signature (a batch of prompts, num_chars, temperatures, seeds -> texts) that runs the GRU one step at a time with
explicit state inside a tf.while_loop, so TF Serving answers strings in -> strings out in one call and its
batching can merge concurrent requests. The signature checks its inputs against the limits in TextgenModel
before it allocates anything, so that no request can take the server down.
"""
from __future__ import annotations

import os

import tensorflow as tf

from models import training
from models.steps import TextgenModel

PAPER_VOCABULARY = 65
# The lowest temperature `generate` takes: effectively greedy already, while far lower ones overflow the scaled
# logits to infinity (and sample ids outside the vocabulary).
MIN_TEMPERATURE = 1e-3


def preprocessing_fn(inputs):
    """A window of 101 character ids -> the first 100 (inputs) and the 100 that follow each (targets)."""
    ids = inputs["ids"]
    return {"inputs": ids[:, :-1], "targets": ids[:, 1:]}


def build_model(vocab_size: int = PAPER_VOCABULARY, embedding_dim: int = TextgenModel.embedding_dim,
                rnn_units: int = TextgenModel.rnn_units):
    import tf_keras as keras

    inputs = keras.Input(shape=(None,), dtype="int64", name="inputs")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    x, _ = keras.layers.GRU(rnn_units, return_sequences=True, return_state=True, name="gru")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
    return keras.Model(inputs, logits, name="textgen")


def left_padded(prompts, char_to_id):
    """Prompts of any lengths as one [N, T] batch of ids, right-aligned so that every prompt ends at the last
    step, and the mask that makes the GRU skip the padding before each prompt (its state stays zero there, so a
    row's result does not depend on the other prompts' lengths). An empty prompt is the character with id 0."""
    ids = tf.ragged.map_flat_values(char_to_id.lookup, tf.strings.unicode_split(prompts, "UTF-8"))
    lengths = tf.maximum(ids.row_lengths(), 1)
    width = tf.maximum(tf.reduce_max(lengths), 1)  # also for an empty batch
    right_padded = ids.to_tensor(default_value=0, shape=tf.stack([tf.size(prompts, tf.int64), width]))
    source = tf.range(width)[tf.newaxis, :] - (width - lengths)[:, tf.newaxis]
    mask = source >= 0
    return tf.where(mask, tf.gather(right_padded, tf.maximum(source, 0), batch_dims=1), 0), mask


def sample(logits, temperature, seed, step):
    """One next character per row, drawn from the row's own stream (seed, step), as one prompt alone would draw
    it: a row's text does not depend on the prompts batched with it (TF Serving's batching merges requests)."""
    scaled = logits / temperature[:, tf.newaxis]

    def one(row):
        row_logits, row_seed = row
        return tf.random.stateless_categorical(row_logits[tf.newaxis], 1, seed=tf.stack([row_seed, step]))[0, 0]

    return tf.map_fn(one, (scaled, seed), fn_output_signature=tf.int64)


def input_checks(prompt, num_chars, temperature, seed, limits: TextgenModel) -> list:
    """`generate`'s assertions (InvalidArgumentError, TF Serving's INVALID_ARGUMENT): one value of each input per
    prompt, at most max_prompts prompts of at most max_prompt_chars characters, num_chars from 0 to max_chars,
    temperatures finite and at least MIN_TEMPERATURE. Checked on the signature's own int64 and float32 values,
    before any cast (nothing wraps) and before anything is sized from them."""
    rows = tf.shape(prompt)
    checks = [tf.debugging.assert_equal(tf.shape(values), rows, message=f"{name} needs one value per prompt")
              for name, values in (("num_chars", num_chars), ("temperature", temperature), ("seed", seed))]
    lengths = tf.strings.length(prompt, unit="UTF8_CHAR")
    for holds, message, values in (
            (rows <= limits.max_prompts, f"a call takes at most {limits.max_prompts} prompts (max_prompts), got", rows),
            (lengths <= limits.max_prompt_chars,
             f"a prompt must have at most {limits.max_prompt_chars} characters (max_prompt_chars), got", lengths),
            ((num_chars >= 0) & (num_chars <= limits.max_chars),
             f"num_chars must be from 0 to {limits.max_chars} (max_chars), got", num_chars),
            (tf.math.is_finite(temperature) & (temperature >= MIN_TEMPERATURE),
             f"temperature must be finite and at least {MIN_TEMPERATURE}, got", temperature)):
        checks.append(tf.debugging.Assert(tf.reduce_all(holds), [message, values]))
    return checks


def export(model, transform_output, vocabulary, export_dir: str, limits: TextgenModel) -> None:
    """generate: a batch of prompts (prompt string [N], num_chars int64 [N], temperature float32 [N], seed int64
    [N]) -> `text` [N], each of its num_chars characters, within `limits` (input_checks); every input and the
    output have the leading batch dimension TF Serving's batching needs to merge requests. Prompts of different
    lengths are left-padded and masked. serving_default: serialized tf.Example windows -> per-example mean
    cross-entropy `loss` (TFMA's gate)."""
    module = tf.Module()
    module.model = model
    module.tft_layer = transform_output.transform_features_layer()
    characters = tf.constant(vocabulary)
    ids = tf.range(len(vocabulary), dtype=tf.int64)
    module.char_to_id = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(characters, ids), 0)
    module.id_to_char = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(ids, characters), "")
    embedding, gru, dense = (model.get_layer(name) for name in ("embedding", "gru", "logits"))

    def step(char_ids, state=None, mask=None):
        sequence, state = gru(embedding(char_ids), initial_state=state, mask=mask)
        return dense(sequence[:, -1, :]), state

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="prompt"),
                                  tf.TensorSpec([None], tf.int64, name="num_chars"),
                                  tf.TensorSpec([None], tf.float32, name="temperature"),
                                  tf.TensorSpec([None], tf.int64, name="seed")])
    def generate(prompt, num_chars, temperature, seed):
        # every op below, the TensorArray sized from num_chars included, runs only once the checks have passed
        with tf.control_dependencies(input_checks(prompt, num_chars, temperature, seed, limits)):
            prompt_ids, mask = left_padded(prompt, module.char_to_id)
            logits, state = step(prompt_ids, mask=mask)
            longest = tf.cast(tf.maximum(tf.reduce_max(num_chars), 0), tf.int32)  # also for an empty batch

            def body(i, logits, state, generated):
                next_ids = sample(logits, temperature, seed, tf.cast(i, tf.int64))
                logits, state = step(next_ids[:, tf.newaxis], state)
                return i + 1, logits, state, generated.write(i, next_ids)

            _, _, _, generated = tf.while_loop(
                lambda i, *_: i < longest, body,
                (tf.constant(0), logits, state, tf.TensorArray(tf.int64, size=longest, element_shape=[None])))
            # concat, not stack: a TensorArray of no steps stacks only with a fully known element shape
            ids_by_step = tf.reshape(generated.concat(), tf.stack([longest, tf.size(prompt)]))
            chars = module.id_to_char.lookup(tf.transpose(ids_by_step))
            return {"text": tf.strings.reduce_join(tf.RaggedTensor.from_tensor(chars, lengths=num_chars), axis=1)}

    raw_spec = transform_output.raw_feature_spec()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        transformed = module.tft_layer(tf.io.parse_example(examples, raw_spec))
        losses = tf.keras.losses.sparse_categorical_crossentropy(
            transformed["targets"], module.model(transformed["inputs"]), from_logits=True)
        return {"loss": tf.reduce_mean(losses, axis=-1)}

    tf.saved_model.save(module, export_dir, signatures={"serving_default": serve_examples.get_concrete_function(),
                                                        "generate": generate.get_concrete_function()})


bench_model = build_model  # TrainedStepModule: the untrained model at its default shapes (dlqos bench)


def run_fn(fn_args):
    """TFX Trainer entry point: fit next-character prediction, checkpoint every epoch, export, sample."""
    import tensorflow_transform as tft
    import tf_keras as keras

    config = training.trainer_config(fn_args)
    vocabulary = training.data_params(config)["vocabulary"]
    hyper = TextgenModel.from_dict(config.model)
    checkpoints = os.path.join(fn_args.model_run_dir, "checkpoints", "ckpt_{epoch}")  # the paper's ckpt_10
    model, record = training.fit(
        fn_args,
        lambda: build_model(len(vocabulary), hyper.embedding_dim, hyper.rnn_units),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=lambda: [],
        label_key="targets",
        callbacks=[keras.callbacks.ModelCheckpoint(checkpoints, save_weights_only=True)])
    with training.worker_export_dir(config.strategy, fn_args.serving_model_dir) as export_dir:
        export(model, tft.TFTransformOutput(fn_args.transform_output), vocabulary, export_dir, hyper)
        prompt = "ROMEO:"[:hyper.max_prompt_chars]  # the sample asks for no more than the limits allow
        sample = tf.saved_model.load(export_dir).signatures["generate"](
            prompt=tf.constant([prompt]), num_chars=tf.constant([min(200, hyper.max_chars)], tf.int64),
            temperature=tf.constant([1.0]), seed=tf.constant([42], tf.int64))["text"][0].numpy().decode("utf-8")
    record["sample"] = {"prompt": prompt, "temperature": 1.0, "seed": 42, "text": sample}
    record["perplexity"] = float(tf.exp(record["history"]["val_loss"][-1]))
    training.write_training_record(fn_args, record)


def tuner_fn(fn_args):
    """TFX Tuner entry point: learning rate, optimizer and the GRU's widths against the eval split's loss."""
    import tf_keras as keras

    vocabulary = training.data_params(training.trainer_config(fn_args))["vocabulary"]

    def build(settings):
        hyper = TextgenModel.from_dict(settings.model)
        return build_model(len(vocabulary), hyper.embedding_dim, hyper.rnn_units)

    return training.tune(fn_args, "textgen", build, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                         metrics=lambda: [], label_key="targets")
