"""The study report and its model card rendered from the shared tiny dense study, checked as text and in headless
Chromium."""
import os
import re

import pytest

from dlqos import cli
from dlqos import report as report_module
from dlqos.evaluation import OVERALL, slice_metrics
from dlqos.paper import accuracy_note
from tests.helpers import renders_in_chromium

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report(dense_study):
    assert cli.main(["report", "--output-dir", dense_study["out"]]) == cli.EXIT_OK
    report_dir = os.path.join(dense_study["out"], "report")
    with open(os.path.join(report_dir, "REPORT.md")) as f:
        markdown = f.read()
    with open(os.path.join(report_dir, "index.html")) as f:
        page = f.read()
    return {"dir": report_dir, "markdown": markdown, "html": page}


def test_every_section_is_present(report):
    for heading in ("## Growth across the steps", "## Loss functions compared", "## Step 1: dense",
                    "### dense: parameters", "### dense: training history", "### dense: TFMA evaluation by slice",
                    "### dense: gate", "### dense: pipeline components", "## Device comparison"):
        assert heading in report["markdown"], heading


def test_numbers_come_from_the_latest_run(report, dense_study):
    latest = dense_study["runs"][-1]
    evaluation = latest.nodes["Evaluator"].output("evaluation").uri
    accuracy = slice_metrics(evaluation)[OVERALL]["sparse_categorical_accuracy"]
    assert f"| dense | 1 | {accuracy:,.4f} | 0.8800 | {accuracy_note('dense')} | sparse_categorical_accuracy | " \
        f"{accuracy:,.4f} |" in report["markdown"]
    assert report_module.ACCURACY_NOTE in report["markdown"]
    assert not re.search(r"\| Overall \| [\d,]+\.0000 \|", report["markdown"])  # example_count is a whole number
    # the latest run is the crippled one: the report says it was not blessed and why
    assert "Validation FAILED" in report["markdown"] and "NOT blessed" in report["markdown"]
    assert "| NN1 | 0.3333 (paper 0.33) | 0.2533 (paper 0.25) | 0.3757 (paper 0.38) |" in report["markdown"]
    assert "235,146" in report["markdown"]


def test_plots_are_files_for_markdown_and_embedded_in_html(report):
    for name in ("growth.png", "dense-history.png"):
        assert os.path.getsize(os.path.join(report["dir"], "img", name)) > 1000
    sources = re.findall(r'<img [^>]*src="([^"]+)"', report["html"])
    assert len(sources) >= 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in report["html"]


@pytest.mark.parametrize("page", ["index.html", "model_cards/dense.html"])
def test_html_renders_in_headless_chromium_without_console_errors(report, tmp_path, page):
    renders_in_chromium(os.path.join(report["dir"], page), tmp_path)


def test_the_served_run_is_named_beside_a_latest_run_that_is_not_it(report, dense_study):
    """The crippled third run finished but was not pushed: the second run's model is the one served."""
    second, third = dense_study["runs"][1:]
    assert f"Run {third.run_id}: NOT blessed; nothing pushed" in report["markdown"]
    assert f"Served now: run {second.run_id} ({second.pushed_to})." in report["markdown"]
    assert f"| finished | run {second.run_id} ({second.pushed_to}) |" in report["markdown"]


def test_the_served_model_has_a_model_card_linked_from_the_report(report, dense_study):
    """The second run's model is the one served: its card carries that run's TFMA accuracy, pushed path, data,
    statistics and baseline (the first run's model)."""
    first, second = dense_study["runs"][:2]
    evaluator = second.nodes["Evaluator"]
    accuracy = slice_metrics(evaluator.output("evaluation").uri)[OVERALL]["sparse_categorical_accuracy"]
    cards = os.path.join(report["dir"], "model_cards")
    assert sorted(os.listdir(cards)) == ["dense.html", "dense.md"]
    assert "[HTML](model_cards/dense.html)" in report["markdown"] and "[Markdown](model_cards/dense.md)" in \
        report["markdown"]
    assert '<a href="model_cards/dense.html">HTML</a>' in report["html"]
    with open(os.path.join(cards, "dense.md")) as f:
        card = f.read()
    with open(os.path.join(cards, "dense.html")) as f:
        page = f.read()
    version = os.path.basename(second.pushed_to)
    assert f"Run {second.run_id}, pushed as version {version} to {second.pushed_to}." in card
    assert f"| pushed to | {second.pushed_to} |" in card
    assert f"| accuracy | {accuracy:,.4f} | 0.8800 |" in card
    overall = next(line for line in card.splitlines() if line.startswith("| Overall |"))
    assert overall.startswith(f"| Overall | 200 | 0 | {accuracy:,.4f} |"), overall  # count, its change, accuracy
    assert "| train examples | 600 |" in card and "| eval examples | 200 |" in card
    assert "| train | label | INT | 600 | 0 | 1 |" in card and "| eval | pixels | INT | 200 | 0 | 784 |" in card
    assert f"Baseline: {evaluator.inputs['baseline_model'][0].uri}." in card
    assert first.nodes["Trainer"].output("model").uri == evaluator.inputs["baseline_model"][0].uri
    assert f"<td>{accuracy:,.4f}</td>" in page and second.pushed_to in page and "<script" not in page
