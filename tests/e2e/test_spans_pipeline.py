"""Continuous training on span folders, the dense step on tiny data, three runs into one store: span 1 trains;
a second span whose labels shift is refused before training (exit 2, one line naming the feature and the
distance, no Trainer in ML Metadata); the same span unshifted passes and a window of two spans trains on both."""
import contextlib
import io
import json
import os
import re
import shutil

import numpy as np
import pytest

from dlqos import cli, metadata, report
from tests.helpers import fashion_like_arrays

pytestmark = pytest.mark.e2e


def write_span(directory: str, seed: int, shifted: bool = False, n_train: int = 300, n_eval: int = 100) -> None:
    """Fashion-like idx files; shifted: half of each split is class 0 (a tenth in an unshifted span)."""
    from data.fashion_mnist import FILES
    from data.idx import write_idx

    os.makedirs(directory, exist_ok=True)
    for split, count, split_seed in (("train", n_train, seed), ("eval", n_eval, seed + 100)):
        images, labels = fashion_like_arrays(4 * count, split_seed)
        chosen = np.arange(count)
        if shifted:
            chosen = np.concatenate([np.flatnonzero(labels == 0)[:count // 2],
                                     np.flatnonzero(labels != 0)[:count - count // 2]])
        write_idx(os.path.join(directory, FILES[f"{split}_images"]), images[chosen])
        write_idx(os.path.join(directory, FILES[f"{split}_labels"]), labels[chosen])


@pytest.fixture(scope="module")
def spans_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("spans")
    data = str(root / "fashion_mnist")
    out = str(root / "out")
    args = ["run", "dense", "--data-dir", data, "--output-dir", out, "--epochs", "1", "--batch-size", "32",
            "--max-train", "600", "--max-eval", "200"]
    write_span(os.path.join(data, "span-1"), seed=1)
    codes = [cli.main(args)]
    errors = []
    write_span(os.path.join(data, "span-2"), seed=2, shifted=True)
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        codes.append(cli.main(args))
    errors.append(stderr.getvalue())
    shutil.rmtree(os.path.join(data, "span-2"))
    write_span(os.path.join(data, "span-2"), seed=3)
    codes.append(cli.main(args + ["--span-window", "2"]))
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"out": out, "codes": codes, "refusal": errors[0], "runs": metadata.pipeline_runs(store, "dlqos-dense")}


def _examples(run):
    return run.nodes["ExampleGen"].output("examples")


def test_a_shifted_span_is_refused_before_training_with_one_line(spans_study):
    assert spans_study["codes"] == [cli.EXIT_OK, cli.EXIT_USAGE, cli.EXIT_OK]
    lines = [line for line in spans_study["refusal"].splitlines() if line.startswith("dlqos")]
    assert len(lines) == 1
    assert re.fullmatch(r"dlqos: error: data drift in span 2 against span 1: feature 'label' L-infinity distance "
                        r"0\.[3-5]\d{3} > threshold 0\.1 \(train split\); training stopped\. .*", lines[0])
    refused = spans_study["runs"][1]
    assert refused.status == "failed at ExampleValidator"
    assert not {"Transform", "Trainer", "Evaluator", "Pusher"} & set(refused.nodes)  # nothing trained or pushed


def test_each_run_records_its_spans_in_ml_metadata(spans_study):
    first, refused, window = spans_study["runs"]
    for run, span, read in ((first, 1, "1"), (refused, 2, "2"), (window, 2, "1,2")):
        examples = _examples(run)
        assert examples.properties["span"].int_value == span  # the Examples artifact's span property
        assert metadata.custom_property(examples, "span") == span  # as TFX's driver records it
        assert metadata.custom_property(examples, "spans") == read
    with open(os.path.join(_examples(window).uri, "dataset.json")) as f:
        assert json.load(f)["counts"] == {"train": 600, "eval": 200}  # both spans' examples


def test_the_unshifted_span_is_compared_with_the_last_span_that_passed_and_trains(spans_study):
    first, refused, window = spans_study["runs"]
    validator = window.nodes["ExampleValidator"]
    assert validator.state == "COMPLETE" and window.nodes["Trainer"].state == "COMPLETE"
    # the refused span's statistics are never a baseline: only span 1's (the first run's) is resolved
    assert [a.id for a in validator.inputs["previous_statistics"]] == \
        [a.id for a in first.nodes["ExampleValidator"].inputs["statistics"]]
    with open(os.path.join(validator.output("anomalies").uri, "drift.json")) as f:
        record = json.load(f)
    assert (record["span"], record["previous_span"]) == (2, 1)
    assert record["splits"]["train"]["label"]["distance"] < 0.1
    assert window.pushed_to


def test_the_report_shows_drift_per_span(spans_study):
    markdown = open(report.render(spans_study["out"])["markdown"]).read()
    section = markdown.split("### dense: data drift per span", 1)[1].split("###", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| 20")]
    assert rows[0].split(" | ")[1:3] == ["1", "none (first span)"]
    refused = [row for row in rows if "| label | L-infinity distance |" in row and "refused" in row]
    passed = [row for row in rows if row.split(" | ")[1] == "1,2" and "| label |" in row]
    assert len(refused) == 2 and len(passed) == 2 and all(row.endswith("| passed |") for row in passed)
