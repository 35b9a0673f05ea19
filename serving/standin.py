"""`dlqos serve`: a development stand-in for TensorFlow Serving, for hosts without the TF Serving binary.

It serves the same REST surface (/v1/models/..., :predict, /metadata) and gRPC services (PredictionService
Predict/GetModelMetadata, ModelService GetModelStatus) over the same base paths and models.config, so clients
and the conformance tests run unchanged against either. Production uses TF Serving (serving/docker-compose.yml,
k8s/). Versions follow the config's policy: new versions are loaded as they are pushed, old ones unloaded; a
version that fails to load is reported and never replaces the one being served.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

log = logging.getLogger("dlqos.serve")
MAX_REQUEST_BYTES = 32 * 1024 * 1024


class ServingError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ModelRegistry:
    """Loaded versions per model, refreshed from disk according to a ModelServerConfig."""

    def __init__(self, config):
        self.config = config
        self._loaded: Dict[str, Dict[int, object]] = {}
        self._states: Dict[str, Dict[int, Tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def _wanted(self, entry, on_disk):
        policy = entry.model_version_policy.WhichOneof("policy_choice")
        if policy == "all":
            return set(on_disk)
        if policy == "specific":
            return set(entry.model_version_policy.specific.versions) & set(on_disk)
        count = entry.model_version_policy.latest.num_versions if policy == "latest" else 1
        return set(sorted(on_disk)[-max(count, 1):])

    def refresh(self) -> None:
        for entry in self.config.model_config_list.config:
            on_disk = []
            if tf.io.gfile.isdir(entry.base_path):
                on_disk = [int(v.rstrip("/")) for v in tf.io.gfile.listdir(entry.base_path) if v.rstrip("/").isdigit()]
            wanted = self._wanted(entry, on_disk)
            loaded = dict(self._loaded.get(entry.name, {}))
            states = self._states.setdefault(entry.name, {})
            for version in sorted(wanted - set(loaded)):
                if states.get(version, ("",))[0] == "END":
                    continue  # failed before: do not retry every poll
                try:
                    loaded[version] = tf.saved_model.load(f"{entry.base_path}/{version}")
                    states[version] = ("AVAILABLE", "")
                    log.info("loaded %s version %d", entry.name, version)
                except Exception as why:  # a corrupt version is reported, the served ones stay
                    states[version] = ("END", f"{type(why).__name__}: {why}")
                    log.warning("could not load %s version %d: %s", entry.name, version, why)
            for version in set(loaded) - wanted:
                del loaded[version]
                states[version] = ("END", "")
            with self._lock:  # swap in one step: requests see the old or the new set, never a half
                self._loaded[entry.name] = loaded

    def entry(self, model: str):
        for entry in self.config.model_config_list.config:
            if entry.name == model:
                return entry
        raise ServingError(404, f"Servable not found for request: Latest({model})")

    def resolve(self, model: str, version: Optional[int] = None, label: Optional[str] = None) -> Tuple[int, object]:
        entry = self.entry(model)
        with self._lock:
            loaded = self._loaded.get(model, {})
        if label is not None:
            if label not in entry.version_labels:
                raise ServingError(404, f"Unrecognized servable version label: {label}")
            version = entry.version_labels[label]
        if version is None:
            if not loaded:
                raise ServingError(404, f"Servable not found for request: Latest({model})")
            version = max(loaded)
        if version not in loaded:
            raise ServingError(404, f"Servable not found for request: Specific({model}, {version})")
        return version, loaded[version]

    def status(self, model: str, version: Optional[int] = None, label: Optional[str] = None) -> list:
        entry = self.entry(model)
        if label is not None or version is not None:
            version, _ = self.resolve(model, version, label)
        states = self._states.get(entry.name, {})
        return [{"version": str(v), "state": state,
                 "status": {"error_code": "OK" if not error else "UNKNOWN", "error_message": error}}
                for v, (state, error) in sorted(states.items(), reverse=True) if version is None or v == version]


def signature(servable, name: str):
    name = name or "serving_default"
    if name not in servable.signatures:
        raise ServingError(400, f"Serving signature name: \"{name}\" not found in signature def")
    return servable.signatures[name]


def _tensor(value, spec: tf.TensorSpec):
    def unwrap(v):
        if isinstance(v, dict) and set(v) == {"b64"}:
            return base64.b64decode(v["b64"])
        if isinstance(v, list):
            return [unwrap(x) for x in v]
        return v

    try:
        array = np.asarray(unwrap(value), dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
        tensor = tf.convert_to_tensor(array, dtype=spec.dtype)
    except (ValueError, TypeError) as why:
        raise ServingError(400, f"input '{spec.name}': cannot convert to {spec.dtype.name}: {why}") from why
    if not spec.shape.is_compatible_with(tensor.shape):
        raise ServingError(400, f"input '{spec.name}': shape {tensor.shape} is not compatible with {spec.shape}")
    return tensor


def run_signature(function, inputs: Dict[str, object]) -> Dict[str, np.ndarray]:
    specs = function.structured_input_signature[1]
    missing = set(specs) - set(inputs)
    unknown = set(inputs) - set(specs)
    if missing or unknown:
        raise ServingError(400, f"inputs must be exactly {sorted(specs)} (missing {sorted(missing)}, "
                                f"unknown {sorted(unknown)})")
    tensors = {key: _tensor(value, specs[key]) for key, value in inputs.items()}
    try:
        outputs = function(**tensors)
    except (tf.errors.InvalidArgumentError, ValueError) as why:
        raise ServingError(400, str(why).splitlines()[0]) from why
    return {key: value.numpy() for key, value in outputs.items()}


def _jsonable(array: np.ndarray, key: str):
    if array.dtype == object or array.dtype.kind == "S":
        flat = [x if isinstance(x, bytes) else bytes(x) for x in array.reshape(-1)]
        if key.endswith("_bytes"):
            values = [{"b64": base64.b64encode(x).decode()} for x in flat]
        else:
            values = [x.decode("utf-8", errors="replace") for x in flat]
        return np.array(values, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def predict_rest(registry: ModelRegistry, model: str, version, label, body: dict) -> dict:
    _, servable = registry.resolve(model, version, label)
    function = signature(servable, body.get("signature_name", ""))
    names = list(function.structured_input_signature[1])
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError(400, "'instances' must be a non-empty list")
        if isinstance(instances[0], dict) and not set(instances[0]) == {"b64"}:
            inputs = {n: [row.get(n) for row in instances] for n in names}
        elif len(names) == 1:
            inputs = {names[0]: instances}
        else:
            raise ServingError(400, f"signature has inputs {names}: each instance must be an object")
        outputs = run_signature(function, inputs)
        if len(outputs) == 1:
            return {"predictions": _jsonable(next(iter(outputs.values())), next(iter(outputs)))}
        rows = len(next(iter(outputs.values())))
        return {"predictions": [{k: _jsonable(v, k)[i] for k, v in outputs.items()} for i in range(rows)]}
    if "inputs" in body:
        inputs = body["inputs"] if isinstance(body["inputs"], dict) else {names[0]: body["inputs"]}
        outputs = run_signature(function, inputs)
        return {"outputs": {k: _jsonable(v, k) for k, v in outputs.items()}}
    raise ServingError(400, "request needs 'instances' (row format) or 'inputs' (columnar format)")


def metadata(registry: ModelRegistry, model: str, version, label) -> dict:
    version, servable = registry.resolve(model, version, label)
    signatures = {}
    for name, function in servable.signatures.items():
        specs = function.structured_input_signature[1]
        outputs = function.structured_outputs
        signatures[name] = {
            "inputs": {k: {"dtype": s.dtype.name, "shape": s.shape.as_list()} for k, s in specs.items()},
            "outputs": {k: {"dtype": t.dtype.name, "shape": t.shape.as_list()} for k, t in outputs.items()},
        }
    return {"model_spec": {"name": model, "version": str(version)}, "metadata": {"signature_def": signatures}}


_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<suffix>/metadata|:predict)?$")


def make_handler(registry: ModelRegistry):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            try:
                match = _PATH.match(self.path.split("?")[0])
                if not match:
                    raise ServingError(404, f"Malformed request: {method} {self.path}")
                model, label, suffix = match["model"], match["label"], match["suffix"]
                version = int(match["version"]) if match["version"] else None
                if method == "GET" and suffix is None:
                    self._reply(200, {"model_version_status": registry.status(model, version, label)})
                elif method == "GET" and suffix == "/metadata":
                    self._reply(200, metadata(registry, model, version, label))
                elif method == "POST" and suffix == ":predict":
                    length = int(self.headers.get("Content-Length") or 0)
                    if length > MAX_REQUEST_BYTES:
                        raise ServingError(413, f"request of {length} bytes exceeds the {MAX_REQUEST_BYTES} limit")
                    try:
                        body = json.loads(self.rfile.read(length) or b"null")
                    except ValueError as why:
                        raise ServingError(400, f"JSON Parse error: {why}") from why
                    if not isinstance(body, dict):
                        raise ServingError(400, "request body must be a JSON object")
                    self._reply(200, predict_rest(registry, model, version, label, body))
                else:
                    raise ServingError(405 if suffix else 404, f"Unsupported {method} on {self.path}")
            except ServingError as error:
                self._reply(error.status, {"error": str(error)})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

    return Handler


def grpc_services(registry: ModelRegistry):
    """PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus) servicers."""
    import grpc
    from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                         predict_pb2, prediction_service_pb2_grpc)

    codes = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND}

    def spec_target(spec):
        version = spec.version.value if spec.HasField("version") else None
        return spec.name, version, spec.version_label or None

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            try:
                name, version, label = spec_target(request.model_spec)
                version, servable = registry.resolve(name, version, label)
                function = signature(servable, request.model_spec.signature_name)
                outputs = run_signature(function, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
            except ServingError as error:
                context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = name
            response.model_spec.version.value = version
            response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        def GetModelMetadata(self, request, context):
            from tensorflow.python.saved_model import loader_impl
            from tensorflow_serving.apis import get_model_metadata_pb2 as metadata_pb2

            try:
                name, version, label = spec_target(request.model_spec)
                version, _ = registry.resolve(name, version, label)
            except ServingError as error:
                context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))
            entry = registry.entry(name)
            saved_model = loader_impl.parse_saved_model(f"{entry.base_path}/{version}")
            signature_map = metadata_pb2.SignatureDefMap()
            for key, value in saved_model.meta_graphs[0].signature_def.items():
                signature_map.signature_def[key].CopyFrom(value)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = name
            response.model_spec.version.value = version
            response.metadata["signature_def"].Pack(signature_map)
            return response

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        def GetModelStatus(self, request, context):
            try:
                name, version, label = spec_target(request.model_spec)
                statuses = registry.status(name, version, label)
            except ServingError as error:
                context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))
            response = get_model_status_pb2.GetModelStatusResponse()
            for status in statuses:
                entry = response.model_version_status.add(version=int(status["version"]))
                entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status["state"])
                entry.status.error_message = status["status"]["error_message"]
            return response

    return Prediction(), Models()


class StandIn:
    """REST and gRPC servers over one registry, with a poller loading newly pushed versions."""

    def __init__(self, config, host: str = "127.0.0.1", rest_port: int = 8501, grpc_port: int = 8500,
                 poll_seconds: float = 5.0):
        import grpc
        from concurrent import futures
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.registry = ModelRegistry(config)
        self.registry.refresh()
        self.http = ThreadingHTTPServer((host, rest_port), make_handler(self.registry))
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                                options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)])
        prediction, models = grpc_services(self.registry)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, self.grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, self.grpc)
        self.grpc_port = self.grpc.add_insecure_port(f"{host}:{grpc_port}")
        self.rest_port = self.http.server_address[1]
        self._stop = threading.Event()
        self._poll_seconds = poll_seconds

    def start(self) -> "StandIn":
        self.grpc.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        threading.Thread(target=self._poll, daemon=True).start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.registry.refresh()

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(grace=1)
