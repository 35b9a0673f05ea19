import numpy as np
import pytest
import tensorflow as tf

from dlqos.steps import textgen
from dlqos.training import parameter_counts
from tests.serving.conftest import TEXTGEN_VOCABULARY, save_tiny_textgen


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


PROMPTS = ["bad cafe", "h", "", "ceg abba dd"]  # different lengths, one empty
COUNTS = [40, 7, 12, 0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("textgen")
    model = save_tiny_textgen(str(root / "export"), str(root / "transform"))
    return model, tf.saved_model.load(str(root / "export")).signatures["generate"]


def generate_texts(generate, prompts, counts, temperatures, seeds):
    out = generate(prompt=tf.constant(prompts, tf.string), num_chars=tf.constant(counts, tf.int32),
                   temperature=tf.constant(temperatures, tf.float32), seed=tf.constant(seeds, tf.int64))
    return [text.decode() for text in out["text"].numpy()]


def greedy(model, prompt: str, count: int) -> str:
    """Whole-sequence decoding: the model run on all the text so far for each next character (an empty prompt
    starts from the character with id 0, as `generate` does)."""
    ids = [TEXTGEN_VOCABULARY.index(c) for c in prompt] or [0]
    start = len(ids)
    for _ in range(count):
        ids.append(int(tf.argmax(model(tf.constant([ids], tf.int64))[0, -1])))
    return "".join(TEXTGEN_VOCABULARY[i] for i in ids[start:])


def test_generate_carries_the_gru_state_between_characters_of_each_prompt(exported):
    """Near-zero temperature, each row of a batch of prompts of different lengths must be what the whole-sequence
    model picks given all its text so far: a loop that dropped the GRU state would continue from the last
    character alone, and unmasked padding before a shorter prompt would change its state."""
    model, generate = exported
    texts = generate_texts(generate, PROMPTS, COUNTS, [0.0] * 4, [0] * 4)
    assert texts == [greedy(model, prompt, count) for prompt, count in zip(PROMPTS, COUNTS)]
    assert [len(text) for text in texts] == COUNTS


def test_each_prompt_samples_as_it_would_alone(exported):
    """Each row draws from its own seed: batched with others (as TF Serving's batching merges requests) a prompt
    gets the text it gets alone, and the same seed gives the same text."""
    _, generate = exported
    batch = generate_texts(generate, PROMPTS, [30] * 4, [1.0, 1.0, 0.5, 2.0], [5, 6, 7, 8])
    alone = [generate_texts(generate, [p], [30], [t], [s])[0]
             for p, t, s in zip(PROMPTS, [1.0, 1.0, 0.5, 2.0], [5, 6, 7, 8])]
    assert batch == alone and len(set(batch)) == 4
    assert generate_texts(generate, [], [], [], []) == []


@pytest.mark.parametrize("counts, temperatures, message", [
    ([3, 3], [1.0], "temperature needs one value per prompt"),
    ([3], [1.0, 1.0], "num_chars needs one value per prompt"),
    ([3, -1], [1.0, 1.0], "num_chars must not be negative"),
])
def test_generate_refuses_inputs_that_are_not_one_per_prompt(exported, counts, temperatures, message):
    _, generate = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        generate_texts(generate, ["ab", "c"], counts, temperatures, [1, 2])
