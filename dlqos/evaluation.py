"""Reading a TFMA evaluation artifact without a notebook: metrics per slice, validation outcome, config."""
from __future__ import annotations

import json
import os
from typing import Dict

OVERALL = "Overall"


def _slice_name(slice_key) -> str:
    return OVERALL if not slice_key else ", ".join(f"{column} = {value}" for column, value in slice_key)


def _number(value: dict):
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boundedValue" in value:
        return float(value["boundedValue"].get("value", "nan"))
    return None


def slice_metrics(evaluation_dir: str) -> Dict[str, Dict[str, float]]:
    """{slice name: {metric name: value}}; names ending in _diff compare with the baseline model."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_dir)
    table: Dict[str, Dict[str, float]] = {}
    for slice_key, by_output in result.slicing_metrics:
        metrics = table.setdefault(_slice_name(slice_key), {})
        for by_sub_key in by_output.values():
            for values in by_sub_key.values():
                for name, value in values.items():
                    number = _number(value)
                    if number is not None:
                        metrics[name] = number
    return table


def validation(evaluation_dir: str) -> dict:
    """{'ok': bool, 'failures': [{'slice', 'metric', 'value', 'threshold'}]} from the validation result."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format

    result = tfma.load_validation_result(evaluation_dir)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        slice_key = [(k.column, getattr(k, k.WhichOneof("kind"))) for k in per_slice.slice_key.single_slice_keys]
        for failure in per_slice.failures:
            failures.append({
                "slice": _slice_name(slice_key),
                "metric": failure.metric_key.name + ("_diff" if failure.metric_key.is_diff else ""),
                "value": json_format.MessageToDict(failure.metric_value),
                "threshold": json_format.MessageToDict(failure.metric_threshold),
            })
    return {"ok": bool(result.validation_ok), "failures": failures}


def gate_thresholds(evaluation_dir: str) -> list:
    """The thresholds the Evaluator applied, as readable dicts, from the eval_config it stored."""
    path = os.path.join(evaluation_dir, "eval_config.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        stored = json.load(f)
    config = stored.get("evalConfig", stored)
    thresholds = []
    for spec in config.get("metricsSpecs", []):
        for metric in spec.get("metrics", []):
            for per_slice in metric.get("perSliceThresholds", []):
                thresholds.append({"metric": metric["className"], **per_slice.get("threshold", {})})
    return thresholds
