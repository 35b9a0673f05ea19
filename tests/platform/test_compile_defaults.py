"""`dlqos compile` needs no data sizes: the Trainer derives its steps from the examples' dataset.json at run time."""
import json

from dlqos import cli
from models.steps import STEPS

IMAGE = "registry.example.com/dlqos@sha256:" + "0" * 64


def _trainer(spec_dir, step: str) -> dict:
    with open(spec_dir / f"{STEPS[step].pipeline_name}.json") as f:
        job = json.load(f)
    return job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]


def test_compile_all_with_its_defaults_fixes_no_step_counts(tmp_path):
    code = cli.main(["compile", "all", "--image", IMAGE, "--root", "gs://b/r", "--spec-dir", str(tmp_path)])
    assert code == cli.EXIT_OK
    parameters = _trainer(tmp_path, "dense")
    custom_config = json.loads(parameters["custom_config"]["runtimeValue"]["constant"])
    assert custom_config["data_metadata"] is None  # the dataset.json the ExampleGen writes inside its artifact
    assert custom_config["epochs"] == STEPS["dense"].profile("full").epochs
    assert "num_steps" not in parameters["train_args"]["runtimeValue"]["constant"]


def test_given_sizes_still_fix_the_data_the_steps_are_counted_from(tmp_path):
    code = cli.main(["compile", "dense", "--image", IMAGE, "--root", "gs://b/r", "--spec-dir", str(tmp_path),
                     "--num-train", "600", "--num-eval", "100"])
    assert code == cli.EXIT_OK
    custom_config = json.loads(_trainer(tmp_path, "dense")["custom_config"]["runtimeValue"]["constant"])
    assert (custom_config["num_train"], custom_config["num_eval"]) == (600, 100)


def test_tune_puts_the_tuner_before_the_trainer_which_reads_its_best_hyperparameters(tmp_path):
    code = cli.main(["compile", "dense", "--image", IMAGE, "--root", "gs://b/r", "--spec-dir", str(tmp_path),
                     "--tune", "--tune-trials", "6", "--tune-seconds", "900"])
    assert code == cli.EXIT_OK
    with open(tmp_path / f"{STEPS['dense'].pipeline_name}.json") as f:
        tasks = json.load(f)["pipelineSpec"]["root"]["dag"]["tasks"]
    tuner = tasks["Tuner"]
    assert tuner["componentRef"]["name"] == "Tuner" and "Transform" in tuner["dependentTasks"]
    tuner_config = json.loads(tuner["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"])
    assert tuner_config["tuning"]["max_trials"] == 6 and tuner_config["tuning"]["max_seconds"] == 900
    assert tuner["inputs"]["parameters"]["tuner_fn"]["runtimeValue"]["constant"] == "models.steps.dense.tuner_fn"
    hyperparameters = tasks["Trainer"]["inputs"]["artifacts"]["hyperparameters"]["taskOutputArtifact"]
    assert hyperparameters == {"producerTask": "Tuner", "outputArtifactKey": "best_hyperparameters"}


def test_without_tune_there_is_no_tuner(tmp_path):
    assert cli.main(["compile", "dense", "--image", IMAGE, "--root", "gs://b/r", "--spec-dir", str(tmp_path)]) == 0
    with open(tmp_path / f"{STEPS['dense'].pipeline_name}.json") as f:
        tasks = json.load(f)["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "Tuner" not in tasks and "hyperparameters" not in tasks["Trainer"]["inputs"].get("artifacts", {})
