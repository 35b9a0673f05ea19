"""`dlqos serve`: a development stand-in for TensorFlow Serving, for hosts without the TF Serving binary.

It serves the same REST surface (/v1/models/..., :predict, /metadata) and gRPC services (PredictionService
Predict/GetModelMetadata, ModelService GetModelStatus) over the same base paths and models.config, so clients
and the conformance tests run unchanged against either. Production uses TF Serving (serving/docker-compose.yml,
k8s/). Answers use TF Serving's wire formats (serving/wire.py); versions follow its availability-preserving
policy (serving/registry.py). Either port already taken is refused (PortInUse, exit 2), as TF Serving does. A
request stops computing at its deadline or when its client is gone (serving/deadlines.py).
"""
from __future__ import annotations

import base64
import errno
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

from common.errors import ConfigError
from serving.config import BatchingParameters, read_models_config
from serving.deadlines import Call, Watchdog
from serving.registry import ModelRegistry
from serving.wire import (CLASSIFY_METHOD, ServingError, columnar_inputs, columnar_response, metadata_json, proto_json, row_inputs,
                          row_response, tensor_from_json, tensor_from_proto)

log = logging.getLogger("dlqos.serve")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
BODY_TIMEOUT_S = 5.0  # longest wait for the next bytes of a request body before it is refused as truncated
GRPC_WORKERS = 16
REST_API_TIMEOUT_MS = 30000  # TF Serving's --rest_api_timeout_in_ms default (model_servers/server.h)


def signature(servable, name: str):
    name = name or "serving_default"
    if name not in servable.signatures:
        raise ServingError(400, f"Serving signature name: \"{name}\" not found in signature def")
    return servable.signatures[name]


def prepare_inputs(function, inputs: Dict[str, object], convert=tensor_from_json) -> Dict[str, tf.Tensor]:
    """One request's inputs checked and converted, before any batching: its errors stay its own 400."""
    specs = function.structured_input_signature[1]
    missing = set(specs) - set(inputs)
    unknown = set(inputs) - set(specs)
    if missing or unknown:
        raise ServingError(400, f"inputs must be exactly {sorted(specs)} (missing {sorted(missing)}, "
                                f"unknown {sorted(unknown)})")
    return {key: convert(value, specs[key], key) for key, value in inputs.items()}


def error_line(error: Exception) -> str:
    """The line of a TensorFlow error that says what is wrong (an assertion's message, a shape), as TF Serving
    reports it: not the "Graph execution error:" header or the node and stack lines around it."""
    lines = [line.strip() for line in str(error).splitlines()]
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    return next((line for line in lines if line and not line.startswith(noise)), lines[0] if lines else "")


def call_signature(function, tensors: Dict[str, tf.Tensor], call: Call) -> Dict[str, np.ndarray]:
    try:
        outputs = call.run(function, tensors)
    except (tf.errors.InvalidArgumentError, ValueError) as why:
        raise ServingError(400, error_line(why)) from why
    # np.asarray: a scalar string output (generated text) is bytes from .numpy(), not an array
    return {key: np.asarray(value.numpy(), dtype=object if value.dtype == tf.string else None)
            for key, value in outputs.items()}


def run_signature(function, inputs: Dict[str, object], call: Call, batcher: Optional[Batcher] = None,
                  convert=tensor_from_json) -> Dict[str, np.ndarray]:
    tensors = prepare_inputs(function, inputs, convert)
    return batcher.run(function, tensors, call) if batcher else call_signature(function, tensors, call)


def _settle(future: Future, call) -> None:
    try:
        future.set_result(call())
    except Exception as error:  # handed to the waiting request, which reports it as it would unbatched
        future.set_exception(error)


class _Task:
    """One queued request: its converted inputs, its rows (axis 0), its Call and where its outputs go."""

    def __init__(self, tensors: Dict[str, tf.Tensor], rows: int, call: Call):
        self.tensors = tensors
        self.rows = rows
        self.call = call
        self.future = Future()
        self.queued = time.monotonic()


