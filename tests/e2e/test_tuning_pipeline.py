"""`dlqos run dense --tune` on tiny data: the stock TFX Tuner searches first, its trials and best values are in ML
Metadata, the Trainer trains with those values, and the report shows the trial table."""
import json
import os

import pytest

from dlqos import cli, metadata
from dlqos.runs import BEST_HYPERPARAMETERS, TUNER_RESULTS
from tests.helpers import write_fashion_like_dir

pytestmark = pytest.mark.e2e
TRIALS = 3


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    data = write_fashion_like_dir(str(root / "data"), n_train=400, n_eval=200)
    out = str(root / "out")
    code = cli.main(["run", "dense", "--data-dir", data, "--output-dir", out, "--epochs", "1", "--batch-size", "32",
                     "--tune", "--tune-trials", str(TRIALS)])
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    report = cli.main(["report", "--output-dir", out])
    return {"code": code, "report": report, "out": out, "run": metadata.pipeline_runs(store, "dlqos-dense")[-1]}


def read(artifact, name):
    with open(os.path.join(artifact.uri, name)) as f:
        return json.load(f)


def test_the_tuner_ran_and_its_trials_and_best_values_are_in_ml_metadata(tuned):
    assert tuned["code"] == cli.EXIT_OK and tuned["run"].blessed
    tuner = tuned["run"].nodes["Tuner"]
    assert tuner.state == "COMPLETE"
    trials = read(tuner.output("tuner_results"), TUNER_RESULTS)
    assert len(trials) == TRIALS
    first = next(trial for trial in trials if int(trial["trial_id"]) == 0)
    # trial 0 is the configuration as given: the quick profile's Adam at 1e-3, the MLP without Dropout layers
    assert (first["learning_rate"], first["optimizer"], "dropout" in first) == (1e-3, "adam", False)
    assert all(0 <= trial["dropout"] <= 0.5 for trial in trials if trial is not first)
    best = read(tuner.output("best_hyperparameters"), BEST_HYPERPARAMETERS)["values"]
    assert best == {key: value for key, value in trials[0].items() if key not in ("trial_id", "score")}


def test_the_trainer_trained_with_the_best_values(tuned):
    run = tuned["run"]
    best_artifact = run.nodes["Tuner"].output("best_hyperparameters")
    assert [a.id for a in run.nodes["Trainer"].inputs["hyperparameters"]] == [best_artifact.id]
    best = read(best_artifact, BEST_HYPERPARAMETERS)["values"]
    record = read(run.nodes["Trainer"].output("model"), "training.json")
    assert record["tuned_hyperparameters"] == best
    assert record["optimizer"]["name"] == best["optimizer"]
    assert record["optimizer"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert record["dropout"] == best.get("dropout")


def test_the_report_has_the_trial_table(tuned):
    assert tuned["report"] == cli.EXIT_OK
    with open(os.path.join(tuned["out"], "report", "REPORT.md")) as f:
        report = f.read()
    section = report.split("dense: hyper-parameter tuning", 1)[1].split("\n#", 1)[0]
    assert "| trial | score | dropout | learning_rate | optimizer |" in section
    assert section.count("| best") + section.count(", best") <= 1 and "the configuration as given" in section
    assert f"{TRIALS} trials completed (at most {TRIALS} trials)" in section


def test_textgen_tunes_its_gru_widths_and_trains_with_the_best(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 700)
    out = str(tmp_path / "out")
    code = cli.main(["run", "textgen", "--data-dir", str(corpus), "--output-dir", out, "--epochs", "1",
                     "--batch-size", "16", "--tune", "--tune-trials", "2"])
    assert code == cli.EXIT_OK
    run = metadata.latest_run(metadata.open_store(os.path.join(out, "metadata.sqlite")), "dlqos-textgen")
    trials = read(run.nodes["Tuner"].output("tuner_results"), TUNER_RESULTS)
    first = next(trial for trial in trials if int(trial["trial_id"]) == 0)
    assert (first["model.embedding_dim"], first["model.rnn_units"]) == (64, 256)  # the quick profile's widths
    assert all(trial["model.rnn_units"] in (128, 256, 512) for trial in trials) and len(trials) == 2
    best = read(run.nodes["Tuner"].output("best_hyperparameters"), BEST_HYPERPARAMETERS)["values"]
    record = read(run.nodes["Trainer"].output("model"), "training.json")
    assert record["tuned_hyperparameters"] == best and record["optimizer"]["name"] == best["optimizer"]
