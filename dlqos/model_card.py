"""A model card for each model TF Serving serves: what the model is, the data it learned from and that data's
statistics, how TFMA measured it overall and per slice, the gate that let it through, the paper's figures beside
ours, and its limits. Read from ML Metadata and the artifacts it names (StepRun), written beside the study report
as report/model_cards/<step>.md and a self-contained <step>.html.
"""
from __future__ import annotations

import glob
import json
import os
from typing import List, NamedTuple, Optional

from data.tfrecords import METADATA_FILE
from dlqos.document import Document, gate_line, gate_rows, slice_rows
from dlqos.compare import metric_name
from dlqos.paper import PAPER, accuracy_note
from dlqos.runs import StepRun, read_json

CARDS_DIR = "model_cards"
INDEX_NOTE = ("One card per model TF Serving serves now (the newest pushed version still in the serving directory): "
              "what it is, its data and statistics, TFMA's metrics per slice, the gate, the paper's figures, limits.")


class Section(NamedTuple):
    title: str
    rows: Optional[List[list]] = None
    text: str = ""


def pushed_version(run: StepRun) -> Optional[str]:
    """The TF Serving version the Pusher wrote: the last part of the pushed path."""
    return os.path.basename(run.pushed_to.rstrip("/")) if run.pushed_to else None


def write(run: StepRun, cards_dir: str) -> tuple:
    """The card of the run's pushed model: (HTML path, Markdown path)."""
    document = Document(
        cards_dir, f"Model card: {run.step.name} (paper step {run.step.paper_step})",
        f"{run.step.title}. Run {run.run_id}, pushed as version {pushed_version(run)} to {run.pushed_to}. Every number "
        "is read from ML Metadata and the artifacts it names.", f"{run.step.name}.html", f"{run.step.name}.md")
    for section in sections(run):
        document.add_section(section.title, section.rows, text=section.text, level=2)
    return document.write()


def sections(run: StepRun) -> List[Section]:
    facts = data_facts(run)
    statistics = statistics_rows(run.statistics_dir) if run.statistics_dir else None
    return [
        Section("Model", model_rows(run)),
        Section("Data", data_rows(run, facts), "" if facts else "The examples' dataset.json was not found."),
        Section("Data statistics (StatisticsGen)", statistics,
                "" if statistics else "No statistics artifact recorded for this run."),
        Section("TFMA metrics, overall and per slice (eval split)", slice_rows(run) if run.slices else None,
                "" if run.slices else "No TFMA evaluation recorded for this run."),
        Section("Gate (Evaluator)", gate_rows(run),
                (gate_line(run) + " " if run.validation else "")
                + f"Baseline: {run.baseline_model or 'none (first blessed model)'}."),
        Section("The paper's figures beside ours", paper_rows(run), accuracy_note(run.step.name)),
        Section("Limits", [["limit"]] + [[line] for line in limits(run, facts)]),
    ]


def model_rows(run: StepRun) -> List[list]:
    training = run.training or {}
    settings = run.settings
    parameters = training.get("parameters") or {}
    optimizer = training.get("optimizer") or settings.get("optimizer") or {}
    return [["field", "value"], ["step", f"{run.step.name}: {run.step.title}"], ["run", run.run_id],
            ["pushed version", pushed_version(run)], ["pushed to", run.pushed_to],
            ["trained model (Trainer artifact)", run.model_dir],
            ["parameters", parameters.get("total")], ["trainable parameters", parameters.get("trainable")],
            ["model settings", json.dumps(settings["model"], sort_keys=True) if settings.get("model")
             else "the step's defaults"],
            ["optimizer", f"{optimizer.get('name')}, learning rate {settings.get('learning_rate')}, schedule "
                          f"{optimizer.get('schedule')}" if optimizer else None],
            ["epochs", training.get("epochs", settings.get("epochs"))],
            ["global batch size", training.get("global_batch_size")],
            ["training seconds", training.get("train_seconds")], ["seed", training.get("seed", settings.get("seed"))],
            ["strategy", training.get("strategy_class")]]


def data_facts(run: StepRun) -> Optional[dict]:
    """dataset.json: inside the ExampleGen's artifact, or beside the user's TFRecords (the Trainer's
    data_metadata)."""
    path = run.settings.get("data_metadata") or (
        os.path.join(run.examples_dir, METADATA_FILE) if run.examples_dir else None)
    return read_json(path) if path else None