class Batcher:
    """TF Serving's --enable_batching for the stand-in: concurrent requests to the same signature of the same
    loaded version run as one signature call (inputs concatenated along axis 0, outputs split back).

    A batch runs once it holds max_batch_size rows or its oldest request has waited batch_timeout_micros, on one
    of num_batch_threads threads. Only requests whose inputs also agree in dtype and inner shape are merged. A
    merged call that fails is re-run request by request, so a bad request fails alone. A request stopped
    (deadline, client gone) before its batch runs is answered without running; a merged call stops only when
    every request in it is stopped.
    """

    def __init__(self, parameters: BatchingParameters, watchdog: Watchdog):
        self.parameters = parameters
        self._watchdog = watchdog
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

    def run(self, function, tensors: Dict[str, tf.Tensor], call: Call) -> Dict[str, np.ndarray]:
        if not self._batchable(function):
            return call_signature(function, tensors, call)
        rows = {int(tensor.shape[0]) for tensor in tensors.values()}
        if len(rows) != 1:  # no inputs, or inputs that disagree on rows: the signature itself answers
            return call_signature(function, tensors, call)
        task = _Task(tensors, rows.pop(), call)
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
                tasks = []
                rows = 0
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
        for task in [task for task in tasks if task.call.stopped()]:
            task.future.set_exception(task.call.error)
            tasks.remove(task)
        if not tasks:
            return
        rows = sum(task.rows for task in tasks)
        try:
            merged = {name: tf.concat([task.tensors[name] for task in tasks], axis=0) for name in tasks[0].tensors}
            outputs = call_signature(function, merged, self._watchdog.all_of([task.call for task in tasks]))
            if any(len(value) != rows for value in outputs.values()):
                raise ValueError("an output does not keep the batch dimension")
        except Exception:  # re-run one by one: each request gets its own result or error
            for task in tasks:
                _settle(task.future, lambda: call_signature(function, task.tensors, task.call))
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


