"""Work stops when nobody waits: a REST request past --rest_api_timeout_in_ms is a 504, a gRPC request past the
client's deadline is DEADLINE_EXCEEDED, a REST client that hangs up stops its request, and in each case the
server's CPU goes quiet at once (the TensorFlow while_loop is cancelled, not left to finish). The model spins a
while_loop for `steps` iterations: ~25 µs each here, so the long requests would compute for about a minute."""
import socket
import time

import numpy as np
import pytest

from serving.client import GrpcClient, RestClient, ServingClientError
from serving.config import models_config
from tests.serving.conftest import concurrently

FOREVER = 2_000_000  # steps: far longer than any test waits


def save_spinner(path: str) -> str:
    """`serving_default`: steps (int32 [N]) -> total (float32 [N]): tanh(x @ w) iterated steps[0] times."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="steps")])
    def spin(steps):
        w = tf.random.stateless_normal([64, 64], seed=[1, 2]) * 0.05
        _, x = tf.while_loop(lambda i, x: i < steps[0], lambda i, x: (i + 1, tf.tanh(tf.matmul(x, w))),
                             (tf.constant(0), tf.ones([tf.size(steps), 64])))
        return {"total": tf.reduce_sum(x, axis=1)}

    tf.saved_model.save(module, path, signatures={"serving_default": spin.get_concrete_function()})
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from serving.standin import StandIn

    root = tmp_path_factory.mktemp("serving")
    save_spinner(str(root / "spin" / "1"))
    standin = StandIn(models_config(str(root)), rest_port=0, grpc_port=0, poll_seconds=3600,
                      rest_api_timeout_in_ms=700).start()
    yield standin
    standin.stop()


def _cpu_seconds_over(seconds: float) -> float:
    """CPU time this process (the server's threads included) spends over the next `seconds`."""
    before = time.process_time()
    time.sleep(seconds)
    return time.process_time() - before


def _quick(server) -> float:
    return RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0).predict("spin", instances=[3])["predictions"][0]


def test_a_rest_request_past_its_timeout_is_a_504_and_stops_computing(server):
    started = time.monotonic()
    with pytest.raises(ServingClientError) as error:
        RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0, timeout=30).predict("spin", instances=[FOREVER])
    assert error.value.status == 504 and "Deadline Exceeded" in str(error.value)
    assert time.monotonic() - started < 5  # 0.7 s timeout; the whole loop would take about a minute
    assert _cpu_seconds_over(1.0) < 0.1
    assert np.isfinite(_quick(server))


def test_a_grpc_request_stops_at_the_clients_deadline(server):
    client = GrpcClient(f"127.0.0.1:{server.grpc_port}", retries=0, timeout=0.5)
    with pytest.raises(ServingClientError, match="DEADLINE_EXCEEDED"):
        client.predict("spin", {"steps": np.int32([FOREVER])})
    time.sleep(0.5)  # the watchdog's next look
    assert _cpu_seconds_over(1.0) < 0.1
    assert np.isfinite(_quick(server))


def _hang_up_after(port: int, seconds: float) -> None:
    """Send a long REST request, then close the connection without reading the answer."""
    body = b'{"instances": [%d]}' % FOREVER
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"POST /v1/models/spin:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(body), body))
        time.sleep(seconds)


def test_a_rest_client_that_hangs_up_stops_its_request_and_leaves_the_others(tmp_path):
    """Two requests computing at once in two threads: cancelling the abandoned one must not touch the other
    (TensorFlow's own cancellation slot is process-wide; the stand-in keeps one per thread)."""
    from serving.standin import StandIn

    save_spinner(str(tmp_path / "spin" / "1"))
    server = StandIn(models_config(str(tmp_path)), rest_port=0, grpc_port=0, poll_seconds=3600,
                     rest_api_timeout_in_ms=0).start()  # no timeout: only the hang-up can stop it
    try:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0, timeout=60)
        expected = rest.predict("spin", instances=[40_000])["predictions"][0]  # about a second
        hung_up, answered = concurrently([lambda: _hang_up_after(server.rest_port, 0.5),
                                          lambda: rest.predict("spin", instances=[40_000])["predictions"][0]])
        assert hung_up is None and answered == expected
        time.sleep(0.5)
        assert _cpu_seconds_over(1.0) < 0.1
    finally:
        server.stop()


def test_a_merged_batch_stops_only_when_all_its_requests_have(tmp_path):
    from serving.config import BatchingParameters
    from serving.standin import StandIn

    save_spinner(str(tmp_path / "spin" / "1"))
    batching = BatchingParameters(max_batch_size=4, batch_timeout_micros=200_000, num_batch_threads=1)
    server = StandIn(models_config(str(tmp_path)), rest_port=0, grpc_port=0, poll_seconds=3600,
                     batching=batching, rest_api_timeout_in_ms=700).start()
    try:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0, timeout=30)
        started = time.monotonic()
        answers = concurrently([lambda: rest.predict("spin", instances=[FOREVER]) for _ in range(3)])
        assert all(isinstance(a, ServingClientError) and a.status == 504 for a in answers), answers
        assert time.monotonic() - started < 5
        assert _cpu_seconds_over(1.0) < 0.1
    finally:
        server.stop()
