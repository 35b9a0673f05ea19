"""The server every conformance test talks to, and the models it serves."""
from __future__ import annotations

import os

import pytest

from serving.client import GrpcClient, RestClient
from serving.config import BATCHING, DEFAULT_BATCH_THREADS, models_config, parse_batching_parameters
from tests.conftest import save_tiny_model

X = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]


def save_half_plus_three(path: str) -> str:
    """The REST API document's example model (TF Serving's testdata saved_model_half_plus_three): one input `x`
    (float, [N]) and one output `y` = 0.5 * x + 3, so its single-output answers can be checked against the
    document's own examples. `counts` (int32 [N] -> int32 [N]) and `echo` (string -> `text`, `raw_bytes`) add the
    other JSON types."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(x):
        return {"y": 0.5 * x + 3.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="n")])
    def counts(n):
        return {"doubled": n * 2}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="s")])
    def echo(s):
        return {"text": s, "raw_bytes": s}

    tf.saved_model.save(module, path, signatures={"serving_default": serve.get_concrete_function(),
                                                  "counts": counts.get_concrete_function(),
                                                  "echo": echo.get_concrete_function()})
    return path


@pytest.fixture(scope="module", params=["unbatched", "batched"])
def server(request, tmp_path_factory):
    """The stand-in as `dlqos serve` runs it, without and with --enable-batching (serving-config's parameters),
    or the TF Serving named by DLQOS_REST_URL / DLQOS_GRPC_TARGET."""
    root = tmp_path_factory.mktemp("serving")
    for version, scale in ((1, 2.0), (2, 3.0)):
        save_tiny_model(str(root / "tiny" / str(version)), scale)
    save_half_plus_three(str(root / "half_plus_three" / "123"))
    if os.environ.get("DLQOS_REST_URL"):
        if request.param == "batched":
            pytest.skip("batching is the server's setting: the external server is checked once")
        yield {"rest": RestClient(os.environ["DLQOS_REST_URL"]), "grpc": GrpcClient(os.environ["DLQOS_GRPC_TARGET"]),
               "standin": None, "root": root}
        return
    from serving.standin import StandIn

    batching = parse_batching_parameters(BATCHING % DEFAULT_BATCH_THREADS) if request.param == "batched" else None
    standin = StandIn(models_config(str(root)), rest_port=0, grpc_port=0, poll_seconds=3600,
                      batching=batching).start()
    yield {"rest": RestClient(f"http://127.0.0.1:{standin.rest_port}", retries=1),
           "grpc": GrpcClient(f"127.0.0.1:{standin.grpc_port}", retries=1), "standin": standin, "root": root}
    standin.stop()
