"""`dlqos serve`: a development stand-in for TensorFlow Serving, for hosts without the TF Serving binary.

It serves the same REST surface (/v1/models/..., :predict, /metadata) and gRPC services (PredictionService
Predict/GetModelMetadata, ModelService GetModelStatus) over the same base paths and models.config, so clients
and the conformance tests run unchanged against either. Production uses TF Serving (serving/docker-compose.yml,
k8s/). Versions follow the config's policy: new versions are loaded as they are pushed, old ones unloaded; a
version that fails to load is reported and never replaces the one being served.
"""
from __future__ import annotations

import base64
import functools
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from serving.config import BatchingParameters

log = logging.getLogger("dlqos.serve")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
GRPC_WORKERS = 16


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


def prepare_inputs(function, inputs: Dict[str, object]) -> Dict[str, tf.Tensor]:
    """One request's inputs checked and converted, before any batching: its errors stay its own 400."""
    specs = function.structured_input_signature[1]
    missing = set(specs) - set(inputs)
    unknown = set(inputs) - set(specs)
    if missing or unknown:
        raise ServingError(400, f"inputs must be exactly {sorted(specs)} (missing {sorted(missing)}, "
                                f"unknown {sorted(unknown)})")
    return {key: _tensor(value, specs[key]) for key, value in inputs.items()}


def call_signature(function, tensors: Dict[str, tf.Tensor]) -> Dict[str, np.ndarray]:
    try:
        outputs = function(**tensors)
    except (tf.errors.InvalidArgumentError, ValueError) as why:
        raise ServingError(400, str(why).splitlines()[0]) from why
    # np.asarray: a scalar string output (generated text) is bytes from .numpy(), not an array
    return {key: np.asarray(value.numpy(), dtype=object if value.dtype == tf.string else None)
            for key, value in outputs.items()}


def run_signature(function, inputs: Dict[str, object], batcher: Optional[Batcher] = None) -> Dict[str, np.ndarray]:
    tensors = prepare_inputs(function, inputs)
    return batcher.run(function, tensors) if batcher else call_signature(function, tensors)


def _settle(future: Future, call) -> None:
    try:
        future.set_result(call())
    except Exception as error:  # handed to the waiting request, which reports it as it would unbatched
        future.set_exception(error)


class _Task:
    """One queued request: its converted inputs, its rows (axis 0) and where its outputs go."""

    def __init__(self, tensors: Dict[str, tf.Tensor], rows: int):
        self.tensors, self.rows, self.future, self.queued = tensors, rows, Future(), time.monotonic()


