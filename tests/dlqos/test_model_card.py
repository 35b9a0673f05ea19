"""Model cards rendered from a hand-made pushed run in the shapes ML Metadata, the ExampleGen, StatisticsGen, TFMA
and the Trainer give: every section is there and carries the run's own numbers."""
import json
import os

import pytest

from dlqos import document, model_card, report, runs
from dlqos.evaluation import OVERALL
from dlqos.paper import PAPER
from models.steps import STEPS


def _write_statistics(directory: str) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    for split, examples, mean in (("train", 600, 4.5), ("eval", 200, 4.25)):
        statistics = statistics_pb2.DatasetFeatureStatisticsList()
        dataset = statistics.datasets.add(num_examples=examples)
        feature = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
        feature.path.step.append("label")
        feature.num_stats.mean = mean
        feature.num_stats.std_dev = 2.5
        feature.num_stats.max = 9.0
        feature.num_stats.common_stats.num_non_missing = examples
        feature.num_stats.common_stats.min_num_values = feature.num_stats.common_stats.max_num_values = 1
        os.makedirs(os.path.join(directory, f"Split-{split}"))
        with open(os.path.join(directory, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(statistics.SerializeToString())


@pytest.fixture
def pushed(tmp_path) -> runs.StepRun:
    examples = tmp_path / "ExampleGen" / "examples" / "1"
    statistics = tmp_path / "StatisticsGen" / "statistics" / "3"
    examples.mkdir(parents=True)
    (examples / "dataset.json").write_text(json.dumps({
        "shape": [28, 28, 1], "class_names": ["T-shirt/top", "Trouser"], "source": "folder /data/fashion",
        "features": {"pixels": "int64", "label": "int64"}, "counts": {"eval": 200, "train": 600}, "skipped": ["a.png"]}))
    _write_statistics(str(statistics))
    return runs.StepRun(
        step=STEPS["dense"], run_id="run-7", blessed=True, pushed_to=str(tmp_path / "serving" / "dense" / "1796"),
        baseline_model=str(tmp_path / "Trainer" / "model" / "4"), model_dir=str(tmp_path / "Trainer" / "model" / "7"),
        training={"parameters": {"total": 235146, "trainable": 235146, "non_trainable": 0}, "epochs": 2,
                  "global_batch_size": 32, "train_seconds": 3.25, "seed": 42, "strategy_class": "OneDeviceStrategy",
                  "optimizer": {"name": "adam", "schedule": "constant"}},
        slices={OVERALL: {"example_count": 200.0, "sparse_categorical_accuracy": 0.8125,
                          "sparse_categorical_accuracy_diff": 0.0125},
                "label = 0": {"example_count": 97.0, "sparse_categorical_accuracy": 0.75},
                "label = 1": {"example_count": 103.0, "sparse_categorical_accuracy": 0.875}},
        validation={"ok": True, "failures": []},
        thresholds=[{"metric": "SparseCategoricalAccuracy", "valueThreshold": {"lowerBound": 0.7}},
                    {"metric": "ExampleCount", "valueThreshold": {"lowerBound": 50.0}}],
        settings={"learning_rate": 0.001, "model": {"units": 256}, "epochs": 2}, dataset="fashion_mnist",
        examples_dir=str(examples), statistics_dir=str(statistics))


def _card(run: runs.StepRun, directory: str) -> tuple:
    html_path, md_path = model_card.write(run, directory)
    with open(html_path) as f, open(md_path) as g:
        return f.read(), g.read()


def test_a_card_has_every_section_with_the_run_s_numbers(pushed, tmp_path):
    page, markdown = _card(pushed, str(tmp_path / "cards"))
    for heading in ("# Model card: dense (paper step 1)", "## Model", "## Data", "## Data statistics (StatisticsGen)",
                    "## TFMA metrics, overall and per slice (eval split)", "## Gate (Evaluator)",
                    "## The paper's figures beside ours", "## Limits"):
        assert f"\n{heading}\n" in f"\n{markdown}", heading
    assert "| pushed version | 1796 |" in markdown and f"| pushed to | {pushed.pushed_to} |" in markdown
    assert "| parameters | 235,146 |" in markdown and '| model settings | {"units": 256} |' in markdown
    assert "| dataset | fashion_mnist |" in markdown and "| train examples | 600 |" in markdown
    assert "| classes | 2: T-shirt/top, Trouser |" in markdown and "| corrupt input files skipped | 1 |" in markdown
    assert "| train | label | INT | 600 | 0 | 1 | 4.5000 | 2.5000 | 0.0000 | 9.0000 |" in markdown
    assert "| eval | label | INT | 200 |" in markdown
    assert "| Overall | 200 | 0.8125 | 0.0125 |" in markdown and "| label = 0 | 97 | 0.7500 | — |" in markdown
    assert ('| SparseCategoricalAccuracy | {"valueThreshold": {"lowerBound": 0.7}} | 0.8125 | 0.0125 |'
            in markdown)
    assert f"Validation passed; failures: none. Baseline: {pushed.baseline_model}." in markdown
    assert f"| accuracy | 0.8125 | {PAPER['dense']['accuracy']:.4f} |" in markdown
    assert "the smallest slice, label = 0, has 97." in markdown and "1 corrupt input files were skipped" in markdown
    assert "<script" not in page and "<td>0.8125</td>" in page and "Model card: dense" in page


def test_a_card_without_statistics_or_dataset_facts_says_so(pushed, tmp_path):
    pushed.statistics_dir = None
    pushed.examples_dir = None
    pushed.baseline_model = None
    _, markdown = _card(pushed, str(tmp_path / "cards"))
    assert "No statistics artifact recorded for this run." in markdown
    assert "The examples' dataset.json was not found." in markdown
    assert "Baseline: none (first blessed model)." in markdown


def test_the_report_links_each_card_in_both_renderings(pushed, tmp_path):
    sections = {}
    report_dir = str(tmp_path / "report")
    cards = report.add_model_cards([pushed], report_dir, lambda title, rows=None, text="", **_: sections.update(
        {title: rows}))
    assert cards == [os.path.join(report_dir, model_card.CARDS_DIR, "dense.html")]
    header, row = sections["Model cards"]
    assert row[:5] == ["dense", "run-7", "1796", pushed.pushed_to, 0.8125]
    assert "[HTML](model_cards/dense.html)" in document._md_table(sections["Model cards"])
    assert '<a href="model_cards/dense.md">Markdown</a>' in document._html_table(sections["Model cards"])
    assert sorted(os.listdir(os.path.join(report_dir, "model_cards"))) == ["dense.html", "dense.md"]
