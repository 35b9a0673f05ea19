"""textgen's `generate` served: a batch of prompts per call over REST (row and columnar) and gRPC, requests merged
by the stand-in's batching with the answers each gets alone, and `dlqos predict textgen` with one or several
prompts. The model is textgen's own export of a tiny GRU; each expected text is the signature called directly."""
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from dlqos import cli
from serving.client import GrpcClient, RestClient, ServingClientError
from serving.config import BatchingParameters, models_config
from tests.helpers import save_tiny_model
from tests.serving.conftest import concurrently, save_tiny_textgen

ROWS = [{"prompt": "bad cafe", "num_chars": 25, "temperature": 1.0, "seed": 5},
        {"prompt": "h", "num_chars": 9, "temperature": 0.5, "seed": 6},
        {"prompt": "", "num_chars": 0, "temperature": 1.0, "seed": 7},
        {"prompt": "ceg abba dd", "num_chars": 14, "temperature": 2.0, "seed": 8}]
DTYPES = {"prompt": tf.string, "num_chars": tf.int64, "temperature": tf.float32, "seed": tf.int64}
# A long timeout so that requests started together certainly meet in one batch.
PATIENT = BatchingParameters(max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from serving.standin import StandIn

    root = tmp_path_factory.mktemp("textgen")
    save_tiny_textgen(str(root / "serving" / "textgen" / "1"), str(root / "transform"))
    save_tiny_model(str(root / "serving" / "tiny" / "1"))  # another model on the same server
    generate = tf.saved_model.load(str(root / "serving" / "textgen" / "1")).signatures["generate"]
    config = models_config(str(root / "serving"))
    plain = StandIn(config, rest_port=0, grpc_port=0, poll_seconds=3600).start()
    batched = StandIn(config, rest_port=0, grpc_port=0, poll_seconds=3600, batching=PATIENT).start()
    yield {"generate": generate, "plain": plain, "batched": batched}
    plain.stop()
    batched.stop()


def columns(rows):
    return {name: [row[name] for row in rows] for name in DTYPES}


def direct(served, rows):
    """The texts the signature itself gives for these rows, called in process."""
    tensors = {name: tf.constant(values, DTYPES[name]) for name, values in columns(rows).items()}
    return [text.decode() for text in served["generate"](**tensors)["text"].numpy()]


def rest(standin):
    return RestClient(f"http://127.0.0.1:{standin.rest_port}", retries=0, timeout=60)


def grpc(standin):
    return GrpcClient(f"127.0.0.1:{standin.grpc_port}", retries=0, timeout=60)


def test_a_batch_of_prompts_in_one_call_over_rest_rows_and_columns_and_grpc(served):
    expected = direct(served, ROWS)
    assert [len(text) for text in expected] == [row["num_chars"] for row in ROWS]
    client = rest(served["plain"])
    assert client.predict("textgen", instances=ROWS, signature="generate") == {"predictions": expected}
    assert client.predict("textgen", inputs=columns(ROWS), signature="generate") == {"outputs": expected}
    arrays = {name: np.asarray(values, dtype=object if name == "prompt" else DTYPES[name].as_numpy_dtype)
              for name, values in columns(ROWS).items()}
    texts = grpc(served["plain"]).predict("textgen", arrays, signature="generate")["text"]
    assert [text.decode() for text in texts] == expected


def test_inputs_that_are_not_one_per_prompt_are_invalid_argument(served):
    wrong = {**columns(ROWS[:2]), "seed": [5]}
    with pytest.raises(ServingClientError) as error:
        rest(served["plain"]).predict("textgen", inputs=wrong, signature="generate")
    assert error.value.status == 400 and "seed needs one value per prompt" in str(error.value)
    arrays = {"prompt": np.asarray(["a"], dtype=object), "num_chars": np.int64([-2]),
              "temperature": np.float32([1.0]), "seed": np.int64([1])}
    with pytest.raises(ServingClientError, match=r"INVALID_ARGUMENT: .*num_chars must be from 0 to 10000"):
        grpc(served["plain"]).predict("textgen", arrays, signature="generate")


# Requests that once aborted the server (10**9 characters: std::bad_alloc), wrapped (2**32 + 5 answered 5
# characters), sampled greedily (temperature <= 0) or failed inside the model (NaN), and the prompt that took 12 s.
OUTSIDE_THE_LIMITS = [
    ({"num_chars": 10**9}, "num_chars must be from 0 to 10000 (max_chars), got] [1000000000]"),
    ({"num_chars": 2**32 + 5}, "num_chars must be from 0 to 10000 (max_chars), got] [4294967301]"),
    ({"num_chars": -1}, "num_chars must be from 0 to 10000 (max_chars), got] [-1]"),
    ({"temperature": 0.0}, "temperature must be finite and at least 0.001, got] [0]"),
    ({"temperature": -1.0}, "temperature must be finite and at least 0.001, got] [-1]"),
    ({"temperature": float("nan")}, "temperature must be finite and at least 0.001, got] [nan]"),
    ({"prompt": "a" * 100_000}, "a prompt must have at most 1000 characters (max_prompt_chars), got] [100000]"),
]


def still_serving(served):
    """The server answers a good generate request and its other model."""
    assert rest(served["plain"]).predict("textgen", instances=ROWS[:2], signature="generate") == \
        {"predictions": direct(served, ROWS[:2])}
    assert rest(served["plain"]).predict("tiny", instances=[[1.0, 2.0, 3.0]])["predictions"][0]["total"] == 12.0


@pytest.mark.parametrize("change, message", OUTSIDE_THE_LIMITS)
def test_generate_outside_its_limits_is_a_400_and_the_server_stays_up(served, change, message):
    with pytest.raises(ServingClientError) as error:
        rest(served["plain"]).predict("textgen", instances=[{**ROWS[0], **change}], signature="generate")
    assert error.value.status == 400 and message in str(error.value)
    still_serving(served)


@pytest.mark.parametrize("change, message", OUTSIDE_THE_LIMITS)
def test_generate_outside_its_limits_is_invalid_argument_over_grpc(served, change, message):
    row = {**ROWS[0], **change}
    arrays = {name: np.asarray([row[name]], dtype=object if name == "prompt" else DTYPES[name].as_numpy_dtype)
              for name in DTYPES}
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT: ") as error:
        grpc(served["plain"]).predict("textgen", arrays, signature="generate")
    assert message in str(error.value)
    still_serving(served)


def test_too_many_prompts_and_a_num_chars_beyond_int64_are_400(served):
    """33 prompts in one call (max_prompts 32); a JSON number no int64 holds is refused as TF Serving's JSON
    reader refuses it, not wrapped."""
    client = rest(served["plain"])
    with pytest.raises(ServingClientError, match=re.escape("at most 32 prompts (max_prompts), got] [33]")):
        client.predict("textgen", inputs=columns([dict(ROWS[0], seed=i) for i in range(33)]), signature="generate")
    with pytest.raises(ServingClientError, match="JSON Value: 18446744073709551621 Type: Number is not of expected "
                                                 "type: int64"):
        client.predict("textgen", instances=[dict(ROWS[0], num_chars=2**64 + 5)], signature="generate")
    still_serving(served)


@pytest.mark.parametrize("client", [rest, grpc])
def test_batching_merges_textgen_requests_and_each_gets_its_own_text(served, client):
    """One prompt per request, as clients send them; the merged call runs them as one batch."""
    requests = [dict(ROWS[i % 4], seed=i) for i in range(8)]
    if client is rest:
        def call(row):
            return client(served["batched"]).predict("textgen", instances=[row], signature="generate")["predictions"]
    else:
        def call(row):
            arrays = {name: np.asarray([row[name]], dtype=object if name == "prompt" else DTYPES[name].as_numpy_dtype)
                      for name in DTYPES}
            texts = client(served["batched"]).predict("textgen", arrays, signature="generate")["text"]
            return [text.decode() for text in texts]
    merged = served["batched"].batcher.requests_per_call
    merged.clear()
    answers = concurrently([lambda row=row: call(row) for row in requests])
    assert answers == [direct(served, [row]) for row in requests]
    assert max(merged) > 1 and sum(size * calls for size, calls in merged.items()) == len(requests)


def _predict(served, protocol: str, value, capsys):
    standin = served["plain"]
    where = ["--rest", f"http://127.0.0.1:{standin.rest_port}"] if protocol == "rest" else \
        ["--grpc", f"127.0.0.1:{standin.grpc_port}"]
    code = cli.main(["predict", "textgen", "--signature", "generate", "--input", json.dumps(value)] + where)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == cli.EXIT_OK else err)