def predict_rest(registry: ModelRegistry, model: str, version, label, body: dict, call: Call,
                 batcher: Optional[Batcher] = None) -> dict:
    """TF Serving's REST Predict: row ("instances") or columnar ("inputs") request, answered in the same format."""
    _, servable = registry.resolve(model, version, label)
    function = signature(servable, body.get("signature_name", ""))
    names = list(function.structured_input_signature[1])
    if ("instances" in body) == ("inputs" in body):
        raise ServingError(400, "Missing 'inputs' or 'instances' key" if "inputs" not in body else
                                "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if "instances" in body:
        return row_response(run_signature(function, row_inputs(body["instances"], names), call, batcher))
    return columnar_response(run_signature(function, columnar_inputs(body["inputs"], names), call, batcher))


def metadata(registry: ModelRegistry, model: str, version, label):
    """GetModelMetadataResponse for the version asked for: the SignatureDefs as saved, packed in an Any."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    version, _ = registry.resolve(model, version, label)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, value in signature_defs(registry, model, version).items():
        signature_map.signature_def[key].CopyFrom(value)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = model
    response.model_spec.version.value = version
    response.metadata["signature_def"].Pack(signature_map)
    return response




def signature_defs(registry: ModelRegistry, model: str, version: int) -> dict:
    """The SignatureDefs as saved (with their method names, which TF2's loader does not expose)."""
    return _saved_signature_defs(f"{registry.entry(model).base_path}/{version}")


@functools.lru_cache(maxsize=64)
def _saved_signature_defs(version_dir: str) -> dict:
    """Parsed once per version directory, not per Classify request: a published version never changes (the
    pusher renames it into place complete)."""
    from tensorflow.python.saved_model import loader_impl

    return dict(loader_impl.parse_saved_model(version_dir).meta_graphs[0].signature_def)


def classify(registry: ModelRegistry, model: str, version, label, signature_name: str, examples: List[bytes],
             call: Call):
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
    outputs = call_signature(signature(servable, name), {"inputs": tf.constant(examples)}, call)
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


def classify_rest(registry: ModelRegistry, model: str, version, label, body: dict, call: Call) -> dict:
    examples = body.get("examples")
    if not isinstance(examples, list):
        raise ServingError(400, "request needs 'examples': a list of JSON objects of features")
    _, results = classify(registry, model, version, label, body.get("signature_name", ""),
                          [json_example(e) for e in examples], call)
    return {"results": [[[name, score] for name, score in row] for row in results]}


def _refuse(handler: BaseHTTPRequestHandler, status: int, message: str) -> ServingError:
    """An error after which the rest of the connection cannot be read as requests: it is closed."""
    handler.close_connection = True
    return ServingError(status, message)


def _sized_body(handler: BaseHTTPRequestHandler) -> bytes:
    """A Content-Length body, refusing a length that is missing, not a number, negative, too large or longer than
    what arrives."""
    text = handler.headers.get("Content-Length", "")
    if not text.isascii() or not text.isdigit():
        raise _refuse(handler, 400, f"invalid Content-Length: {text!r}")
    length = int(text)
    if length > MAX_REQUEST_BYTES:
        raise _refuse(handler, 413, f"request of {length} bytes exceeds the {MAX_REQUEST_BYTES} limit")
    try:
        data = handler.rfile.read(length)
    except OSError:  # socket.timeout included
        data = b""
    if len(data) != length:
        raise _refuse(handler, 400, f"request body has {len(data)} of its {length} bytes (Content-Length)")
    return data


def _chunked_body(handler: BaseHTTPRequestHandler) -> bytes:
    """A Transfer-Encoding: chunked body (RFC 9112 7.1), under the same MAX_REQUEST_BYTES as a sized one: a chunk
    size that is not hex, a chunk without its CRLF or a body that stops early is a 400; trailers are skipped."""
    data = bytearray()
    try:
        while True:
            line = handler.rfile.readline(1024)
            size_text = line.split(b";")[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_text):
                raise _refuse(handler, 400, f"invalid chunk size line: {line[:40]!r}")
            size = int(size_text, 16)
            if len(data) + size > MAX_REQUEST_BYTES:
                raise _refuse(handler, 413, f"chunked request exceeds the {MAX_REQUEST_BYTES} limit")
            if size == 0:
                break
            chunk = handler.rfile.read(size)
            if len(chunk) != size or handler.rfile.readline(3) != b"\r\n":
                raise _refuse(handler, 400, f"chunk of {size} bytes is cut short or lacks its CRLF")
            data += chunk
        while handler.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass
    except OSError:  # socket.timeout included
        raise _refuse(handler, 400, f"chunked request body ended after {len(data)} bytes, before its last chunk") \
            from None
    return bytes(data)


def _json_body(handler: BaseHTTPRequestHandler) -> dict:
    """The JSON body, sized (Content-Length) or chunked. A read waits at most BODY_TIMEOUT_S for bytes that never
    come; a body that cannot be read is refused (400, 413 over the limit) and the connection closed."""
    chunked = handler.headers.get("Transfer-Encoding", "").strip().lower()
    if chunked and chunked != "chunked":
        raise _refuse(handler, 501, f"unsupported Transfer-Encoding: {chunked!r} (only chunked)")
    handler.connection.settimeout(BODY_TIMEOUT_S)
    try:
        data = _chunked_body(handler) if chunked else _sized_body(handler)
    finally:
        handler.connection.settimeout(None)
    if not data:
        raise ServingError(400, "JSON Parse error: The document is empty")
    try:
        body = json.loads(data)
    except ValueError as why:
        raise ServingError(400, f"JSON Parse error: {why}") from why
    if not isinstance(body, dict):
        raise ServingError(400, "JSON Value: request body Is not object")
    return body


_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<suffix>/metadata|:predict|:classify)?$")


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = socket.SOMAXCONN  # socketserver's listen backlog of 5 resets connections under load


def _client_gone(connection: socket.socket) -> bool:
    """The REST client closed its end (EOF or reset) while its request runs; bytes of a next request are not."""
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def make_handler(registry: ModelRegistry, watchdog: Watchdog, timeout_s: Optional[float],
                 batcher: Optional[Batcher] = None):
    """REST handler; each :predict and :classify may compute for timeout_s (None: no limit)."""
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
            try:
                self.wfile.write(body)
            except OSError:  # the client left (a stopped request's 499): nobody to tell
                self.close_connection = True

        def _dispatch(self, method: str) -> Tuple[int, dict]:
            match = _PATH.match(self.path.split("?")[0])
            if not match:
                raise ServingError(404, f"Malformed request: {method} {self.path}")
            model = match["model"]
            label = match["label"]
            suffix = match["suffix"]
            version = int(match["version"]) if match["version"] else None
            if method == "GET" and suffix is None:
                return 200, proto_json(registry.status(model, version, label))
            if method == "GET" and suffix == "/metadata":
                return 200, metadata_json(metadata(registry, model, version, label))
            if method == "POST" and suffix in (":classify", ":predict"):
                body = _json_body(self)
                call = watchdog.call(timeout_s, lambda: _client_gone(self.connection))
                if suffix == ":classify":
                    return 200, classify_rest(registry, model, version, label, body, call)
                return 200, predict_rest(registry, model, version, label, body, call, batcher)
            raise ServingError(405 if suffix else 404, f"Unsupported {method} on {self.path}")

        def _route(self, method: str) -> None:
            try:
                self._reply(*self._dispatch(method))
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


def select_outputs(function, output_filter) -> List[str]:
    """PredictRequest.output_filter checked as TF Serving does (unknown or repeated alias: INVALID_ARGUMENT);
    empty means every output."""
    names = sorted(function.structured_outputs)
    seen: List[str] = []
    for alias in output_filter:
        if alias not in names:
            raise ServingError(400, f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                                    f"the set {{{','.join(names)}}}.")
        if alias in seen:
            raise ServingError(400, f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen or names


def _grpc_predict(registry: ModelRegistry, request, call: Call, batcher: Optional[Batcher]):
    """Predict over gRPC: TensorProto inputs of the signature's dtypes, output_filter honoured."""
    from tensorflow_serving.apis import predict_pb2

    name, version, label = _spec_target(request.model_spec)
    version, servable = registry.resolve(name, version, label)
    function = signature(servable, request.model_spec.signature_name)
    wanted = select_outputs(function, request.output_filter)
    order = sorted(function.structured_input_signature[1])

    def convert(proto, spec, key):
        return tensor_from_proto(proto, spec, key, order.index(key))

    outputs = run_signature(function, dict(request.inputs), call, batcher, convert)
    response = predict_pb2.PredictResponse()
    _answered_spec(response.model_spec, name, version, request.model_spec.signature_name)
    for key in wanted:
        response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
    return response


def _answered_spec(spec, name: str, version: int, signature_name: str) -> None:
    """The response's model_spec, as TF Serving fills it: the version actually used, the signature's key."""
    spec.name = name
    spec.version.value = version
    spec.signature_name = signature_name or "serving_default"


def _spec_target(spec):
    version = spec.version.value if spec.HasField("version") else None
    return spec.name, version, spec.version_label or None


def grpc_services(registry: ModelRegistry, watchdog: Watchdog, batcher: Optional[Batcher] = None):
    """PredictionService (Predict, Classify, GetModelMetadata) and ModelService (GetModelStatus) servicers.
    Predict and Classify compute until the client's deadline, or until the client cancels."""
    import grpc
    from tensorflow_serving.apis import classification_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc

    codes = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND, 503: grpc.StatusCode.UNAVAILABLE,
             499: grpc.StatusCode.CANCELLED, 504: grpc.StatusCode.DEADLINE_EXCEEDED}

    def client_call(context) -> Call:
        return watchdog.call(context.time_remaining(), lambda: not context.is_active())

    def answer(context, call):
        try:
            return call()
        except ServingError as error:
            context.abort(codes.get(error.status, grpc.StatusCode.UNKNOWN), str(error))

    def classify_response(request, call: Call):
        name, version, label = _spec_target(request.model_spec)
        version, results = classify(registry, name, version, label, request.model_spec.signature_name,
                                    _serialized_examples(request.input), call)
        response = classification_pb2.ClassificationResponse()
        _answered_spec(response.model_spec, name, version, request.model_spec.signature_name)
        for row in results:
            classifications = response.result.classifications.add()
            for class_name, score in row:
                classifications.classes.add(label=class_name, score=score)
        return response

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            return answer(context, lambda: _grpc_predict(registry, request, client_call(context), batcher))

        def Classify(self, request, context):
            return answer(context, lambda: classify_response(request, client_call(context)))

        def GetModelMetadata(self, request, context):
            return answer(context, lambda: metadata(registry, *_spec_target(request.model_spec)))

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        def GetModelStatus(self, request, context):
            return answer(context, lambda: registry.status(*_spec_target(request.model_spec)))

    return Prediction(), Models()


class PortInUse(ConfigError):
    """The REST or gRPC port is held by another process: serving anyway would split clients between two servers."""

    def __init__(self, what: str, host: str, port: int, flag: str):
        super().__init__(f"{what} port {host}:{port} is already in use (another server?): stop it or pass {flag}")


def _bind_rest(host: str, port: int, handler) -> "_HTTPServer":
    try:
        return _HTTPServer((host, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse("REST", host, port, "--rest-port") from None
        raise


def _bind_grpc(host: str, port: int, workers: int, prediction, models):
    """A gRPC server on host:port without SO_REUSEPORT, which gRPC sets by default and which lets a second server
    bind a port that another one already serves."""
    import grpc
    from concurrent import futures
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES), ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio raises where older versions returned 0
        bound = 0
    if not bound:
        server.stop(grace=None)
        raise PortInUse("gRPC", host, port, "--grpc-port")
    return server, bound


class StandIn:
    """REST and gRPC servers over one registry, with a poller loading newly pushed versions.

    config_file, config_poll_seconds: re-read this models.config every config_poll_seconds (0: never), as TF
    Serving's --model_config_file_poll_wait_seconds; a file that does not parse, or whose labels name a version
    that is not AVAILABLE, is logged and the served config stays (ModelRegistry.apply) until the file changes.
    batching: merge concurrent Predict calls (Batcher) with these parameters; None (default) runs each alone.
    rest_api_timeout_in_ms: how long a REST request may compute (<= 0: no limit; None: TF Serving's default), as
    TF Serving's flag; a gRPC request computes until the client's own deadline.
    """

    def __init__(self, config, host: str = "127.0.0.1", rest_port: int = 8501, grpc_port: int = 8500,
                 poll_seconds: float = 5.0, batching: Optional[BatchingParameters] = None,
                 rest_api_timeout_in_ms: Optional[int] = None, config_file: Optional[str] = None,
                 config_poll_seconds: float = 0):
        self.registry = ModelRegistry(config)
        self.config_file = config_file
        self._config_poll_seconds = config_poll_seconds
        self._refused_config = None
        self.watchdog = Watchdog()
        self.batcher = Batcher(batching, self.watchdog) if batching else None
        # A handler thread waits while its request sits in a batch: with fewer threads than a full batch for every
        # batch thread, batches never fill and each one waits out batch_timeout_micros.
        workers = max(GRPC_WORKERS, batching.max_batch_size * batching.num_batch_threads) if batching else GRPC_WORKERS
        self.http = None
        self.grpc = None
        try:
            timeout_ms = REST_API_TIMEOUT_MS if rest_api_timeout_in_ms is None else rest_api_timeout_in_ms
            rest_timeout_s = timeout_ms / 1000 if timeout_ms > 0 else None
            self.http = _bind_rest(host, rest_port, make_handler(self.registry, self.watchdog, rest_timeout_s,
                                                                 self.batcher))
            self.grpc, self.grpc_port = _bind_grpc(host, grpc_port, workers,
                                                   *grpc_services(self.registry, self.watchdog, self.batcher))
        except BaseException:
            self._release()
            raise
        self.rest_port = self.http.server_address[1]
        self.registry.refresh()
        self._stop = threading.Event()
        self._poll_seconds = poll_seconds

    def _release(self) -> None:
        if self.http:
            self.http.server_close()
        if self.grpc:
            self.grpc.stop(grace=None)
        if self.batcher:
            self.batcher.stop()
        self.watchdog.stop()

    def start(self) -> "StandIn":
        self.grpc.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        threading.Thread(target=self._poll, daemon=True).start()
        if self.config_file and self._config_poll_seconds > 0:
            threading.Thread(target=self._poll_config, daemon=True).start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.registry.refresh()  # never raises: each model's faults are caught and logged there

    def _poll_config(self) -> None:
        while not self._stop.wait(self._config_poll_seconds):
            try:
                self.reload_config()
            except Exception:  # the poller must survive anything; the served config stays
                log.exception("reloading %s failed", self.config_file)

    def reload_config(self) -> bool:
        """Re-read config_file and serve it when it changed, parses and its labels' versions are AVAILABLE;
        True when the served config is the file's."""
        try:
            config = read_models_config(self.config_file, "--models-config")
        except ConfigError as why:
            log.warning("%s; still serving the previous config", why)
            return False
        if config == self.registry.config:
            return True
        if config == self._refused_config:  # its versions were tried: only a changed file is tried again
            return False
        refused = self.registry.apply(config)
        if refused:
            self._refused_config = config
            log.warning("%s not applied, still serving the previous config: %s", self.config_file, refused)
            return False
        log.info("serving %s: %s", self.config_file, self.registry.served_summary())
        return True

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(grace=1)
        if self.batcher:
            self.batcher.stop()
        self.watchdog.stop()
