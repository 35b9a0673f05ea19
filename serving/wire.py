"""TF Serving's wire formats for the stand-in: JSON tensors in and out (REST API document, util/json_tensor.cc),
TensorProto inputs (predict_util.cc) and the proto JSON of status and metadata (http_rest_api_util.cc).

Kept apart from the servers so that the conformance tests and the clients read one definition of each format.
"""
from __future__ import annotations

import base64
import json
from typing import Dict, List

import numpy as np
import tensorflow as tf
from google.protobuf import json_format

# TF Serving's Classify API serves only signatures with this method name (the exporter sets it, the stand-in checks).
CLASSIFY_METHOD = "tensorflow/serving/classify"


class ServingError(Exception):
    """A request TF Serving would refuse: `status` is the REST status (400 INVALID_ARGUMENT, 404 NOT_FOUND...)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def proto_json(message) -> dict:
    """A proto as TF Serving prints it: original field names and every field without presence, defaults included."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def metadata_json(response) -> dict:
    """GetModelMetadataResponse as TF Serving's REST handler prints it: model_spec, then the SignatureDefMap
    unpacked from its Any and printed alone under metadata.signature_def (so no "@type" key)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return {"model_spec": proto_json(response.model_spec), "metadata": {"signature_def": proto_json(signatures)}}


# Python leaf types a JSON value may have for each dtype (json_tensor.cc AddValueToTensor); bool is not a number.
_FLOAT_KINDS = "iuf"
_INT_KINDS = "iu"


def dtype_string(dtype: tf.DType) -> str:
    """TensorFlow's DataTypeString ("float", "double", "int32", "string"), as TF Serving's messages name types."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype.as_datatype_enum)[len("DT_"):].lower()


def _json_type(value) -> str:
    names = {bool: "True" if value else "False", str: "String", dict: "Object", list: "Array", type(None): "Null"}
    return names.get(type(value), "Number")


def _accepts(dtype: tf.DType, value) -> bool:
    if dtype == tf.string:
        return isinstance(value, (str, bytes))
    if dtype == tf.bool:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return dtype.is_floating or (isinstance(value, int) and dtype.min <= value <= dtype.max)


def _fits(array: np.ndarray, dtype: tf.DType) -> bool:
    """Whole-array check by numpy kind and, for integers, range (the common case, no Python loop over the
    values). An integer outside the input's range is refused as TF Serving's IsInt / IsInt64 refuse it, not
    wrapped."""
    kind = array.dtype.kind
    if dtype == tf.string:
        return kind in "US"
    if dtype == tf.bool:
        return kind == "b"
    if dtype.is_floating:
        return kind in _FLOAT_KINDS
    return kind in _INT_KINDS and (array.size == 0 or dtype.min <= array.min() and array.max() <= dtype.max)


def _unwrap_b64(value):
    """{"b64": ...} objects decoded to bytes, recursively (the REST API's binary values)."""
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise ServingError(400, f"JSON Value: {json.dumps(value)} Unable to base64 decode") from None
    if isinstance(value, list):
        return [_unwrap_b64(item) for item in value]
    return value


def tensor_from_json(value, spec: tf.TensorSpec, name: str) -> tf.Tensor:
    """A JSON input as TF Serving reads it: values must already be of the input's type (an int input refuses 1.5,
    a float input refuses "a" and true), else INVALID_ARGUMENT naming the value; nothing is silently cast."""
    value = _unwrap_b64(value) if spec.dtype == tf.string else value
    try:
        array = np.asarray(value, dtype=object if spec.dtype == tf.string else None)
    except ValueError as why:  # ragged lists
        raise ServingError(400, f"input '{name}': {why}") from None
    if not _fits(array, spec.dtype):
        bad = next((leaf for leaf in array.reshape(-1).tolist() if not _accepts(spec.dtype, leaf)), None)
        if bad is not None:
            raise ServingError(400, f"JSON Value: {json.dumps(bad, default=repr)} Type: {_json_type(bad)} "
                                    f"is not of expected type: {dtype_string(spec.dtype)}")
    try:
        tensor = tf.convert_to_tensor(array, dtype=spec.dtype)
    except (ValueError, TypeError, OverflowError) as why:
        raise ServingError(400, f"input '{name}': cannot convert to {spec.dtype.name}: {why}") from None
    return check_shape(tensor, spec, name)


