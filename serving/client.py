"""Clients for TF Serving (or the stand-in): REST with JSON and gRPC with tensorflow-serving-api stubs.

Both retry while the server is UNAVAILABLE (starting, reloading), bound every call with a timeout and raise
ServingClientError with the server's message otherwise.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional, Tuple


class ServingClientError(Exception):
    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


def _retrying(call, retries: int, backoff: float, unavailable):
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as error:  # classified by `unavailable`; everything else propagates at once
            if attempt == retries or not unavailable(error):
                raise
            time.sleep(backoff * (2 ** attempt))


def named_outputs(response: dict, names: List[str]) -> dict:
    """A REST predict answer with every output named, whichever shape the server chose: TF Serving omits the name
    when the signature has a single output ("predictions": [v, ...], "outputs": v)."""
    if len(names) != 1:
        return response
    name = names[0]
    if "outputs" in response:
        value = response["outputs"]
        named = isinstance(value, dict) and set(value) == {name}
        return {**response, "outputs": value if named else {name: value}}
    rows = response.get("predictions", [])
    if all(isinstance(row, dict) and set(row) == {name} for row in rows):
        return response
    return {**response, "predictions": [{name: row} for row in rows]}


def pick_signature(signatures: dict, model: str, name: str = "") -> dict:
    """One SignatureDef (JSON) out of a model's metadata; a missing one is an error naming those there are."""
    name = name or "serving_default"
    if name not in signatures:
        raise ServingClientError(f"model {model} has no signature {name!r} (it has {sorted(signatures)})")
    return signatures[name]


def _batched(tensor_info: dict) -> bool:
    dims = tensor_info.get("tensor_shape", {}).get("dim", [])
    return bool(dims) and int(dims[0].get("size", 0)) == -1


def request_body(value, signature: dict) -> dict:
    """A JSON value as a REST predict body: a list is row format ("instances"), an object columnar ("inputs"),
    except an object of single values (no lists) for a signature whose inputs all have a batch dimension: that is
    one instance (e.g. one prompt, its num_chars, temperature and seed for textgen's `generate`)."""
    if not isinstance(value, dict):
        return {"instances": value}
    inputs = signature.get("inputs", {})
    single_values = bool(value) and not any(isinstance(v, list) for v in value.values())
    if single_values and inputs and all(_batched(info) for info in inputs.values()):
        return {"instances": [value]}
    return {"inputs": value}


def _model_path(model: str, version: Optional[int], label: Optional[str]) -> str:
    if version is not None:
        return f"/v1/models/{model}/versions/{version}"
    if label is not None:
        return f"/v1/models/{model}/labels/{label}"
    return f"/v1/models/{model}"


class RestClient:
    def __init__(self, base_url: str = "http://localhost:8501", timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.2):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def _call(self, path: str, body: Optional[dict] = None) -> dict:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()  # compact: ~20% fewer bytes
        request = urllib.request.Request(self.base_url + path, data=data,
                                         headers={"Content-Type": "application/json"})

        def once():
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.load(response)
            except urllib.error.HTTPError as error:
                try:
                    message = json.load(error).get("error", error.reason)
                except ValueError:
                    message = error.reason
                raise ServingClientError(f"HTTP {error.code}: {message}", error.code) from None

        def unavailable(error):
            return isinstance(error, (ConnectionError, urllib.error.URLError)) or \
                (isinstance(error, ServingClientError) and error.status == 503)

        try:
            return _retrying(once, self.retries, self.backoff, unavailable)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            raise ServingClientError(f"cannot reach {self.base_url}: {error}") from error

    def status(self, model: str, version: Optional[int] = None, label: Optional[str] = None) -> dict:
        return self._call(_model_path(model, version, label))

    def metadata(self, model: str, version: Optional[int] = None, label: Optional[str] = None) -> dict:
        return self._call(_model_path(model, version, label) + "/metadata")

    def version_state(self, model: str, version: int) -> Tuple[str, str]:
        """(state, error message) of one version, as GetModelStatus reports it (e.g. ("AVAILABLE", ""))."""
        status = self.status(model, version)["model_version_status"][0]
        return status["state"], status.get("status", {}).get("error_message", "")

    def classify(self, model: str, examples: list, signature: str = "classify", version: Optional[int] = None,
                 label: Optional[str] = None) -> list:
        """TF Serving's :classify: examples as JSON objects of features -> per example [[class, score], ...]."""
        body = {"signature_name": signature, "examples": examples}
        return self._call(_model_path(model, version, label) + ":classify", body)["results"]

    def signature(self, model: str, signature: str = "", version: Optional[int] = None,
                  label: Optional[str] = None) -> dict:
        """One SignatureDef as JSON, from the metadata (GetModelMetadataResponse JSON)."""
        signatures = self.metadata(model, version, label)["metadata"]["signature_def"]["signature_def"]
        return pick_signature(signatures, model, signature)

    def output_names(self, model: str, signature: str = "", version: Optional[int] = None,
                     label: Optional[str] = None) -> List[str]:
        return sorted(self.signature(model, signature, version, label).get("outputs", {}))

    def predict(self, model: str, instances=None, inputs=None, signature: str = "", version: Optional[int] = None,
                label: Optional[str] = None, named: bool = False) -> dict:
        """Row format (`instances`) or columnar (`inputs`); bytes values travel as {"b64": ...}. named: every output
        keyed by its name even when the server omits a single output's name (costs one metadata call)."""
        body = {"instances": instances} if inputs is None else {"inputs": inputs}
        if signature:
            body["signature_name"] = signature
        response = self._call(_model_path(model, version, label) + ":predict", body)
        return named_outputs(response, self.output_names(model, signature, version, label)) if named else response


