"""`dlqos compare` end to end on tiny data: one step (dense), 2 optimizers x 2 seeds, 2 short epochs. Asserts on ML
Metadata (the data half executed once, four distinct Trainer/Evaluator variants, no Pusher), on serving (nothing
pushed) and on the report's comparison section (its statistics recomputed from the store), in headless Chromium.
The same command run again into another output directory gives the same numbers."""
import collections
import json
import os
import platform

import pytest

from dlqos import cli, compare, metadata
from dlqos.evaluation import OVERALL, slice_metrics
from models.steps import STEPS
from tests.helpers import renders_in_chromium, write_fashion_like_dir

pytestmark = pytest.mark.e2e

OPTIMIZERS = ("adam", "sgd")
SEEDS = (1, 2)
DATA_TYPES = ("DatasetExampleGen", "StatisticsGen", "SchemaGen", "DriftValidator", "Transform")


def run_compare(data: str, out: str) -> dict:
    """The command under test, into `out`: its exit code, ML Metadata store and report."""
    # batch 64: 10 steps an epoch, so that SGD is still short of Adam after 2 epochs and the seeds differ
    code = cli.main(["compare", "--steps", "dense", "--optimizers", *OPTIMIZERS, "--seeds", str(len(SEEDS)),
                     "--first-seed", str(SEEDS[0]), "--data-dir", data, "--output-dir", out, "--epochs", "2",
                     "--batch-size", "64"])
    store = metadata.open_store(os.path.join(out, "metadata.sqlite"))
    with open(os.path.join(out, "report", "REPORT.md")) as f:
        markdown = f.read()
    return {"code": code, "out": out, "store": store, "markdown": markdown}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fashion_like_dir(str(tmp_path_factory.mktemp("compare-data")), n_train=600, n_eval=200)


@pytest.fixture(scope="module")
def comparison(data_dir, tmp_path_factory):
    return run_compare(data_dir, str(tmp_path_factory.mktemp("compare") / "out"))


@pytest.fixture(scope="module")
def repeated(data_dir, tmp_path_factory):
    """The same command again, with the same seeds on the same data, into another output directory."""
    return run_compare(data_dir, str(tmp_path_factory.mktemp("compare-again") / "out"))


def executions_by_type(store) -> dict:
    """{component class name: [executions]} over the whole store."""
    types = {t.id: t.name.rpartition(".")[2] for t in store.get_execution_types()}
    found = collections.defaultdict(list)
    for execution in store.get_executions():
        found[types[execution.type_id]].append(execution)
    return found


def test_exit_code(comparison):
    assert comparison["code"] == cli.EXIT_OK


def test_the_data_half_executed_once(comparison):
    found = executions_by_type(comparison["store"])
    for component in DATA_TYPES:
        assert len(found[component]) == 1, component
        assert found[component][0].last_known_state == found[component][0].COMPLETE


def test_four_distinct_trainer_and_evaluator_variants(comparison):
    found = executions_by_type(comparison["store"])
    assert len(found["Trainer"]) == len(found["Evaluator"]) == len(OPTIMIZERS) * len(SEEDS)
    settings = [json.loads(metadata.custom_property(e, "custom_config")) for e in found["Trainer"]]
    assert sorted((s["optimizer"]["name"], s["seed"]) for s in settings) == \
        sorted((o, s) for o in OPTIMIZERS for s in SEEDS)
    variants = compare.collect_variants(comparison["store"], STEPS["dense"])
    assert [(v.optimizer, v.seed) for v in variants] == [(o, s) for o in OPTIMIZERS for s in SEEDS]
    for variant in variants:  # each variant's training record names its optimizer; TFMA evaluated its model
        assert variant.training["optimizer"]["name"] == variant.optimizer
        assert variant.metrics["example_count"] == 200
    learning_rates = {v.optimizer: v.settings["learning_rate"] for v in variants}
    assert learning_rates["sgd"] == pytest.approx(10 * learning_rates["adam"])  # each optimizer's own default


def test_nothing_pushed(comparison):
    assert "Pusher" not in executions_by_type(comparison["store"])
    serving = os.path.join(comparison["out"], "serving")
    assert not os.path.exists(serving) or not any(files for _, _, files in os.walk(serving))


