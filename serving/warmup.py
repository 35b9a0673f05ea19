"""TF Serving warmup records (`assets.extra/tf_serving_warmup_requests`), written when a model is pushed.

TF Serving replays these PredictRequests while loading a version, so the first real request does not pay for
graph initialisation. A failing warmup request makes TF Serving refuse the version, so requests are only made
for signatures whose inputs are all numeric (zeros of the declared shape, unknown dimensions = 1); string
inputs (serialized tf.Example) would need real data.
"""
from __future__ import annotations

import os
from typing import List

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000  # TF Serving's limit


def warmup_requests(saved_model_dir: str, model_name: str) -> List:
    """PredictionLogs for every all-numeric signature of the SavedModel (read from saved_model.pb only)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.saved_model import loader_impl
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    saved_model = loader_impl.parse_saved_model(saved_model_dir)
    logs = []
    for name, signature in sorted(saved_model.meta_graphs[0].signature_def.items()):
        if name.startswith("__") or not signature.inputs:
            continue
        dtypes = {key: tf.dtypes.as_dtype(spec.dtype) for key, spec in signature.inputs.items()}
        if not all(d.is_floating or d.is_integer for d in dtypes.values()):
            continue
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=name))
        for key, spec in signature.inputs.items():
            shape = [d.size if d.size > 0 else 1 for d in spec.tensor_shape.dim]
            request.inputs[key].CopyFrom(tf.make_tensor_proto(np.zeros(shape, dtypes[key].as_numpy_dtype)))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs[:MAX_RECORDS]


def write_warmup(saved_model_dir: str, model_name: str) -> int:
    """Write the warmup file into the SavedModel directory; returns the number of records (0 = none written)."""
    import tensorflow as tf

    logs = warmup_requests(saved_model_dir, model_name)
    if not logs:
        return 0
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return len(logs)