def check_shape(tensor: tf.Tensor, spec: tf.TensorSpec, name: str) -> tf.Tensor:
    if not spec.shape.is_compatible_with(tensor.shape):
        raise ServingError(400, f"input '{name}': shape {tensor.shape} is not compatible with {spec.shape}")
    return tensor


def tensor_from_proto(proto, spec: tf.TensorSpec, name: str, position: int) -> tf.Tensor:
    """A gRPC TensorProto input: its dtype must be the signature's (TF: "Expects arg[i] to be float but string is
    provided"), and content that does not parse (truncated tensor_content) is "tensor parsing error"."""
    if proto.dtype != spec.dtype.as_datatype_enum:
        given = dtype_string(tf.dtypes.as_dtype(proto.dtype)) if proto.dtype else "invalid"
        raise ServingError(400, f"Expects arg[{position}] to be {dtype_string(spec.dtype)} but {given} is provided")
    try:
        array = tf.make_ndarray(proto)
    except (ValueError, TypeError):
        raise ServingError(400, f"tensor parsing error: {name}") from None
    return check_shape(tf.convert_to_tensor(array, dtype=spec.dtype), spec, name)


def row_inputs(instances, names: List[str]) -> Dict[str, object]:
    """Row format to one value per input (json_tensor.cc: a plain list only for a single input, else objects)."""
    if not isinstance(instances, list) or not instances:
        raise ServingError(400, "Excepting 'instances' to be an list/array with values")
    first = instances[0]
    if isinstance(first, dict) and set(first) != {"b64"}:
        bad = [index for index, row in enumerate(instances) if not isinstance(row, dict) or set(row) != set(names)]
        if bad:
            raise ServingError(400, f"Failed to process element: {bad[0]} of 'instances' list. JSON object keys "
                                    f"must be equal to: {','.join(sorted(names))}")
        return {name: [row[name] for row in instances] for name in names}
    if len(names) != 1:
        raise ServingError(400, "instances is a plain list, but expecting list of objects as multiple input "
                                "tensors required as per tensorinfo_map")
    return {names[0]: instances}


def columnar_inputs(inputs, names: List[str]) -> Dict[str, object]:
    """Columnar format to one value per input: an object keyed by input name, or a bare value for a single input."""
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        return inputs
    if len(names) != 1:
        raise ServingError(400, "inputs is a plain value/list, but expecting an object as multiple input tensors "
                                "required as per tensorinfo_map")
    return {names[0]: inputs}


def _json_values(array: np.ndarray, name: str):
    """One output as nested JSON lists: strings as text, or {"b64": ...} when the name ends in _bytes."""
    if array.dtype != object and array.dtype.kind != "S":
        return array.tolist()
    flat = [x if isinstance(x, bytes) else bytes(x) for x in array.reshape(-1)]
    if name.endswith("_bytes"):
        values = [{"b64": base64.b64encode(x).decode()} for x in flat]
    else:
        values = [x.decode("utf-8", errors="replace") for x in flat]
    return np.array(values, dtype=object).reshape(array.shape).tolist() if array.shape else values[0]


def _batch_size(name: str, column) -> int:
    if not isinstance(column, list):
        raise ServingError(400, f"Tensor name: {name} has no shape information ")
    return len(column)


def row_response(outputs: Dict[str, np.ndarray]) -> dict:
    """Row format: one entry per row; with a single output its name is omitted. Each output is converted once
    (linear in the rows), then rows are zipped."""
    columns = {name: _json_values(value, name) for name, value in outputs.items()}
    sizes = {name: _batch_size(name, column) for name, column in columns.items()}
    first = next(iter(sizes.values()))
    for name, size in sizes.items():
        if size != first:
            raise ServingError(400, f"Tensor name: {name} has inconsistent batch size: {size} expecting: {first}")
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    names: List[str] = list(columns)
    return {"predictions": [dict(zip(names, row)) for row in zip(*columns.values())]}


def columnar_response(outputs: Dict[str, np.ndarray]) -> dict:
    """Columnar format: an object keyed by output name, or the single output's value alone."""
    columns = {name: _json_values(value, name) for name, value in outputs.items()}
    return {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}