class Batcher:
    """TF Serving's --enable_batching for the stand-in: concurrent requests to the same signature of the same
    loaded version run as one signature call (inputs concatenated along axis 0, outputs split back).

    A batch runs once it holds max_batch_size rows or its oldest request has waited batch_timeout_micros, on one
    of num_batch_threads threads. Only requests whose inputs also agree in dtype and inner shape are merged. A
    merged call that fails is re-run request by request, so a bad request fails alone.
    """

    def __init__(self, parameters: BatchingParameters):
        self.parameters = parameters
        self.requests_per_call: Counter = Counter()  # how much merging actually happened
        self._timeout = parameters.batch_timeout_micros / 1e6
        self._queues: Dict[tuple, List[_Task]] = {}
        self._changed = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"batch-{i}")
                         for i in range(parameters.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _batchable(function) -> bool:
        """Every input and output has a free leading (batch) dimension, so rows can be joined and split back."""
        specs = list(function.structured_input_signature[1].values()) + tf.nest.flatten(function.structured_outputs)
        return all(spec.shape.rank and spec.shape[0] is None for spec in specs)

    def run(self, function, tensors: Dict[str, tf.Tensor]) -> Dict[str, np.ndarray]:
        if not self._batchable(function):
            return call_signature(function, tensors)
        rows = {int(tensor.shape[0]) for tensor in tensors.values()}
        if len(rows) != 1:  # no inputs, or inputs that disagree on rows: the signature itself answers
            return call_signature(function, tensors)
        task = _Task(tensors, rows.pop())
        if task.rows > self.parameters.max_batch_size:
            raise ServingError(400, f"Task size {task.rows} is larger than maximum input batch size "
                                    f"{self.parameters.max_batch_size}")
        key = (function, tuple(sorted((name, t.dtype, tuple(t.shape[1:])) for name, t in tensors.items())))
        with self._changed:
            if self._stopping:
                raise ServingError(503, "the server is stopping")
            queue = self._queues.setdefault(key, [])
            queue.append(task)
            if len(queue) == 1:  # a new deadline: every waiting thread re-times its wait
                self._changed.notify_all()
            elif sum(queued.rows for queued in queue) >= self.parameters.max_batch_size:
                self._changed.notify()  # ready now; other arrivals need not wake anyone
        return task.future.result()

    def _take_batch(self, flush: bool):
        """The first queue that is full or past its timeout (any queue when flushing), as (function, tasks)."""
        now = time.monotonic()
        for key, queue in self._queues.items():
            full = sum(task.rows for task in queue) >= self.parameters.max_batch_size
            if full or flush or now - queue[0].queued >= self._timeout:
                tasks, rows = [], 0
                while queue and rows + queue[0].rows <= self.parameters.max_batch_size:
                    rows += queue[0].rows
                    tasks.append(queue.pop(0))
                if not queue:
                    del self._queues[key]
                return key[0], tasks
        return None

    def _seconds_to_next_timeout(self) -> Optional[float]:
        if not self._queues:
            return None
        oldest = min(queue[0].queued for queue in self._queues.values())
        return max(0.0, oldest + self._timeout - time.monotonic())

    def _work(self) -> None:
        while True:
            with self._changed:
                batch = self._take_batch(flush=self._stopping)
                while batch is None and not self._stopping:
                    self._changed.wait(self._seconds_to_next_timeout())
                    batch = self._take_batch(flush=self._stopping)
                if batch is None:
                    return
            self._run(*batch)

    def _run(self, function, tasks: List[_Task]) -> None:
        rows = sum(task.rows for task in tasks)
        try:
            merged = {name: tf.concat([task.tensors[name] for task in tasks], axis=0) for name in tasks[0].tensors}
            outputs = call_signature(function, merged)
            if any(len(value) != rows for value in outputs.values()):
                raise ValueError("an output does not keep the batch dimension")
        except Exception:  # re-run one by one: each request gets its own result or error
            for task in tasks:
                _settle(task.future, lambda: call_signature(function, task.tensors))
            return
        with self._changed:
            self.requests_per_call[len(tasks)] += 1
        offsets = np.cumsum([task.rows for task in tasks])[:-1]
        pieces = {key: np.split(value, offsets) for key, value in outputs.items()}
        for index, task in enumerate(tasks):
            task.future.set_result({key: split[index] for key, split in pieces.items()})

    def stop(self) -> None:
        """Run what is queued, then end the batch threads."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()


def _jsonable(array: np.ndarray, key: str):
    if array.dtype == object or array.dtype.kind == "S":
        flat = [x if isinstance(x, bytes) else bytes(x) for x in array.reshape(-1)]
        if key.endswith("_bytes"):
            values = [{"b64": base64.b64encode(x).decode()} for x in flat]
        else:
            values = [x.decode("utf-8", errors="replace") for x in flat]
        return np.array(values, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def predict_rest(registry: ModelRegistry, model: str, version, label, body: dict,
                 batcher: Optional[Batcher] = None) -> dict:
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
        outputs = run_signature(function, inputs, batcher)
        if len(outputs) == 1:
            return {"predictions": _jsonable(next(iter(outputs.values())), next(iter(outputs)))}
        rows = len(next(iter(outputs.values())))
        return {"predictions": [{k: _jsonable(v, k)[i] for k, v in outputs.items()} for i in range(rows)]}
    if "inputs" in body:
        inputs = body["inputs"] if isinstance(body["inputs"], dict) else {names[0]: body["inputs"]}
        outputs = run_signature(function, inputs, batcher)
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


CLASSIFY_METHOD = "tensorflow/serving/classify"


def signature_defs(registry: ModelRegistry, model: str, version: int) -> dict:
    """The SignatureDefs as saved (with their method names, which TF2's loader does not expose)."""
    return _saved_signature_defs(f"{registry.entry(model).base_path}/{version}")


@functools.lru_cache(maxsize=64)
def _saved_signature_defs(version_dir: str) -> dict:
    """Parsed once per version directory, not per Classify request: a published version never changes (the
    pusher renames it into place complete)."""
    from tensorflow.python.saved_model import loader_impl

    return dict(loader_impl.parse_saved_model(version_dir).meta_graphs[0].signature_def)


def classify(registry: ModelRegistry, model: str, version, label, signature_name: str, examples: List[bytes]):
    """TF Serving's Classify: serialized tf.Examples through a signature whose method_name is classify.
    Returns (version, [[(class, score), ...] per example])."""
    version, servable = registry.resolve(model, version, label)
    name = signature_name or "serving_default"
    definition = signature_defs(registry, model, version).get(name)
    if definition is None:
        raise ServingError(400, f"Serving signature key \"{name}\" not found")
    if definition.method_name != CLASSIFY_METHOD:
        raise ServingError(400, f"Expected classification signature method_name to be {CLASSIFY_METHOD}. "
                                f"Was: {definition.method_name}")
    if not examples:
        raise ServingError(400, "Invalid argument: input is empty")
    outputs = call_signature(signature(servable, name), {"inputs": tf.constant(examples)})
    scores = outputs["scores"]
    classes = outputs.get("classes", np.tile(np.arange(scores.shape[1]).astype(str), (len(scores), 1)))
    return version, [[(c.decode() if isinstance(c, bytes) else str(c), float(s)) for c, s in zip(row_c, row_s)]
                     for row_c, row_s in zip(classes, scores)]


def json_example(features: dict) -> bytes:
    """A REST :classify example (feature -> value or list; ints, floats, strings, {"b64": ...}) serialized."""
    if not isinstance(features, dict):
        raise ServingError(400, "each example must be a JSON object of features")
    example = tf.train.Example()
    for key, value in features.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[key]
        if all(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            feature.bytes_list.value.extend(base64.b64decode(v["b64"]) if isinstance(v, dict) else str(v).encode()
                                            for v in values)
        elif all(isinstance(v, int) for v in values):
            feature.int64_list.value.extend(values)
        else:
            feature.float_list.value.extend(float(v) for v in values)
    return example.SerializeToString()


def classify_rest(registry: ModelRegistry, model: str, version, label, body: dict) -> dict:
    examples = body.get("examples")
    if not isinstance(examples, list):
        raise ServingError(400, "request needs 'examples': a list of JSON objects of features")
    _, results = classify(registry, model, version, label, body.get("signature_name", ""),
                          [json_example(e) for e in examples])
    return {"results": [[[name, score] for name, score in row] for row in results]}


_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<suffix>/metadata|:predict|:classify)?$")


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = socket.SOMAXCONN  # socketserver's listen backlog of 5 resets connections under load


def make_handler(registry: ModelRegistry, batcher: Optional[Batcher] = None):
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
                elif method == "POST" and suffix in (":predict", ":classify"):
                    length = int(self.headers.get("Content-Length") or 0)
                    if length > MAX_REQUEST_BYTES:
                        raise ServingError(413, f"request of {length} bytes exceeds the {MAX_REQUEST_BYTES} limit")
                    try:
                        body = json.loads(self.rfile.read(length) or b"null")
                    except ValueError as why:
                        raise ServingError(400, f"JSON Parse error: {why}") from why
                    if not isinstance(body, dict):
                        raise ServingError(400, "request body must be a JSON object")
                    if suffix == ":classify":
                        self._reply(200, classify_rest(registry, model, version, label, body))
                    else:
                        self._reply(200, predict_rest(registry, model, version, label, body, batcher))
                else:
                    raise ServingError(405 if suffix else 404, f"Unsupported {method} on {self.path}")
            except ServingError as error:
                self._reply(error.status, {"error": str(error)})
            except Exception as error:  # as TF Serving: a 500 with the reason, and the server keeps serving
                log.exception("internal error on %s %s", method, self.path)
                self._reply(500, {"error": f"internal error: {type(error).__name__}: {error}"})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

    return Handler


def _serialized_examples(request_input) -> List[bytes]:
    """An Input proto's examples, each merged over the shared context for example_list_with_context."""
    kind = request_input.WhichOneof("kind")
    if kind is None:
        return []
    examples = getattr(request_input, kind).examples
    if kind == "example_list":
        return [example.SerializeToString() for example in examples]
    merged = []
    for example in examples:
        combined = tf.train.Example()
        combined.CopyFrom(request_input.example_list_with_context.context)
        combined.MergeFrom(example)
        merged.append(combined.SerializeToString())
    return merged


def grpc_services(registry: ModelRegistry, batcher: Optional[Batcher] = None):
    """PredictionService (Predict, Classify, GetModelMetadata) and ModelService (GetModelStatus) servicers."""
    import grpc
    from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                         model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

    codes = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND, 503: grpc.StatusCode.UNAVAILABLE}

    def answered_spec(spec, name: str, version: int, signature_name: str) -> None:
        """The response's model_spec, as TF Serving fills it: the version actually used, the signature's key."""
        spec.name = name
        spec.version.value = version
        spec.signature_name = signature_name or "serving_default"

    def spec_target(spec):
        version = spec.version.value if spec.HasField("version") else None
        return spec.name, version, spec.version_label or None

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            try:
                name, version, label = spec_target(request.model_spec)
                version, servable = registry.resolve(name, version, label)
                function = signature(servable, request.model_spec.signature_name)
                outputs = run_signature(function, {k: tf.make_ndarray(v) for k, v in request.inputs.items()}, batcher)
            except ServingError as error:
                context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))
            response = predict_pb2.PredictResponse()
            answered_spec(response.model_spec, name, version, request.model_spec.signature_name)
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        def Classify(self, request, context):
            try:
                name, version, label = spec_target(request.model_spec)
                version, results = classify(registry, name, version, label, request.model_spec.signature_name,
                                            _serialized_examples(request.input))
            except ServingError as error:
                context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))
            response = classification_pb2.ClassificationResponse()
            answered_spec(response.model_spec, name, version, request.model_spec.signature_name)
            for row in results:
                classifications = response.result.classifications.add()
                for class_name, score in row:
                    classifications.classes.add(label=class_name, score=score)
            return response

        def GetModelMetadata(self, request, context):
            from tensorflow_serving.apis import get_model_metadata_pb2 as metadata_pb2

            try:
                name, version, label = spec_target(request.model_spec)
                version, _ = registry.resolve(name, version, label)
            except ServingError as error:
                context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))
            signature_map = metadata_pb2.SignatureDefMap()
            for key, value in signature_defs(registry, name, version).items():
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
    """REST and gRPC servers over one registry, with a poller loading newly pushed versions.

    batching: merge concurrent Predict calls (Batcher) with these parameters; None (default) runs each alone.
    """

    def __init__(self, config, host: str = "127.0.0.1", rest_port: int = 8501, grpc_port: int = 8500,
                 poll_seconds: float = 5.0, batching: Optional[BatchingParameters] = None):
        import grpc
        from concurrent import futures
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.registry = ModelRegistry(config)
        self.registry.refresh()
        self.batcher = Batcher(batching) if batching else None
        self.http = _HTTPServer((host, rest_port), make_handler(self.registry, self.batcher))
        # A handler thread waits while its request sits in a batch: with fewer threads than a full batch for every
        # batch thread, batches never fill and each one waits out batch_timeout_micros.
        workers = max(GRPC_WORKERS, batching.max_batch_size * batching.num_batch_threads) if batching else GRPC_WORKERS
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                                options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)])
        prediction, models = grpc_services(self.registry, self.batcher)
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
        if self.batcher:
            self.batcher.stop()
