"""Reading a TFMA evaluation artifact without a notebook: metrics per slice, validation outcome, config."""
from __future__ import annotations

import json
import os
from typing import Dict

OVERALL = "Overall"


def _slice_name(slice_key) -> str:
    return OVERALL if not slice_key else ", ".join(f"{column} = {value}" for column, value in slice_key)


def metric_number(value: dict):
    """The number of a TFMA MetricValue as JSON (double or bounded value), else None."""
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
                    number = metric_number(value)
                    if number is not None:
                        metrics[name] = number
    return table


def validation(evaluation_dir: str) -> dict:
    """{'ok': bool, 'failures': [{'slice', 'metric', 'value', 'threshold', 'message'}]} from the validation
    result."""
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
                "message": failure.message,
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


def shown_metric(name: str, value: float) -> str:
    """A metric as printed: counts as whole numbers, the rest with 4 decimals."""
    return f"{value:,.0f}" if name.endswith("count") else f"{value:.4f}"


def failed_thresholds(validation_result: dict, slices: Dict[str, Dict[str, float]]) -> list:
    """One line per threshold a model failed: the metric's value and the bound, and for a change against the
    baseline the model's value, the baseline's (the model's minus the change) and the change allowed."""
    lines = []
    for failure in validation_result.get("failures", []):
        metric = failure["metric"]
        value = metric_number(failure["value"])
        threshold = failure["threshold"]
        if value is None:
            text = f"{metric}: no value"
        elif "changeThreshold" in threshold:
            text = _failed_change(metric, value, threshold["changeThreshold"], slices.get(failure["slice"], {}))
        else:
            bounds = threshold.get("valueThreshold", {})
            needs = [f"{sign} {shown_metric(metric, bounds[key])}"
                     for key, sign in (("lowerBound", ">="), ("upperBound", "<=")) if key in bounds]
            text = f"{metric} = {shown_metric(metric, value)}, needs {' and '.join(needs)}"
        lines.append(f"{failure['slice']}: {text}" + (f" ({failure['message']})" if failure.get("message") else ""))
    return lines


def _failed_change(metric: str, change: float, threshold: dict, metrics: Dict[str, float]) -> str:
    """A failed GenericChangeThreshold: TFMA's value is the change (model minus baseline) of metric NAME_diff."""
    name = metric[:-len("_diff")] if metric.endswith("_diff") else metric
    sign = "<=" if threshold.get("direction") == "LOWER_IS_BETTER" else ">="
    needs = []
    if "absolute" in threshold:
        needs.append(f"{sign} {threshold['absolute']:+.4f}")
    if "relative" in threshold:
        needs.append(f"{sign} {threshold['relative']:+.2%} of the baseline")
    model = metrics.get(name)
    values = f"{name} = {model:.4f} vs baseline {model - change:.4f}" if model is not None else name
    return f"{values}: change {change:+.4f}, needs {' and '.join(needs)}"
