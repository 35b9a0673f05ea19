"""`dlqos compile --data-root` makes a spec whose ExampleGen reads the raw dataset files and depends on nothing, and
`dlqos data fetch NAME --to ROOT` puts exactly the files that ExampleGen's globs match under ROOT/NAME."""
import json
import os

from dlqos import cli
from models.steps import STEPS
from tests.helpers import run_examplegen, write_fashion_like_dir

IMAGE = "registry.example.com/dlqos@sha256:" + "0" * 64


def _tasks(spec_dir, step: str) -> dict:
    with open(spec_dir / f"{STEPS[step].pipeline_name}.json") as f:
        return json.load(f)["pipelineSpec"]["root"]["dag"]["tasks"]


def _constant(task: dict, name: str):
    return task["inputs"]["parameters"][name]["runtimeValue"]["constant"]


def test_compiled_example_gen_reads_the_raw_files_and_needs_no_other_step(tmp_path):
    code = cli.main(["compile", "all", "--image", IMAGE, "--root", "gs://b/r", "--data-root", "gs://bucket/raw/",
                     "--spec-dir", str(tmp_path)])
    assert code == cli.EXIT_OK
    for name, step in STEPS.items():
        tasks = _tasks(tmp_path, name)
        example_gen = tasks["ExampleGen"]
        assert _constant(example_gen, "input_base") == f"gs://bucket/raw/{step.dataset}", name
        # nothing runs before the ExampleGen; the only other task without inputs from the DAG is the resolver of
        # the last blessed model (it reads ML Metadata)
        roots = {task_id for task_id, task in tasks.items() if not task.get("dependentTasks")}
        assert "ExampleGen" in roots and all("resolver" in task_id for task_id in roots - {"ExampleGen"}), roots
        settings = json.loads(_constant(example_gen, "custom_config"))["custom_config"]["value"]
        assert settings["dataset"] == step.dataset and settings["options"]["max_classes"] == step.max_classes, name
    splits = json.loads(_constant(_tasks(tmp_path, "dense")["ExampleGen"], "input_config"))["splits"]
    assert splits == [{"name": "train", "pattern": "train-*-ubyte.gz"}, {"name": "eval", "pattern": "t10k-*-ubyte.gz"}]


def test_default_data_root_is_under_the_pipeline_root(tmp_path, capsys):
    assert cli.main(["compile", "dense", "--image", IMAGE, "--root", "gs://b/r", "--spec-dir", str(tmp_path)]) == 0
    assert _constant(_tasks(tmp_path, "dense")["ExampleGen"], "input_base") == "gs://b/r/raw/fashion_mnist"
    assert "dlqos data fetch fashion_mnist --to gs://b/r/raw" in capsys.readouterr().out


def test_data_fetch_to_a_root_copies_what_the_compiled_example_gen_reads(tmp_path, capsys):
    from data import fetched_raw

    source = write_fashion_like_dir(str(tmp_path / "given"), n_train=30, n_eval=12)
    (tmp_path / "given" / "notes.txt").write_text("not data")
    root = tmp_path / "root"
    assert cli.main(["data", "fetch", "fashion_mnist", "--data-dir", source, "--to", str(root)]) == cli.EXIT_OK
    assert "4 raw files" in capsys.readouterr().out
    assert sorted(os.listdir(root / "fashion_mnist")) == sorted(f for f in os.listdir(source) if f != "notes.txt")
    splits, facts = run_examplegen(tmp_path / "run", "fashion_mnist",
                                   fetched_raw("fashion_mnist", str(root / "fashion_mnist")))
    assert facts["counts"] == {"train": 30, "eval": 12} and len(splits["train"]) == 30


def test_compiled_with_a_span_window_the_example_gen_reads_span_folders_and_checks_drift(tmp_path):
    code = cli.main(["compile", "dense", "--image", IMAGE, "--root", "gs://b/r", "--data-root", "gs://bucket/raw",
                     "--spec-dir", str(tmp_path), "--span-window", "2"])
    assert code == cli.EXIT_OK
    tasks = _tasks(tmp_path, "dense")
    splits = json.loads(_constant(tasks["ExampleGen"], "input_config"))["splits"]
    assert splits == [{"name": "train", "pattern": "span-{SPAN}/train-*-ubyte.gz"},
                      {"name": "eval", "pattern": "span-{SPAN}/t10k-*-ubyte.gz"}]
    assert json.loads(_constant(tasks["ExampleGen"], "custom_config"))["custom_config"]["value"]["span_window"] == 2
    assert "previous_span_statistics_resolver" in tasks
    assert json.loads(_constant(tasks["ExampleValidator"], "drift_thresholds")) == {
        "categorical": {"label": 0.1}, "numeric": {"pixels": 0.1}}
    assert "ExampleValidator" in tasks["Transform"]["dependentTasks"]
