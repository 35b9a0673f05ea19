"""Server-side batching in the stand-in: merged calls answer exactly as unbatched ones, errors stay per request."""
import base64
import re

import numpy as np
import pytest
import tensorflow as tf

from serving.client import GrpcClient, RestClient, ServingClientError
from serving.config import BATCHING, BatchingParameters, models_config, parse_batching_parameters
from tests.helpers import save_tiny_model
from tests.serving.conftest import concurrently

# A long timeout so that requests started together certainly meet in one batch.
PATIENT = BatchingParameters(max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    from serving.standin import StandIn

    root = tmp_path_factory.mktemp("serving")
    save_tiny_model(str(root / "tiny" / "1"), 3.0)
    config = models_config(str(root))
    plain = StandIn(config, rest_port=0, grpc_port=0, poll_seconds=3600).start()
    batched = StandIn(config, rest_port=0, grpc_port=0, poll_seconds=3600, batching=PATIENT).start()
    yield plain, batched
    plain.stop()
    batched.stop()


def rest(standin):
    return RestClient(f"http://127.0.0.1:{standin.rest_port}", retries=0)


def grpc(standin):
    return GrpcClient(f"127.0.0.1:{standin.grpc_port}", retries=0)


def example(x):
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=x))})).SerializeToString()


def requests(count):
    """Requests of 1 to 3 rows each with distinct values, so a wrong split would show."""
    rng = np.random.default_rng(0)
    return [rng.normal(size=(1 + i % 3, 3)).astype(np.float32) for i in range(count)]


def test_parameters_come_from_the_batching_file_serving_config_writes():
    assert parse_batching_parameters(BATCHING % 4) == BatchingParameters(32, 2000, 4)
    assert parse_batching_parameters("max_batch_size { value: 7 }").batch_timeout_micros == 0  # TF Serving default
    # TF Serving's other fields (strings, bools, repeated sizes) and comments are accepted, and ignored here
    assert parse_batching_parameters('# tuned\nthread_pool_name { value: "pool" }\nallowed_batch_sizes: 8\n'
                                     "pad_variable_length_inputs: true\nmax_batch_size {\n  value: 8\n}\n") == \
        BatchingParameters(max_batch_size=8)


@pytest.mark.parametrize("text, problem", [
    ("max_batch_size { value: 8 }\n\n  max_batch_size = 9", "line 3: not a batching parameter: 'max_batch_size = 9'"),
    ("num_batch_threads { value: 0 }", "num_batch_threads must be a whole number >= 1, got 0"),
    ('max_batch_size { value: "big" }', 'max_batch_size must be a whole number >= 1, got "big"'),
])
def test_a_malformed_batching_file_is_refused_naming_the_line(text, problem):
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(f"batching.config: {problem}")):
        parse_batching_parameters(text, "batching.config")


@pytest.mark.parametrize("client", [rest, grpc])
def test_concurrent_requests_are_merged_and_answer_exactly_as_unbatched(servers, client):
    plain, batched = servers
    inputs = requests(8)
    if client is rest:
        def call(standin, x):
            return client(standin).predict("tiny", inputs={"x": x.tolist()})["outputs"]
    else:
        def call(standin, x):
            return client(standin).predict("tiny", {"x": x})
    batched.batcher.requests_per_call.clear()
    answers = concurrently([lambda x=x: call(batched, x) for x in inputs])
    for x, answer in zip(inputs, answers):
        expected = call(plain, x)
        assert set(answer) == set(expected)
        for key in expected:
            assert np.array_equal(np.asarray(answer[key]), np.asarray(expected[key])), key
    merged = batched.batcher.requests_per_call
    assert max(merged) > 1 and sum(size * calls for size, calls in merged.items()) == len(inputs)


@pytest.mark.parametrize("bad, signature, message", [
    ([[1.0, 2.0]], "", "shape"),  # refused before queuing
    ([{"b64": "bm90IGFuIGV4YW1wbGU="}], "from_examples", ""),  # passes conversion, fails inside the merged call
])
def test_a_bad_request_gets_its_own_400_and_the_others_succeed(servers, bad, signature, message):
    _, batched = servers
    client = rest(batched)
    if signature:
        good = [[{"b64": base64.b64encode(example([float(i), 1.0, 1.0])).decode()}] for i in range(7)]
    else:
        good = [[[float(i), 1.0, 1.0]] for i in range(7)]
    instances = good[:3] + [bad] + good[3:]
    answers = concurrently([lambda rows=rows: client.predict("tiny", instances=rows, signature=signature)
                            for rows in instances])
    error = answers.pop(3)
    assert isinstance(error, ServingClientError) and error.status == 400 and message in str(error)
    assert [a["predictions"][0]["total"] for a in answers] == pytest.approx([3.0 * (i + 2) for i in range(7)])


def test_a_request_over_max_batch_size_is_refused(servers):
    _, batched = servers
    with pytest.raises(ServingClientError) as error:
        rest(batched).predict("tiny", instances=[[1.0, 1.0, 1.0]] * 9)
    assert error.value.status == 400 and "larger than maximum input batch size 8" in str(error.value)