def data_rows(run: StepRun, facts: Optional[dict]) -> List[list]:
    facts = facts or {}
    counts = facts.get("counts") or {}
    classes = facts.get("class_names") or []
    rows = [["field", "value"], ["dataset", run.dataset or "the user's TFRecords (ImportExampleGen)"],
            ["source", facts.get("source")], ["examples artifact", run.examples_dir]]
    rows += [[f"{split} examples", count] for split, count in sorted(counts.items(), key=lambda c: c[0] != "train")]
    if "shape" in facts:
        rows.append(["example shape", " x ".join(map(str, facts["shape"]))])
    if "sequence_length" in facts:
        rows.append(["sequence length", facts["sequence_length"]])
    if classes:
        rows.append(["classes", f"{len(classes)}: {', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''}"])
    if "vocabulary" in facts:
        rows.append(["vocabulary size", len(facts["vocabulary"])])
    if "features" in facts:
        rows.append(["features", ", ".join(f"{name} ({kind})" for name, kind in facts["features"].items())])
    rows.append(["corrupt input files skipped", len(facts.get("skipped") or [])])
    return rows


def statistics_rows(statistics_dir: str) -> Optional[List[list]]:
    """Per split and feature, what StatisticsGen computed: type, examples, missing values, values per example and,
    for numbers, mean, standard deviation, min and max over all values."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    paths = sorted(glob.glob(os.path.join(statistics_dir, "Split-*", "FeatureStats.pb")))
    rows = [["split", "feature", "type", "examples", "missing", "values per example", "mean", "std dev", "min",
             "max"]]
    for path in paths:
        statistics = statistics_pb2.DatasetFeatureStatisticsList()
        with open(path, "rb") as f:
            statistics.ParseFromString(f.read())
        split = os.path.basename(os.path.dirname(path)).removeprefix("Split-")
        for dataset in statistics.datasets:
            rows += [_feature_row(split, dataset.num_examples, feature) for feature in dataset.features]
    return rows if len(rows) > 1 else None


def _feature_row(split: str, examples: int, feature) -> list:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind) if kind else None
    common = stats.common_stats if stats is not None and hasattr(stats, "common_stats") else None
    numbers = ([stats.mean, stats.std_dev, stats.min, stats.max] if kind == "num_stats" else [None] * 4)
    per_example = (f"{common.min_num_values}" if common.min_num_values == common.max_num_values
                   else f"{common.min_num_values}-{common.max_num_values}") if common else None
    return [split, ".".join(feature.path.step) or feature.name,
            statistics_pb2.FeatureNameStatistics.Type.Name(feature.type), examples,
            common.num_missing if common else None, per_example] + numbers


def paper_rows(run: StepRun) -> List[list]:
    paper = PAPER.get(run.step.name, {})
    ours = (run.training or {}).get("parameters") or {}
    theirs = paper.get("parameters") or {}
    gate = metric_name(run.step.gate.metric)
    return [["", "ours", "paper"],
            ["accuracy", run.overall.get("sparse_categorical_accuracy"), paper.get("accuracy")],
            ["accuracy measured on", f"TFMA, eval split of {run.dataset or 'the given examples'}",
             (paper.get("accuracy_is") or {}).get("data")],
            [f"gate metric {gate}", run.overall.get(gate), None],
            ["parameters", ours.get("total"), theirs.get("total")],
            ["trainable parameters", ours.get("trainable"), theirs.get("trainable")]]


def limits(run: StepRun, facts: Optional[dict]) -> List[str]:
    """What the numbers above do not say, from this run's own facts."""
    slices = {name: metrics.get("example_count") for name, metrics in run.slices.items()}
    smallest = min((count, name) for name, count in slices.items() if count is not None) if slices else None
    paper = PAPER.get(run.step.name, {})
    lines = [f"Measured on one eval split only: {_count(run.overall.get('example_count'))} examples of "
             f"{run.dataset or 'the given examples'} ({(facts or {}).get('source', 'source not recorded')}); "
             "not on live traffic, not on other data."]
    if smallest and len(slices) > 1:
        lines.append(f"Per-slice figures rest on few examples: the smallest slice, {smallest[1]}, has "
                     f"{_count(smallest[0])}.")
    lines.append(f"The paper's accuracy is its {accuracy_note(run.step.name)}: not the same measurement as ours."
                 if paper.get("accuracy_is") else
                 "The paper prints no accuracy for this step.")
    skipped = len((facts or {}).get("skipped") or [])
    if skipped:
        lines.append(f"{skipped} corrupt input files were skipped and are not in the data.")
    lines.append("No fairness, robustness or calibration analysis beyond the metrics above: the model is a study "
                 "artifact, not meant for decisions about people.")
    return lines


def _count(value) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) else "an unrecorded number of"
