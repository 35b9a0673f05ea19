"""DriftValidator's executor on statistics TFDV computes from small made-up spans: a shifted label distribution is
refused with one line naming the feature and the distance, numeric drift is measured by Jensen-Shannon
divergence, an unshifted span passes, and the previous span is the newest one below the current."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.types import standard_artifacts

from components import drift
from common.config import DriftConfig
from common.errors import ConfigError, DataError

THRESHOLDS = DriftConfig().as_dict()  # label: L-infinity 0.1, pixels: Jensen-Shannon 0.1


def _frame(labels, pixel_low: int = 0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"label": np.asarray(labels, dtype=np.int64),
                         "pixels": rng.integers(pixel_low, pixel_low + 60, size=len(labels)).astype(np.int64)})


def _statistics(tmp_path, name: str, span: int, frame: pd.DataFrame, artifact_id: int = 1):
    """An ExampleStatistics artifact (train and eval splits) as StatisticsGen writes it, label categorical."""
    categorical = schema_pb2.Schema()
    feature = categorical.feature.add(name="label", type=schema_pb2.INT)
    feature.int_domain.is_categorical = True
    statistics = tfdv.generate_statistics_from_dataframe(frame, tfdv.StatsOptions(schema=categorical))
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(tmp_path / name)
    artifact.span = span
    artifact.id = artifact_id
    artifact.split_names = json.dumps(["train", "eval"])
    for split in ("train", "eval"):
        os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
        with open(os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(statistics.SerializeToString())
    return artifact, statistics


def _schema_dir(tmp_path, statistics) -> str:
    directory = tmp_path / "schema"
    directory.mkdir()
    tfdv.write_schema_text(tfdv.infer_schema(statistics), str(directory / "schema.pbtxt"))
    return str(directory)


def _run(tmp_path, current, previous, schema_dir):
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    schema = standard_artifacts.Schema()
    schema.uri = schema_dir
    drift.Executor().Do({"statistics": [current], "schema": [schema], "previous_statistics": previous},
                        {"anomalies": [anomalies]}, {drift.THRESHOLDS_KEY: json.dumps(THRESHOLDS)})
    return anomalies


EVEN = [i % 10 for i in range(500)]


def test_a_shifted_label_distribution_is_refused_naming_the_feature_and_the_distance(tmp_path):
    previous, statistics = _statistics(tmp_path, "span1", 1, _frame(EVEN))
    current, _ = _statistics(tmp_path, "span2", 2, _frame([0 if i % 2 else i % 10 for i in range(500)]), 2)
    with pytest.raises(DataError) as refused:
        _run(tmp_path, current, [previous], _schema_dir(tmp_path, statistics))
    assert str(refused.value).startswith("data drift in span 2 against span 1: feature 'label' L-infinity "
                                         "distance 0.5000 > threshold 0.1 (train split); training stopped.")
    record = json.loads((tmp_path / "anomalies" / drift.DRIFT_FILE).read_text())
    assert record["previous_span"] == 1 and record["splits"]["eval"]["label"]["distance"] == pytest.approx(0.5)


def test_numeric_drift_is_measured_by_jensen_shannon_divergence(tmp_path):
    previous, statistics = _statistics(tmp_path, "span1", 1, _frame(EVEN))
    current, _ = _statistics(tmp_path, "span2", 2, _frame(EVEN, pixel_low=180), 2)
    with pytest.raises(DataError, match="feature 'pixels' Jensen-Shannon divergence 1.0000 > threshold 0.1"):
        _run(tmp_path, current, [previous], _schema_dir(tmp_path, statistics))


def test_an_unshifted_span_passes_and_records_every_distance(tmp_path):
    previous, statistics = _statistics(tmp_path, "span1", 1, _frame(EVEN))
    current, _ = _statistics(tmp_path, "span2", 2, _frame(EVEN, seed=1), 2)
    anomalies = _run(tmp_path, current, [previous], _schema_dir(tmp_path, statistics))
    record = json.loads((tmp_path / "anomalies" / drift.DRIFT_FILE).read_text())
    assert anomalies.span == 2 and record["span"] == 2 and record["previous_span"] == 1
    assert record["splits"]["train"]["label"] == {"measure": "L-infinity distance", "distance": 0.0, "threshold": 0.1}
    assert record["splits"]["train"]["pixels"]["distance"] < 0.1
    assert os.path.exists(tmp_path / "anomalies" / "Split-train" / "SchemaDiff.pb")
    # SchemaGen's string domain for the categorical label is not reported as a domain that does not match the type
    assert _schema_anomalies(tmp_path) == {}


def test_a_first_span_has_no_previous_and_is_not_compared(tmp_path):
    current, statistics = _statistics(tmp_path, "span1", 1, _frame(EVEN))
    _run(tmp_path, current, [current], _schema_dir(tmp_path, statistics))
    record = json.loads((tmp_path / "anomalies" / drift.DRIFT_FILE).read_text())
    assert record == {"span": 1, "previous_span": None, "splits": {"train": {}, "eval": {}}}
    assert _schema_anomalies(tmp_path) == {}  # the categorical label's inferred domain is not one either


def _schema_anomalies(tmp_path) -> dict:
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString((tmp_path / "anomalies" / "Split-train" / "SchemaDiff.pb").read_bytes())
    return dict(anomalies.anomaly_info)


def test_previous_span_is_the_newest_artifact_of_the_highest_span_below_the_current():
    def stats(span, artifact_id):
        artifact = standard_artifacts.ExampleStatistics()
        artifact.span = span
        artifact.id = artifact_id
        return artifact

    current = stats(3, 9)
    chosen = drift.previous_span(current, [stats(1, 1), stats(2, 2), stats(2, 5), stats(3, 7)])
    assert (chosen.span, chosen.id) == (2, 5)
    assert drift.previous_span(stats(1, 1), [stats(1, 1), stats(2, 2)]) is None
    assert [a.span for a in drift.newest_per_span([stats(1, 1), stats(3, 3), stats(2, 2)])] == [3, 2, 1]


def test_a_threshold_for_a_feature_the_examples_lack_is_refused():
    schema = schema_pb2.Schema()
    schema.feature.add(name="label", type=schema_pb2.INT)
    with pytest.raises(ConfigError, match="drift threshold for feature 'pixels', which the examples do not have"):
        drift.drift_schema(schema, THRESHOLDS)
