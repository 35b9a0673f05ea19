"""The server every conformance test talks to, and the models it serves."""
from __future__ import annotations

import os
import threading

import pytest

from serving.client import GrpcClient, RestClient
from serving.config import BATCHING, DEFAULT_BATCH_THREADS, models_config, parse_batching_parameters
from tests.helpers import save_tiny_model, write_transform_graph

X = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]
TEXTGEN_VOCABULARY = list("abcdefgh ")


def save_tiny_textgen(export_dir: str, work_dir: str, limits=None):
    """textgen's own export (`generate` and the loss signature) of a tiny GRU over 9 characters, its GRU and
    output weights scaled up so that the next character depends clearly on the context; `generate` within
    `limits` (a TextgenModel; its defaults when None). Returns the Keras model."""
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from models.steps import TextgenModel, textgen

    keras.utils.set_random_seed(3)
    model = textgen.build_model(len(TEXTGEN_VOCABULARY), embedding_dim=8, rnn_units=16)
    for layer_name in ("gru", "logits"):
        layer = model.get_layer(layer_name)
        layer.set_weights([w * 4 for w in layer.get_weights()])
    windows = [{"ids": np.arange(101) % len(TEXTGEN_VOCABULARY)}]
    transform_output = write_transform_graph(work_dir, textgen.preprocessing_fn,
                                             {"ids": tf.io.FixedLenFeature([101], tf.int64)}, windows)
    textgen.export(model, transform_output, TEXTGEN_VOCABULARY, export_dir, limits or TextgenModel())
    return model


def concurrently(calls):
    """Start all calls at once; return each one's result or the exception it raised."""
    start = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index):
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # kept per call: the test checks who failed
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


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