def test_report_section_prints_the_statistics_of_the_store(comparison):
    markdown = comparison["markdown"]
    for heading in ("## Optimizers compared (dlqos compare)", "### dense: optimizers x seeds",
                    "### dense: ranking by sparse_categorical_accuracy (TFMA, eval split)"):
        assert heading in markdown, heading
    assert "### dense: time to val_accuracy >= 0.8800, the paper's accuracy" in markdown
    assert "seeds 1, 2; 2 epochs each; none pushed." in markdown
    # recomputed here from the Evaluator artifacts, not from the report's own code path
    groups = collections.defaultdict(list)
    for run in metadata.pipeline_runs(comparison["store"], "dlqos-dense-compare"):
        for node_id, node in run.nodes.items():
            if node_id.startswith("Evaluator_"):
                accuracy = slice_metrics(node.output("evaluation").uri)[OVERALL]["sparse_categorical_accuracy"]
                groups[node_id.split("_")[1]].append(accuracy)
    for optimizer, values in groups.items():
        mean, std = compare.mean_std(values)
        assert f"| {optimizer} | 1, 2 | " in markdown and f"{mean:,.4f} ± {std:,.4f}" in markdown
    assert compare.significance_note(groups, True, "sparse_categorical_accuracy") in markdown
    assert os.path.getsize(os.path.join(comparison["out"], "report", "img", "dense-compare.png")) > 5000


def test_report_with_the_comparison_renders_in_headless_chromium(comparison, tmp_path):
    """The same check as the study report's (screenshot, no console errors), on the page with the comparison."""
    renders_in_chromium(os.path.join(comparison["out"], "report", "index.html"), tmp_path)


# ------------------------------------------------------------------------------------------ reproducibility
def by_seed(store) -> dict:
    """{(optimizer, seed): Variant} of the store's dense comparison."""
    return {(v.optimizer, v.seed): v for v in compare.collect_variants(store, STEPS["dense"])}


def test_the_same_command_gives_the_same_numbers(comparison, repeated):
    """Every variant trained again, not taken from a cache, gives the very same per-epoch losses and accuracies
    and Keras' evaluation, to the last bit. TFMA's metrics agree to float32 precision: TFMA batches examples with
    beam.BatchElements' default, which sizes batches by timing (tensorflow_model_analysis/extractors/
    inference_base.py), so under load the float32 sums run in another order (a 7e-8 relative difference in the
    MSE metric was seen in a clean-clone CI run)."""
    assert repeated["code"] == cli.EXIT_OK
    trainers = executions_by_type(repeated["store"])["Trainer"]
    assert len(trainers) == 4 and {t.last_known_state for t in trainers} == {trainers[0].COMPLETE}
    first = by_seed(comparison["store"])
    again = by_seed(repeated["store"])
    assert sorted(first) == sorted(again) == sorted((o, s) for o in OPTIMIZERS for s in SEEDS)
    for key, variant in first.items():
        assert again[key].model_dir != variant.model_dir  # trained anew, into the other output directory
        assert again[key].training["history"] == variant.training["history"], key
        assert again[key].training["evaluation"] == variant.training["evaluation"], key
        assert again[key].metrics == pytest.approx(variant.metrics, rel=1e-6), key


def test_another_seed_gives_other_numbers(comparison):
    variants = by_seed(comparison["store"])
    for optimizer in OPTIMIZERS:
        one, other = (variants[(optimizer, seed)].training for seed in SEEDS)
        assert one["history"]["loss"][0] != other["history"]["loss"][0], optimizer  # another initialisation
        assert one["history"]["val_loss"] != other["history"]["val_loss"], optimizer


def test_report_states_the_seeds_versions_and_machine(comparison):
    """Read here independently of common.environment: the installed versions and /proc's CPU model."""
    from importlib.metadata import version

    markdown = comparison["markdown"]
    assert "## Seeds, versions and machine of the runs shown" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| dense compared (4 variants) |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "1, 2"
    for name, distribution in (("tfx", "tfx"), ("tensorflow", "tensorflow"), ("tfma", "tensorflow-model-analysis"),
                               ("beam", "apache-beam")):
        assert f"{name} {version(distribution)}" in cells[2]
    assert cells[2].startswith(f"python {platform.python_version()}, ")
    with open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    assert cells[3].startswith(f"{cpu}, {len(os.sched_getaffinity(0))} cores")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    assert " GiB, " in cells[3]
    assert cells[3].endswith(", no accelerator") if not gpus else "no accelerator" not in cells[3]