class GrpcClient:
    def __init__(self, target: str = "localhost:8500", timeout: float = 10.0, retries: int = 3, backoff: float = 0.2):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc = grpc
        self.channel = grpc.insecure_channel(target)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def _invoke(self, method, request):
        grpc = self._grpc

        def unavailable(error):
            return isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNAVAILABLE

        try:
            return _retrying(lambda: method(request, timeout=self.timeout), self.retries, self.backoff, unavailable)
        except grpc.RpcError as error:
            raise ServingClientError(f"gRPC {error.code().name}: {error.details()}") from None

    @staticmethod
    def _spec(spec, model: str, signature: str = "", version: Optional[int] = None, label: Optional[str] = None):
        spec.name = model
        if signature:
            spec.signature_name = signature
        if version is not None:
            spec.version.value = version
        if label is not None:
            spec.version_label = label

    def predict(self, model: str, inputs: Dict[str, object], signature: str = "", version: Optional[int] = None,
                label: Optional[str] = None, output_filter: Optional[List[str]] = None) -> Dict[str, object]:
        """Named numpy outputs (only those in output_filter, when given)."""
        import tensorflow as tf

        response = self.predict_response(model, inputs, signature, version, label, output_filter)
        return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}

    def predict_response(self, model: str, inputs: Dict[str, object], signature: str = "",
                         version: Optional[int] = None, label: Optional[str] = None,
                         output_filter: Optional[List[str]] = None):
        """The PredictResponse itself: its model_spec says which version answered (a label resolved)."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(output_filter=output_filter or [])
        self._spec(request.model_spec, model, signature, version, label)
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        return self._invoke(self.prediction.Predict, request)

    def classify(self, model: str, examples: list, signature: str = "classify", version: Optional[int] = None,
                 label: Optional[str] = None) -> list:
        """gRPC Classify: tf.train.Example protos -> per example [(class, score), ...]."""
        from tensorflow_serving.apis import classification_pb2

        request = classification_pb2.ClassificationRequest()
        self._spec(request.model_spec, model, signature, version, label)
        request.input.example_list.examples.extend(examples)
        response = self._invoke(self.prediction.Classify, request)
        return [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]

    def metadata(self, model: str, version: Optional[int] = None):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model, version=version)
        response = self._invoke(self.prediction.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return signatures

    def signature(self, model: str, signature: str = "", version: Optional[int] = None) -> dict:
        """One SignatureDef as the same JSON the REST metadata holds (snake_case, dtype names, sizes as strings)."""
        from google.protobuf import json_format

        signatures = json_format.MessageToDict(self.metadata(model, version), preserving_proto_field_name=True)
        return pick_signature(signatures.get("signature_def", {}), model, signature)

    def status(self, model: str, version: Optional[int] = None):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version=version)
        return self._invoke(self.models.GetModelStatus, request)

    def version_state(self, model: str, version: int) -> Tuple[str, str]:
        """(state, error message) of one version, as GetModelStatus reports it (e.g. ("AVAILABLE", ""))."""
        from tensorflow_serving.apis import get_model_status_pb2

        status = self.status(model, version).model_version_status[0]
        return get_model_status_pb2.ModelVersionStatus.State.Name(status.state), status.status.error_message
