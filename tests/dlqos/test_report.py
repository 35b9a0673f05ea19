"""Report formatting without a pipeline: hand-made step reports in the shapes ML Metadata and the Trainer give."""
import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from dlqos import document, report, runs  # noqa: E402
from dlqos.evaluation import OVERALL  # noqa: E402
from dlqos.paper import PAPER  # noqa: E402
from models.steps import STEPS  # noqa: E402


def step_report(name: str, epochs: int = 7, examples: float = 1000.0) -> runs.StepRun:
    history = {"loss": [1.0 / (e + 1) for e in range(epochs)], "val_loss": [1.2 / (e + 1) for e in range(epochs)],
               "accuracy": [0.5 + e / 20 for e in range(epochs)], "val_accuracy": [0.5 + e / 25 for e in range(epochs)]}
    return runs.StepRun(
        step=STEPS[name], run_id="run-1", blessed=True, pushed_to=None, baseline_model=None, model_dir=None,
        training={"parameters": {"total": 2561 * (STEPS[name].paper_step ** 4), "trainable": 1, "non_trainable": 0},
                  "history": history, "train_seconds": 12.5},
        slices={OVERALL: {"example_count": examples, "example_count_diff": 0.0, "sparse_categorical_accuracy": 0.8125}})


@pytest.fixture
def six_steps():
    yield [step_report(name) for name in STEPS]
    plt.close("all")


def test_counts_print_as_integers_and_measures_keep_their_decimals():
    table = document._md_table(document.slice_rows(step_report("dense", examples=1000.0)))
    assert "| Overall | 1,000 | 0 | 0.8125 |" in table and "1,000.0000" not in table


