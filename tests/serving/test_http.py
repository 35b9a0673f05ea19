"""The stand-in's HTTP layer under malformed requests and large ones: a bad Content-Length is a quick 400 that
frees its thread, and row-format answers take time linear in the rows."""
import socket
import threading
import time

import numpy as np
import pytest

from serving import standin, wire
from serving.client import RestClient
from serving.config import models_config
from tests.helpers import save_tiny_model


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    save_tiny_model(str(root / "tiny" / "1"), 2.0)
    server = standin.StandIn(models_config(str(root)), rest_port=0, grpc_port=0, poll_seconds=3600).start()
    yield server
    server.stop()


def _raw_post(port: int, content_length: str, body: bytes, wait: float) -> bytes:
    """One POST with the given Content-Length header, the connection left open; what arrives within `wait` s."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(f"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {content_length}"
                           "\r\nContent-Type: application/json\r\n\r\n".encode() + body)
        answer = b""
        try:
            while chunk := connection.recv(65536):  # the server closes the connection after the error
                answer += chunk
        except socket.timeout:
            pass
        return answer


@pytest.mark.parametrize("content_length", ["-1", "abc", "1e3", "+5", "²"])
def test_an_invalid_content_length_is_a_400_at_once(server, content_length):
    started = time.monotonic()
    answer = _raw_post(server.rest_port, content_length, b'{"instances": [[1, 2, 3]]}', wait=3)
    assert answer.startswith(b"HTTP/1.1 400") and b"invalid Content-Length" in answer
    assert time.monotonic() - started < 2


def test_a_content_length_over_the_limit_is_a_413_at_once(server):
    """Refused from the header alone: the server neither reads nor waits for the announced body."""
    started = time.monotonic()
    answer = _raw_post(server.rest_port, str(standin.MAX_REQUEST_BYTES + 1), b'{"instances": [[1, 2, 3]]}', wait=3)
    assert answer.startswith(b"HTTP/1.1 413") and b"exceeds the 33554432 limit" in answer
    assert time.monotonic() - started < 2


def test_a_body_shorter_than_its_content_length_is_a_400_and_frees_the_thread(server, monkeypatch):
    monkeypatch.setattr(standin, "BODY_TIMEOUT_S", 0.5)
    before = threading.active_count()
    answers = []

    def one():
        answers.append(_raw_post(server.rest_port, "1000", b'{"instances": ', wait=10))

    clients = [threading.Thread(target=one) for _ in range(20)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert len(answers) == 20 and all(a.startswith(b"HTTP/1.1 400") for a in answers), answers[:1]
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert threading.active_count() <= before
    assert RestClient(f"http://127.0.0.1:{server.rest_port}").predict("tiny", instances=[[1, 1, 1]])["predictions"]


def test_row_format_converts_each_output_once(monkeypatch):
    calls = []
    original = wire._json_values
    monkeypatch.setattr(wire, "_json_values", lambda array, name: calls.append(name) or original(array, name))
    rows = 5000
    answer = wire.row_response({"y": np.zeros((rows, 3), np.float32), "total": np.arange(rows)})
    assert sorted(calls) == ["total", "y"] and len(answer["predictions"]) == rows
    assert answer["predictions"][7] == {"y": [0.0, 0.0, 0.0], "total": 7}


def test_row_format_of_many_instances_is_fast(server):
    """The issue's measurement: 10,000 rows took 24 s with a conversion per row and output."""
    client = RestClient(f"http://127.0.0.1:{server.rest_port}", timeout=60)
    instances = np.ones((10_000, 3)).tolist()
    started = time.monotonic()
    rows = client.predict("tiny", instances=instances)["predictions"]
    assert len(rows) == 10_000 and rows[-1]["total"] == pytest.approx(6.0)
    assert time.monotonic() - started < 8


def _raw_chunked(port: int, chunks: bytes) -> bytes:
    """One chunked POST (the body as given, chunk framing included); the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           b"Content-Type: application/json\r\nConnection: close\r\n\r\n" + chunks)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def _chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_a_chunked_request_is_read_whole(server):
    answer = _raw_chunked(server.rest_port, _chunked(b'{"instances": ', b"[[1, 2, 3]", b"]}"))
    assert answer.startswith(b"HTTP/1.1 200") and b'"total": 12.0' in answer


def test_a_chunked_body_over_the_limit_is_a_413(server, monkeypatch):
    monkeypatch.setattr(standin, "MAX_REQUEST_BYTES", 100)
    answer = _raw_chunked(server.rest_port, _chunked(b" " * 60, b" " * 60))
    assert answer.startswith(b"HTTP/1.1 413") and b"chunked request exceeds the 100 limit" in answer
    monkeypatch.undo()
    announced = b"%x\r\n" % (standin.MAX_REQUEST_BYTES + 1)  # refused from the chunk's size line alone
    assert _raw_chunked(server.rest_port, announced + b"{").startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n", b"2\r\n{}"])
def test_a_malformed_chunked_body_is_a_400(server, monkeypatch, chunks):
    monkeypatch.setattr(standin, "BODY_TIMEOUT_S", 0.5)
    assert _raw_chunked(server.rest_port, chunks).startswith(b"HTTP/1.1 400")
