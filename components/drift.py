"""DriftValidator: ExampleValidator's schema check plus TFDV's drift comparators against the previous span.

TFX 1.21's stock ExampleValidator calls `tfdv.validate_statistics(statistics, schema)` only: it never passes
previous statistics, so a drift comparator in the schema is never evaluated. This component takes the same
inputs and writes the same ExampleAnomalies (`SchemaDiff.pb` per split), and also `previous_statistics`, which
the PreviousSpanStatistics resolver fetches from ML Metadata (the newest statistics of each of the two most
recent spans recorded before this run). The executor compares each split with the same split of the newest span
before this one (L-infinity distance for categorical features such as the label, Jensen-Shannon divergence for
numeric ones, the thresholds in DriftConfig), writes every distance into `drift.json` and, where one exceeds its
threshold, raises a DataError naming the feature, the distance and the spans: the run stops before training.
Schema anomalies are recorded, as the stock component does, and do not stop the run.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

from tfx import types
from tfx.components.example_validator import executor as validator_executor
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.components.common import resolver
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from common.errors import ConfigError, DataError

DRIFT_FILE = "drift.json"  # in the ExampleAnomalies artifact: every distance measured, per split
PREVIOUS_STATISTICS_KEY = "previous_statistics"
THRESHOLDS_KEY = "drift_thresholds"  # JSON: {"categorical": {feature: L-inf}, "numeric": {feature: JS}}
COMPARATORS = {"categorical": ("infinity_norm", "L-infinity distance"),
               "numeric": ("jensen_shannon_divergence", "Jensen-Shannon divergence")}


class PreviousSpanStatistics(resolver.ResolverStrategy):
    """The statistics of the two most recent spans that passed the drift check (read by a DriftValidator execution
    that completed), the newest of each. A refused span is never the baseline of the next one. It resolves before
    this run's StatisticsGen, so one of the two may be this run's span from an earlier run: the executor takes the
    highest span below this run's as the previous statistics; on a first span there is none. Span 0 (data without
    span folders, the same every run) is never a baseline: its runs then read no previous statistics, as the first
    one did, and stay served from TFX's cache."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]):
        return {key: newest_per_span(accepted(store, [a for a in artifacts if a.span > 0]))[:2]
                for key, artifacts in input_dict.items()}


def accepted(store, artifacts: List[types.Artifact]) -> List[types.Artifact]:
    """The artifacts a DriftValidator execution read as its statistics and then completed (or reused, cached)."""
    from ml_metadata.proto import metadata_store_pb2

    done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    reads = [event for event in store.get_events_by_artifact_ids([artifact.id for artifact in artifacts])
             if event.type == metadata_store_pb2.Event.INPUT and event.path.steps
             and event.path.steps[0].key == standard_component_specs.STATISTICS_KEY]
    executions = store.get_executions_by_id({event.execution_id for event in reads})
    types_ = {kind.id: kind.name for kind in store.get_execution_types_by_id({e.type_id for e in executions})}
    passed = {execution.id for execution in executions
              if execution.last_known_state in done and types_[execution.type_id] == f"{__name__}.DriftValidator"}
    ids = {event.artifact_id for event in reads if event.execution_id in passed}
    return [artifact for artifact in artifacts if artifact.id in ids]


def newest_per_span(artifacts: List[types.Artifact]) -> List[types.Artifact]:
    """One artifact per span, the newest (highest id), highest span first."""
    newest: Dict[int, types.Artifact] = {}
    for artifact in artifacts:
        if artifact.span not in newest or artifact.id > newest[artifact.span].id:
            newest[artifact.span] = artifact
    return [newest[span] for span in sorted(newest, reverse=True)]


def previous_span(current: types.Artifact, candidates: List[types.Artifact]) -> Optional[types.Artifact]:
    """The newest statistics of the highest span below the current one, or None."""
    older = [artifact for artifact in candidates if artifact.span < current.span]
    return newest_per_span(older)[0] if older else None


def drift_schema(schema, thresholds: dict):
    """A copy of the schema with a drift comparator on each feature that has a threshold. A categorical integer
    feature is declared one (int_domain.is_categorical) in place of the string domain SchemaGen infers from its
    top values, which TFDV would report as a domain that does not match the type."""
    drifting = type(schema)()
    drifting.CopyFrom(schema)
    features = {feature.name: feature for feature in drifting.feature}
    for kind, per_feature in thresholds.items():
        field_name = COMPARATORS[kind][0]
        for name, threshold in per_feature.items():
            if name not in features:
                raise ConfigError(f"drift threshold for feature '{name}', which the examples do not have "
                                  f"(they have: {', '.join(sorted(features))})")
            feature = features[name]
            if kind == "categorical" and feature.WhichOneof("domain_info") in ("domain", "string_domain"):
                feature.ClearField(feature.WhichOneof("domain_info"))
                feature.int_domain.is_categorical = True
            getattr(feature.drift_comparator, field_name).threshold = threshold
    return drifting