@pytest.mark.parametrize("epochs", [1, 3, 23])
def test_epoch_axes_tick_whole_epochs_only(six_steps, epochs):
    figure = report.history_figure(step_report("dense", epochs=epochs), plt)
    figure.canvas.draw()
    for axis in figure.axes:
        low, high = axis.get_xlim()
        ticks = [t for t in axis.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_growth_chart_step_names_do_not_overlap(six_steps):
    figure = report.growth_figure(six_steps, plt)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axis in figure.axes:
        labels = [label for label in axis.get_xticklabels() if label.get_text()]
        assert len(labels) == len(STEPS)
        boxes = [label.get_window_extent(renderer) for label in labels]
        for first, second in itertools.combinations(boxes, 2):
            assert not first.overlaps(second), (first, second)
    legend = figure.axes[1].get_legend().get_window_extent(renderer)
    assert not any(legend.overlaps(text.get_window_extent(renderer)) for text in figure.axes[1].texts)


def test_paper_training_accuracy_is_labelled_as_such_beside_our_eval_accuracy(six_steps):
    rows = report.step_summary_rows(six_steps)
    header = rows[0]
    transfer = next(row for row in rows if row[0] == "transfer")
    described = transfer[header.index("paper accuracy is")]
    assert transfer[header.index("paper accuracy")] == PAPER["transfer"]["accuracy"]
    assert "training accuracy" in described and "flowers" in described
    assert "test accuracy" in next(row for row in rows if row[0] == "cnn")[header.index("paper accuracy is")]
    assert '<td class="prose">training accuracy' in document._html_table(rows)  # a sentence, laid out to be read
    figure = report.growth_figure(six_steps, plt)
    bar_labels = [text.get_text() for text in figure.axes[1].texts]
    assert "training" in bar_labels and "test" in bar_labels
    assert "eval" in figure.axes[1].get_legend().get_texts()[0].get_text()


def _run(run_id: str, states: dict, pushed_to=None):
    """A PipelineRun as ML Metadata gives it: each node's last execution state; a Pusher output when pushed."""
    from ml_metadata.proto import metadata_store_pb2

    from dlqos import metadata

    nodes = {node: metadata.NodeExecution(node, state, 1.0) for node, state in states.items()}
    if pushed_to:
        pushed = metadata_store_pb2.Artifact()
        pushed.custom_properties["pushed"].int_value = 1
        pushed.custom_properties["pushed_destination"].string_value = pushed_to
        nodes["Pusher"].outputs["pushed_model"] = [pushed]
    return metadata.PipelineRun("dlqos-dense", run_id, nodes)


def test_a_failed_or_interrupted_latest_run_is_marked_and_the_served_run_named(tmp_path):
    from dlqos import metadata

    version = tmp_path / "serving" / "dense" / "7"
    version.mkdir(parents=True)
    done = {"ExampleGen": "COMPLETE", "Trainer": "COMPLETE", "Evaluator": "COMPLETE", "Pusher": "COMPLETE"}
    served = _run("r1", done, pushed_to=str(version))
    gone = _run("r2", done, pushed_to=str(tmp_path / "serving" / "dense" / "8"))  # version since removed
    failed = _run("r3", {"ExampleGen": "COMPLETE", "Trainer": "FAILED"})
    killed = _run("r4", {"ExampleGen": "COMPLETE", "Trainer": "COMPLETE", "Evaluator": "RUNNING"})
    between = _run("r5", {"ExampleGen": "COMPLETE", "Trainer": "COMPLETE"})  # killed between two components
    assert [r.status for r in (served, failed, killed, between)] == [
        "finished", "failed at Trainer", "interrupted", "interrupted"]
    assert metadata.served_run([served, gone, failed, killed]) is served
    assert metadata.served_run([failed]) is None
    assert report._served(killed, served, STEPS["dense"]) == f"run r1 ({version})"
    assert report._served(served, served, STEPS["dense"]) is None and report._served(failed, None, STEPS["dense"]) == "none"
    latest = step_report("dense")
    latest.status = "failed at Trainer"
    latest.served = f"run r1 ({version})"
    latest.blessed = None
    header, row = report.step_summary_rows([latest])
    assert row[header.index("latest run")] == "FAILED AT TRAINER"
    assert row[header.index("served model")] == f"run r1 ({version})"


def _recorded_sections(name: str, record: dict) -> dict:
    """{title: (rows, text)} of what _add_recorded_sections adds for a step with this record."""
    sections = {}
    run = runs.StepRun(step=STEPS[name], run_id="r", blessed=None, pushed_to=None, baseline_model=None,
                       model_dir=None, training=record)
    report._add_recorded_sections(run, lambda title, rows=None, text="", **_: sections.update({title: (rows, text)}))
    return sections


def test_a_step_s_extras_are_the_record_entries_it_declares():
    """Each step's Step.reports picks its record's extras; an entry no step declares is not shown."""
    shown = _recorded_sections("autoencoder", {"history": {}, "evaluation": {"loss": 0.5}, "undeclared": 3,
                                               "denoising": {"psnr_db": 19.5, "noise_factor": 0.4}})
    assert shown == {"autoencoder: evaluation recorded by the Trainer": (
        [["measure", "value"], ["evaluation.loss", 0.5], ["denoising.psnr_db", 19.5],
         ["denoising.noise_factor", 0.4]], "")}
    sample = {"prompt": "ROMEO:", "temperature": 1.0, "seed": 42, "text": "ROMEO: ay"}
    shown = _recorded_sections("textgen", {"perplexity": 4.5, "sample": sample, "backbone": "not textgen's"})
    assert shown["textgen: evaluation recorded by the Trainer"][0] == [["measure", "value"], ["perplexity", 4.5]]
    assert shown["textgen: generated text"][1] == "prompt 'ROMEO:', temperature 1.0, seed 42: ROMEO: ay"
    assert _recorded_sections("dense", {"sample": sample, "denoising": {"psnr_db": 1.0}}) == {}


def test_deepdream_reports_its_losses_not_a_trainer_table():
    dreams = {"backbone": "mobilenet_v2", "weights": "imagenet", "layers": ["a", "b"],
              "settings": {"checkpoints": [0, 100]},
              "photos": [{"name": "p0", "snapshots": [{"loss": 1.0}, {"loss": 2.0}]}]}
    shown = _recorded_sections("deepdream", dreams)
    assert list(shown) == ["deepdream: dream loss per step"]
    rows, text = shown["deepdream: dream loss per step"]
    assert rows[:2] == [["photo", "step 0", "step 100"], ["p0", 1.0, 2.0]] and text.startswith("Backbone mobilenet_v2")


def test_every_declared_extra_is_one_the_report_renders():
    from models.steps import DREAM_LOSSES, MEASURE, TEXT_SAMPLE

    assert {kind for step in STEPS.values() for kind in step.reports.values()} <= {MEASURE, TEXT_SAMPLE, DREAM_LOSSES}


def test_the_trial_table_marks_the_best_and_the_configuration_as_given():
    tuning = {"trials": [{"trial_id": "2", "score": 0.91, "learning_rate": 0.003, "optimizer": "rmsprop",
                          "dropout": 0.1},
                         {"trial_id": "0", "score": 0.88, "learning_rate": 0.001, "optimizer": "adam"}],
              "best": {"learning_rate": 0.003, "optimizer": "rmsprop", "dropout": 0.1}, "seconds": 42.5,
              "state": "COMPLETE", "budget": {"max_trials": 4, "max_seconds": 60}}
    assert report.tuning_rows(tuning) == [
        ["trial", "score", "dropout", "learning_rate", "optimizer", ""],
        ["2", 0.91, 0.1, 0.003, "rmsprop", "best"],
        ["0", 0.88, "own", 0.001, "adam", "the configuration as given"]]
    line = report.tuning_line(tuning)
    assert "Best score 0.9100 (trial 2) vs 0.8800 for the configuration as given (trial 0)" in line
    assert "2 trials completed (at most 4 trials, none started after 60 s) in 42.5 s" in line
