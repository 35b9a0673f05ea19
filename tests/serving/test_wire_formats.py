"""Wire formats, section by section of TF Serving's REST API document (g3doc/api_rest.md) and the semantics of its
protos and sources (util/json_tensor.cc, model_servers/http_rest_api_util.cc, servables/tensorflow/predict_util.cc).

The expected values are the document's own examples where it has them: the `half_plus_three` model answering
{"instances": [1.0, 2.0, 5.0]} with {"predictions": [3.5, 4.0, 5.5]}, its status at version 123, the 404 for an
unknown model. Like test_conformance.py they run against a real TF Serving when DLQOS_REST_URL is set.
"""
import base64
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from serving.client import ServingClientError, named_outputs

MODEL = "half_plus_three"


def _post(server, path: str, body: dict):
    """(status, JSON answer) of a raw REST call, so that the exact answer is checked, not the client's reading."""
    request = urllib.request.Request(server["rest"].base_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _get(server, path: str) -> dict:
    with urllib.request.urlopen(server["rest"].base_url + path, timeout=30) as response:
        return json.load(response)


# Model status API: "returns a JSON representation of GetModelStatusResponse protobuf" (the document's example).
def test_status_is_the_documents_example(server):
    assert _get(server, f"/v1/models/{MODEL}") == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert _get(server, f"/v1/models/{MODEL}/versions/123")["model_version_status"][0]["version"] == "123"


# Model Metadata API: GetModelMetadataResponse as TF Serving prints it (snake_case, default values included,
# the SignatureDefMap printed on its own under metadata.signature_def).
def test_metadata_is_the_proto_json_tf_serving_prints(server):
    answer = _get(server, f"/v1/models/{MODEL}/metadata")
    assert answer["model_spec"] == {"name": MODEL, "signature_name": "", "version": "123"}
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) >= {"serving_default", "counts", "echo"}
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    x = default["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT" and x["name"].endswith(":0")
    assert x["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert signatures["echo"]["inputs"]["s"]["dtype"] == "DT_STRING"
    assert signatures["counts"]["outputs"]["doubled"]["dtype"] == "DT_INT32"


def test_grpc_metadata_and_rest_metadata_agree(server):
    grpc_signatures = server["grpc"].metadata(MODEL).signature_def
    rest_signatures = _get(server, f"/v1/models/{MODEL}/metadata")["metadata"]["signature_def"]["signature_def"]
    assert set(grpc_signatures) == set(rest_signatures)
    assert grpc_signatures["serving_default"].inputs["x"].name == rest_signatures["serving_default"]["inputs"]["x"]["name"]


# Predict API, response format: "If the output of the model contains only one named tensor, we omit the name".
def test_single_output_row_format_is_the_documents_example(server):
    assert _post(server, f"/v1/models/{MODEL}:predict", {"instances": [1.0, 2.0, 5.0]}) == \
        (200, {"predictions": [3.5, 4.0, 5.5]})


def test_single_output_columnar_format_omits_the_name(server):
    assert _post(server, f"/v1/models/{MODEL}:predict", {"inputs": [1.0, 2.0, 5.0]}) == \
        (200, {"outputs": [3.5, 4.0, 5.5]})
    assert _post(server, f"/v1/models/{MODEL}:predict", {"inputs": {"x": [1.0]}}) == (200, {"outputs": [3.5]})


def test_several_outputs_keep_their_names(server):
    status, rows = _post(server, "/v1/models/tiny/versions/1:predict", {"instances": [[1.0, 2.0, 3.0]]})
    assert status == 200 and rows == {"predictions": [{"y": [2.0, 4.0, 6.0], "total": 12.0}]}
    status, columns = _post(server, "/v1/models/tiny/versions/1:predict", {"inputs": {"x": [[1.0, 2.0, 3.0]]}})
    assert status == 200 and columns == {"outputs": {"y": [[2.0, 4.0, 6.0]], "total": [12.0]}}


# Output of binary values: outputs named *_bytes come back as {"b64": ...}, other strings as text.
def test_bytes_outputs_are_base64_objects(server):
    status, answer = _post(server, f"/v1/models/{MODEL}:predict",
                           {"signature_name": "echo", "instances": [{"b64": base64.b64encode(b"\x00ab").decode()}]})
    assert status == 200
    assert answer == {"predictions": [{"raw_bytes": {"b64": "AGFi"}, "text": "\x00ab"}]}


# Errors: {"error": <message>}; the document's example is an unknown model.
def test_unknown_model_is_the_documents_404(server):
    assert _post(server, "/v1/models/half:predict", {"instances": [1.0, 5.0]}) == \
        (404, {"error": "Servable not found for request: Latest(half)"})


# JSON mapping: each TF type takes its JSON type; a value of another type, or an integer outside the type's
# range (rapidjson's IsInt), is INVALID_ARGUMENT, never cast or wrapped.
@pytest.mark.parametrize("signature, value, expected", [
    ("counts", 1.5, "int32"),
    ("counts", 2**31, "int32"),
    ("counts", 2**32 + 5, "int32"),
    ("counts", -2**31 - 1, "int32"),
    ("counts", "2", "int32"),
    ("counts", True, "int32"),
    ("serving_default", "a", "float"),
    ("serving_default", False, "float"),
    ("echo", 7, "string"),
])
def test_json_values_of_the_wrong_type_are_invalid_argument(server, signature, value, expected):
    status, answer = _post(server, f"/v1/models/{MODEL}:predict",
                           {"signature_name": signature, "instances": [value]})
    assert status == 400 and f"is not of expected type: {expected}" in answer["error"]


def test_json_values_of_the_right_type_are_accepted(server):
    assert _post(server, f"/v1/models/{MODEL}:predict", {"signature_name": "counts", "instances": [1, -2]}) == \
        (200, {"predictions": [2, -4]})
    assert _post(server, f"/v1/models/{MODEL}:predict", {"instances": [2]})[1] == {"predictions": [4.0]}


# gRPC Predict: dtypes are checked, output_filter is honoured, unparsable tensors are INVALID_ARGUMENT.
def test_grpc_input_of_the_wrong_dtype_is_invalid_argument(server):
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT.*to be float but string is provided"):
        server["grpc"].predict(MODEL, {"x": np.array([b"any_value"], dtype=object)})
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT.*to be float but double is provided"):
        server["grpc"].predict(MODEL, {"x": np.array([1.0], dtype=np.float64)})


def test_grpc_output_filter(server):
    X = np.array([[1.0, 2.0, 3.0]], np.float32)
    assert set(server["grpc"].predict("tiny", {"x": X}, output_filter=["total"])) == {"total"}
    assert set(server["grpc"].predict("tiny", {"x": X})) == {"total", "y"}
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT.*output tensor alias not found in signature: "
                                                 "output_filter"):
        server["grpc"].predict("tiny", {"x": X}, output_filter=["output_filter"])
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT.*duplicate output tensor alias: y"):
        server["grpc"].predict("tiny", {"x": X}, output_filter=["y", "y"])


def test_grpc_truncated_tensor_content_is_invalid_argument(server):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0, 3.0], np.float32)))
    request.inputs["x"].tensor_content = request.inputs["x"].tensor_content[:5]
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT.*tensor parsing error: x"):
        server["grpc"]._invoke(server["grpc"].prediction.Predict, request)


# The clients read both shapes: TF Serving's (a single output unnamed) and named outputs.
def test_rest_client_names_a_single_output(server):
    named = server["rest"].predict(MODEL, instances=[1.0, 2.0], named=True)
    assert named["predictions"] == [{"y": 3.5}, {"y": 4.0}]
    assert server["rest"].predict(MODEL, inputs=[1.0], named=True)["outputs"] == {"y": [3.5]}


@pytest.mark.parametrize("response", [{"outputs": [1.0, 2.0]}, {"outputs": {"y": [1.0, 2.0]}}])
def test_named_outputs_reads_both_columnar_shapes(response):
    assert named_outputs(response, ["y"]) == {"outputs": {"y": [1.0, 2.0]}}


@pytest.mark.parametrize("response", [{"predictions": [1.0, 2.0]}, {"predictions": [{"y": 1.0}, {"y": 2.0}]}])
def test_named_outputs_reads_both_row_shapes(response):
    assert named_outputs(response, ["y"]) == {"predictions": [{"y": 1.0}, {"y": 2.0}]}