def drift_measurements(anomalies, thresholds: dict) -> Dict[str, dict]:
    """{feature: {"measure", "distance", "threshold"}} from the Anomalies' drift_skew_info."""
    kind_of = {name: kind for kind, per_feature in thresholds.items() for name in per_feature}
    measured = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            measured[name] = {"measure": COMPARATORS[kind_of.get(name, "numeric")][1],
                              "distance": round(float(measurement.value), 6),
                              "threshold": float(measurement.threshold)}
    return measured


def drift_line(split: str, feature: str, measured: dict, spans: tuple) -> str:
    """The one line a refused span gets."""
    return (f"data drift in span {spans[1]} against span {spans[0]}: feature '{feature}' {measured['measure']} "
            f"{measured['distance']:.4f} > threshold {measured['threshold']:g} ({split} split); training stopped. "
            f"Check the new data, or raise the step's drift threshold if the change is expected")


def validate(current: types.Artifact, previous: Optional[types.Artifact], schema_uri: str,
             thresholds: dict) -> tuple:
    """({"span", "previous_span", "splits": {split: {feature: measurement}}}, {split: Anomalies}): each split's
    statistics validated against the schema and, where there is a previous span, its same split (the executor's
    check; the report measures recorded runs with it)."""
    import tensorflow_data_validation as tfdv
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.utils import io_utils

    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
    schema = drift_schema(schema, thresholds)  # without previous statistics TFDV measures no drift
    record = {"span": current.span, "previous_span": previous.span if previous else None, "splits": {}}
    found = {}
    for split in artifact_utils.decode_split_names(current.split_names):
        statistics = stats_artifact_utils.load_statistics(current, split).proto()
        baseline = stats_artifact_utils.load_statistics(previous, split).proto() if previous else None
        found[split] = tfdv.validate_statistics(statistics, schema, previous_statistics=baseline)
        record["splits"][split] = drift_measurements(found[split], thresholds)
    return record, found


def drifted(record: dict) -> list:
    """(split, feature, measurement) for each distance over its threshold."""
    return [(split, feature, measured) for split, features in record["splits"].items()
            for feature, measured in features.items() if measured["distance"] > measured["threshold"]]


class Executor(base_executor.BaseExecutor):
    """validate() per split: SchemaDiff.pb per split and drift.json; a DataError on drift."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX's name)
        from tfx.utils import writer_utils

        current = artifact_utils.get_single_instance(input_dict[standard_component_specs.STATISTICS_KEY])
        record, found = validate(current, previous_span(current, input_dict.get(PREVIOUS_STATISTICS_KEY) or []),
                                 artifact_utils.get_single_uri(input_dict[standard_component_specs.SCHEMA_KEY]),
                                 json.loads(exec_properties.get(THRESHOLDS_KEY) or "{}"))
        anomalies_artifact = artifact_utils.get_single_instance(output_dict[standard_component_specs.ANOMALIES_KEY])
        anomalies_artifact.split_names = artifact_utils.encode_split_names(list(found))
        anomalies_artifact.span = current.span
        for split, anomalies in found.items():
            writer_utils.write_anomalies(os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split),
                                                      validator_executor.DEFAULT_FILE_NAME), anomalies)
        with open(os.path.join(anomalies_artifact.uri, DRIFT_FILE), "w") as f:
            json.dump(record, f, indent=2)
        refused = drifted(record)
        if refused:
            raise DataError(drift_line(*refused[0], (record["previous_span"], record["span"])))


class DriftValidatorSpec(ComponentSpec):
    """ExampleValidator's spec plus the previous span's statistics and the drift thresholds."""

    PARAMETERS = {THRESHOLDS_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        standard_component_specs.STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        standard_component_specs.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        PREVIOUS_STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
    }
    OUTPUTS = {standard_component_specs.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class DriftValidator(base_component.BaseComponent):
    """Schema validation and span-to-span drift (see the module docstring); thresholds: DriftConfig.as_dict()."""

    SPEC_CLASS = DriftValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, statistics, schema, previous_statistics, thresholds: dict):
        super().__init__(spec=DriftValidatorSpec(
            statistics=statistics, schema=schema, previous_statistics=previous_statistics,
            drift_thresholds=json.dumps(thresholds, sort_keys=True),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