def test_predict_textgen_one_prompt_and_several(served, capsys):
    """One prompt as an object of single values (one instance), several as rows or columns."""
    alone = direct(served, ROWS[:1])
    several = direct(served, ROWS)
    assert _predict(served, "rest", ROWS[0], capsys) == (cli.EXIT_OK, {"predictions": [{"text": alone[0]}]})
    assert _predict(served, "grpc", ROWS[0], capsys) == (cli.EXIT_OK, {"text": alone})
    rows = {"predictions": [{"text": text} for text in several]}
    assert _predict(served, "rest", ROWS, capsys) == (cli.EXIT_OK, rows)
    assert _predict(served, "rest", columns(ROWS), capsys) == (cli.EXIT_OK, {"outputs": {"text": several}})
    assert _predict(served, "grpc", ROWS, capsys) == (cli.EXIT_OK, {"text": several})
    assert _predict(served, "grpc", columns(ROWS), capsys) == (cli.EXIT_OK, {"text": several})


@pytest.mark.parametrize("value, message", [
    ({"prompt": "x", "bogus": 1}, "unknown inputs ['bogus']"),
    ([{"prompt": "x"}], "--input: Failed to process element: 0 of 'instances' list. JSON object keys must be equal "
                        "to: num_chars,prompt,seed,temperature"),
    (["x"], "--input: instances is a plain list, but expecting list of objects"),
])
def test_predict_textgen_refuses_input_without_every_input_over_grpc(served, capsys, value, message):
    code, err = _predict(served, "grpc", value, capsys)
    assert code == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1 and message in err


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_predict_textgen_outside_the_limits_is_one_line(served, capsys, protocol):
    """The client sends num_chars as the signature's int64, so 2**32 + 5 reaches the model whole and is refused."""
    code, err = _predict(served, protocol, dict(ROWS[0], num_chars=2**32 + 5), capsys)
    assert code == cli.EXIT_FAILURE and len(err.strip().splitlines()) == 1
    assert "num_chars must be from 0 to 10000 (max_chars), got] [4294967301]" in err


