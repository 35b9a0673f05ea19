import re

import numpy as np
import pytest
import tensorflow as tf

from common.errors import ConfigError
from models.steps import STEPS, TextgenModel, textgen
from models.training import parameter_counts
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
    out = generate(prompt=tf.constant(prompts, tf.string), num_chars=tf.constant(counts, tf.int64),
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
    """At the lowest temperature, each row of a batch of prompts of different lengths must be what the whole-sequence
    model picks given all its text so far: a loop that dropped the GRU state would continue from the last
    character alone, and unmasked padding before a shorter prompt would change its state."""
    model, generate = exported
    texts = generate_texts(generate, PROMPTS, COUNTS, [textgen.MIN_TEMPERATURE] * 4, [0] * 4)
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


@pytest.mark.parametrize("prompts, counts, temperatures, message", [
    (["ab", "c"], [3, 3], [1.0], "temperature needs one value per prompt"),
    (["ab", "c"], [3], [1.0, 1.0], "num_chars needs one value per prompt"),
    (["ab", "c"], [3, -1], [1.0, 1.0], "num_chars must be from 0 to 10000 (max_chars), got] [3 -1]"),
    (["ab"], [10_001], [1.0], "num_chars must be from 0 to 10000 (max_chars), got] [10001]"),
    (["ab"], [10**9], [1.0], "num_chars must be from 0 to 10000 (max_chars), got] [1000000000]"),  # bad_alloc
    (["ab"], [2**32 + 5], [1.0], "num_chars must be from 0 to 10000 (max_chars), got] [4294967301]"),  # not 5
    (["ab"], [3], [0.0], "temperature must be finite and at least 0.001, got] [0]"),
    (["ab"], [3], [-1.0], "temperature must be finite and at least 0.001, got] [-1]"),
    (["ab"], [3], [0.0009], "temperature must be finite and at least 0.001"),
    (["ab"], [3], [float("nan")], "temperature must be finite and at least 0.001, got] [nan]"),
    (["ab"], [3], [float("inf")], "temperature must be finite and at least 0.001, got] [inf]"),
    (["a" * 1001], [3], [1.0], "a prompt must have at most 1000 characters (max_prompt_chars), got] [1001]"),
    ([""] * 33, [1] * 33, [1.0] * 33, "a call takes at most 32 prompts (max_prompts), got] [33]"),
])
def test_generate_refuses_inputs_outside_its_limits(exported, prompts, counts, temperatures, message):
    _, generate = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        generate_texts(generate, prompts, counts, temperatures, list(range(len(prompts))))


def test_the_limits_are_the_models_parameters_and_count_characters_not_bytes(tmp_path):
    """An export with other limits (--model-param max_chars=... reaches export() as the TextgenModel) takes up to
    them and refuses one more: two prompts of 4 two-byte characters, 6 characters each."""
    save_tiny_textgen(str(tmp_path / "export"), str(tmp_path / "transform"),
                      TextgenModel(max_chars=6, max_prompt_chars=4, max_prompts=2))
    generate = tf.saved_model.load(str(tmp_path / "export")).signatures["generate"]
    assert [len(text) for text in generate_texts(generate, ["éééé", "ab"], [6, 6], [1.0, 1.0], [1, 2])] == [6, 6]
    for prompts, counts, message in ((["ab"], [7], "num_chars must be from 0 to 6"),
                                     (["ééééé"], [1], "at most 4 characters"),
                                     (["a", "b", "c"], [1, 1, 1], "at most 2 prompts")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            generate_texts(generate, prompts, counts, [1.0] * len(prompts), [1] * len(prompts))


def test_the_limits_are_typed_model_params_of_at_least_one():
    assert {key: STEPS["textgen"].model_params[key] for key in ("max_chars", "max_prompt_chars", "max_prompts")} == \
        {"max_chars": int, "max_prompt_chars": int, "max_prompts": int}
    with pytest.raises(ConfigError, match=r"textgen max_chars must be from 1 to 2147483647; got 0"):
        TextgenModel(max_chars=0)
    with pytest.raises(ConfigError, match=r"textgen max_prompts must be from 1 to 2147483647; got 2147483648"):
        TextgenModel.from_dict({"max_prompts": 2**31})


def test_every_check_runs_before_the_generated_characters_are_allocated(exported):
    """In the exported graph (what TF Serving runs), the list the loop writes into is sized from num_chars: each
    of the signature's assertions must be one of its inputs (data or control), or a huge num_chars would be
    allocated (std::bad_alloc aborts the server) before it is refused. The function's own graph, inside the
    signature's call op, read from its FunctionDef."""
    _, generate = exported
    [function] = [f for f in generate.graph.as_graph_def().library.function
                  if {"While", "Assert"} <= {node.op for node in f.node_def}]
    nodes = {node.name: node for node in function.node_def}
    assertions = {name for name, node in nodes.items() if node.op == "Assert" or name.endswith("/AssertGuard")}
    allocations = [name for name, node in nodes.items() if node.op == "TensorListReserve"]
    assert len(assertions) == 7 and allocations

    def ancestors(name):
        seen = set()
        todo = [name]
        while todo:
            for source in nodes[todo.pop()].input:
                source = source.lstrip("^").split(":")[0]
                if source in nodes and source not in seen:
                    seen.add(source)
                    todo.append(source)
        return seen

    for allocation in allocations:
        assert assertions <= ancestors(allocation), allocation
