"""Load SavedModels with tf.saved_model.load and call their signatures: the same code in the runtime's TensorFlow
(imported) and in TF Serving's (`python saved_model_calls.py CALLS.json RESULTS.json` in scripts/tf-runtime.sh's
venv). Needs only TensorFlow and NumPy, so it runs on any TensorFlow 2.x.

A tensor travels as {"dtype", "shape", "values"}: values flat, strings base64-encoded."""
from __future__ import annotations

import base64
import json
import sys
from typing import Dict, List

import numpy as np
import tensorflow as tf


def encode(array: np.ndarray) -> dict:
    flat = array.ravel()
    if array.dtype.kind in "OSU":
        values = [base64.b64encode(item if isinstance(item, bytes) else str(item).encode()).decode() for item in flat]
        return {"dtype": "string", "shape": list(array.shape), "values": values}
    return {"dtype": tf.as_dtype(array.dtype).name, "shape": list(array.shape), "values": flat.tolist()}


def decode(tensor: dict) -> np.ndarray:
    if tensor["dtype"] == "string":
        return np.array([base64.b64decode(item) for item in tensor["values"]], dtype=object).reshape(tensor["shape"])
    return np.array(tensor["values"], dtype=tf.as_dtype(tensor["dtype"]).as_numpy_dtype).reshape(tensor["shape"])


def call_all(calls: List[dict]) -> dict:
    """calls: [{"model", "path", "signature", "inputs": {name: tensor}}] -> the TensorFlow version, each model's
    signature names as loaded, and per call its outputs {name: tensor} or the error it raised."""
    loaded: Dict[str, object] = {}
    results = []
    for call in calls:
        result = {"model": call["model"], "signature": call["signature"]}
        try:
            if call["path"] not in loaded:
                loaded[call["path"]] = tf.saved_model.load(call["path"])
            function = loaded[call["path"]].signatures[call["signature"]]
            outputs = function(**{name: tf.constant(decode(tensor)) for name, tensor in call["inputs"].items()})
            result["outputs"] = {name: encode(value.numpy()) for name, value in outputs.items()}
        except Exception as error:  # reported per call, so one failure does not hide the others
            result["error"] = f"{type(error).__name__}: {error}"
        results.append(result)
    signatures = {path: sorted(model.signatures.keys()) for path, model in loaded.items()}
    return {"tensorflow": tf.__version__, "python": sys.version.split()[0], "results": results,
            "signatures": signatures}


def main(argv: List[str]) -> int:
    with open(argv[1]) as f:
        report = call_all(json.load(f))
    with open(argv[2], "w") as f:
        json.dump(report, f)
    for result in report["results"]:
        status = "error: " + result["error"] if "error" in result else ", ".join(
            f"{name} {tensor['dtype']}{tensor['shape']}" for name, tensor in sorted(result["outputs"].items()))
        print(f"TensorFlow {report['tensorflow']}: {result['model']} {result['signature']} -> {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