def test_a_request_outside_the_limits_fails_alone_among_batched_requests(served):
    """Sent together with good requests to the batching server: the refused one gets its 400, the others their
    own texts."""
    requests = [dict(ROWS[0], seed=i) for i in range(5)] + [dict(ROWS[0], num_chars=10**9)]
    answers = concurrently([lambda row=row: rest(served["batched"]).predict(
        "textgen", instances=[row], signature="generate")["predictions"] for row in requests])
    assert answers[:5] == [direct(served, [row]) for row in requests[:5]]
    assert isinstance(answers[5], ServingClientError) and answers[5].status == 400
    assert "num_chars must be from 0 to 10000" in str(answers[5])


@pytest.mark.parametrize("value, message", [
    (dict(ROWS[0], num_chars=2**64), "--input: JSON Value: 18446744073709551616 Type: Number is not of expected type: "
                                     "int64"),
    (dict(ROWS[0], num_chars=2.5), "--input: JSON Value: 2.5 Type: Number is not of expected type: int64"),
])
def test_predict_textgen_over_grpc_reads_values_as_the_rest_api_does(served, capsys, value, message):
    """Neither truncated (2.5 as 2) nor out of the input's range: a usage error before any request."""
    code, err = _predict(served, "grpc", value, capsys)
    assert code == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1 and message in err
