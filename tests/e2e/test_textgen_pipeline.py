"""The textgen pipeline on a tiny repetitive corpus: executions in ML Metadata, the loss gate, the push, and the
pushed `generate` signature (exact length, reproducible with a seed) through the SavedModel loaded fresh."""
import os

import pytest
import tensorflow as tf

from dlqos import cli, metadata

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("textgen")
    corpus = root / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 700)
    out = str(root / "out")
    code = cli.main(["run", "textgen", "--data-dir", str(corpus), "--output-dir", out, "--epochs", "2",
                     "--batch-size", "16"])
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"code": code, "run": metadata.latest_run(store, "dlqos-textgen")}


def test_pipeline_ran_and_pushed(run):
    assert run["code"] == cli.EXIT_OK
    assert {e.state for e in run["run"].nodes.values()} == {"COMPLETE"}
    assert run["run"].blessed and run["run"].pushed_to


def test_generate_exact_length_and_reproducible(run):
    generate = tf.saved_model.load(run["run"].pushed_to).signatures["generate"]

    def sample(counts, seeds, prompts=None):
        prompts = prompts or ["the "] * len(counts)
        texts = generate(prompt=tf.constant(prompts), num_chars=tf.constant(counts, tf.int64),
                         temperature=tf.constant([0.8] * len(counts)), seed=tf.constant(seeds, tf.int64))["text"]
        return [text.decode() for text in texts.numpy()]

    first = sample([57], [1])[0]
    assert len(first) == 57 and sample([57], [1]) == [first]
    assert [len(text) for text in sample([0, 5, 12], [1, 2, 3], ["the ", "", "on the mat"])] == [0, 5, 12]
    assert sample([57, 5], [1, 2], ["the ", "t"])[0] == first  # a prompt's text does not depend on its batch
    assert set(first) <= set("the cat sat on the mat. ")


def test_text_generation_call_over_rest_and_grpc(run, capsys):
    """`dlqos predict textgen --signature generate` with one prompt's named values (one instance), against the
    stand-in serving the push."""
    import json

    from serving.config import models_config
    from serving.standin import StandIn

    serving_root = os.path.dirname(os.path.dirname(run["run"].pushed_to))  # <out>/serving/textgen/<version>
    server = StandIn(models_config(serving_root), rest_port=0, grpc_port=0, poll_seconds=3600).start()
    try:
        request = json.dumps({"prompt": "the ", "num_chars": 30, "temperature": 0.8, "seed": 3})
        common = ["predict", "textgen", "--signature", "generate", "--input", request]
        assert cli.main(common + ["--rest", f"http://127.0.0.1:{server.rest_port}"]) == cli.EXIT_OK
        [over_rest] = json.loads(capsys.readouterr().out)["predictions"]
        assert cli.main(common + ["--grpc", f"127.0.0.1:{server.grpc_port}"]) == cli.EXIT_OK
        over_grpc = json.loads(capsys.readouterr().out)["text"][0]
        unknown_input = common[:-1] + ['{"prompt": "x", "bogus": 1}', "--grpc", f"127.0.0.1:{server.grpc_port}"]
        assert cli.main(unknown_input) == cli.EXIT_USAGE and "unknown inputs ['bogus']" in capsys.readouterr().err
    finally:
        server.stop()
    assert len(over_rest["text"]) == 30 and over_rest["text"] == over_grpc
