"""The comparative study report, rendered from ML Metadata and pipeline artifacts alone (never from logs).

Writes <output>/report/index.html (self-contained: plots embedded as PNG data URIs, no scripts) and
<output>/report/REPORT.md (plots as files beside it).
"""
from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from dlqos import compare, metadata, model_card
from dlqos.compare import metric_name
from dlqos.document import Document, Link, cell, gate_line, gate_rows, is_count, slice_rows
from common.config import OPTIMIZERS, OutputLayout
from dlqos.paper import LOSS_TABLE_PAPER, PAPER, accuracy_note, loss_table
from dlqos.runs import StepRun, read_json, read_step_run
from models.steps import DREAM_LOSSES, MEASURE, STEPS, TEXT_SAMPLE, Step

DEVICE_BENCH = os.path.join("bench", "devices.json")


def collect(output_dir: str) -> Tuple[List[StepRun], List[StepRun]]:
    """From the output's ML Metadata store: the latest run of every registered step, and the run of every model
    TF Serving serves now (the newest pushed version still in the serving directory), which gets a model card."""
    store = metadata.open_store(OutputLayout(os.path.abspath(output_dir)).metadata_path)
    reports = []
    pushed = []
    for step in STEPS.values():
        runs = metadata.pipeline_runs(store, step.pipeline_name)
        if not runs:
            continue
        served = metadata.served_run(runs)
        reports.append(read_step_run(runs[-1], step, _served(runs[-1], served, step)))
        if served:
            pushed.append(reports[-1] if served is runs[-1] else read_step_run(served, step))
    return reports, pushed


def _served(latest: metadata.PipelineRun, served: Optional[metadata.PipelineRun], step: Step) -> Optional[str]:
    """Which run's model TF Serving serves, said beside a latest run that is not it (None: it is, or nothing is
    pushed by this step)."""
    if not step.trains or served is latest:
        return None
    return f"run {served.run_id} ({served.pushed_to})" if served else "none"


# ------------------------------------------------------------------------------------------ plots
def _figure_png(draw) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = draw(plt)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _history_keys(report: StepRun) -> list:
    history = (report.training or {}).get("history") or {}
    return [(k, f"val_{k}") for k in ("loss", "accuracy") if k in history]


def history_figure(report: StepRun, plt):
    """Loss vs val_loss and accuracy vs val_accuracy over epochs (the paper's figures 1-4); epochs are whole
    numbers, so the x axis ticks only integers."""
    from matplotlib.ticker import MaxNLocator

    history = report.training["history"]
    pairs = _history_keys(report)
    figure, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 3.2))
    axes = axes if len(pairs) > 1 else [axes]
    for axis, (train_key, val_key) in zip(axes, pairs):
        epochs = range(1, len(history[train_key]) + 1)
        axis.plot(epochs, history[train_key], marker="o", label=train_key)
        if val_key in history:
            axis.plot(epochs, history[val_key], marker="s", label=val_key)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # 1: also a one-epoch run
        axis.set_xlabel("epoch")
        axis.set_title(f"{report.step.name}: {train_key}")
        axis.legend()
        axis.grid(alpha=0.3)
    return figure


def history_plot(report: StepRun) -> Optional[bytes]:
    return _figure_png(lambda plt: history_figure(report, plt)) if _history_keys(report) else None


def _growth_rows(reports: List[StepRun]) -> List[StepRun]:
    return [r for r in reports if r.training and r.training.get("parameters")]


def growth_figure(reports: List[StepRun], plt):
    """Parameters (log scale) and final accuracy across the study's steps, ours beside the paper's; each paper
    bar is labelled with the kind of accuracy it is (training, test...); step names go on two small lines so
    that six of them fit side by side under each panel."""
    rows = _growth_rows(reports)
    figure, (params_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(12, 3.8))
    names = [f"step {r.step.paper_step}\n{r.step.name}" for r in rows]
    positions = list(range(len(rows)))
    params_axis.bar(positions, [r.training["parameters"]["total"] for r in rows], color="#4c72b0")
    params_axis.set_yscale("log")
    params_axis.set_title("parameters per step")
    paper = [PAPER.get(r.step.name, {}) for r in rows]
    accuracy_axis.bar([p - 0.2 for p in positions], [_accuracy(r) or 0.0 for r in rows], width=0.4,
                      label="ours (TFMA, eval split)")
    bars = accuracy_axis.bar([p + 0.2 for p in positions], [p.get("accuracy") or 0.0 for p in paper], width=0.4,
                             label="paper (its metric and data: see table)")
    accuracy_axis.bar_label(bars, [p.get("accuracy_is", {}).get("short", "") for p in paper], fontsize=7)
    accuracy_axis.set_ylim(0, 1.3)  # headroom above 100% for the bar labels and, above them, the legend
    accuracy_axis.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    accuracy_axis.set_title("accuracy per step")
    accuracy_axis.legend(loc="upper center", ncol=2, fontsize=8)
    for axis in (params_axis, accuracy_axis):
        axis.set_xticks(positions, names, fontsize=8)
    figure.tight_layout()
    return figure


def growth_plot(reports: List[StepRun]) -> Optional[bytes]:
    return _figure_png(lambda plt: growth_figure(reports, plt)) if _growth_rows(reports) else None


def _accuracy(report: StepRun) -> Optional[float]:
    return report.overall.get("sparse_categorical_accuracy")


# ------------------------------------------------------------------------------------------ tables
def step_summary_rows(reports: List[StepRun]) -> List[list]:
    header = ["step", "paper step", "accuracy (eval)", "paper accuracy", "paper accuracy is", "gate metric (eval)",
              "value", "parameters", "paper parameters", "train s", "blessed", "pushed", "latest run", "served model"]
    rows = [header]
    for r in reports:
        params = (r.training or {}).get("parameters", {}).get("total")
        paper = PAPER.get(r.step.name, {})
        gate_metric = metric_name(r.step.gate.metric) if r.step.trains else None
        rows.append([r.step.name, r.step.paper_step, _accuracy(r), paper.get("accuracy"),
                     accuracy_note(r.step.name) or None, gate_metric,
                     r.overall.get(gate_metric), params,
                     paper.get("parameters", {}).get("total"), (r.training or {}).get("train_seconds"),
                     {True: "yes", False: "NO"}.get(r.blessed, "—"), "yes" if r.pushed_to else "no",
                     r.status if r.status == "finished" else r.status.upper(),
                     r.served or ("this run" if r.pushed_to else None)])
    return rows


def dream_rows(dreams: dict) -> List[list]:
    """The dream loss at each checkpoint step per photo, then the paper's (InceptionV3, steps 0/100/200/300)."""
    steps = dreams["settings"]["checkpoints"]
    paper = PAPER["deepdream"]["losses"]
    return ([["photo"] + [f"step {step}" for step in steps]]
            + [[photo["name"]] + [s["loss"] for s in photo["snapshots"]] for photo in dreams["photos"]]
            + [["paper (InceptionV3)"] + [paper.get(step) for step in steps]])


def loss_comparison_rows(reports: List[StepRun]) -> List[list]:
    """The paper's NN1/NN2 table recomputed, then the same three measures on our classifiers."""
    computed = loss_table()
    rows = [["model", "classification error", "mean squared error", "cross-entropy", "source"]]
    for network, measures in computed.items():
        paper = LOSS_TABLE_PAPER[network]
        rows.append([network] + [f"{measures[k]:.4f} (paper {paper[k]:.2f})" for k in
                                 ("classification_error", "mean_squared_error", "cross_entropy")]
                    + ["paper rows, computed"])
    for r in reports:
        accuracy = _accuracy(r)
        if accuracy is None:
            continue
        rows.append([r.step.name, 1.0 - accuracy, r.overall.get("sparse_mean_squared_error"),
                     r.overall.get("sparse_categorical_crossentropy"), "TFMA on the eval split"])
    return rows


def tuning_rows(tuning: dict) -> List[list]:
    """One row per completed trial, best first (as the Tuner ranks them): its score and values; a value a trial
    left out is the configuration's own (the first trial's dropout of a model with its own rates)."""
    trials = tuning["trials"]
    names = sorted({key for trial in trials for key in trial} - {"trial_id", "score"})
    first = min((trial["trial_id"] for trial in trials), default=None)
    rows = [["trial", "score", *names, ""]]
    for rank, trial in enumerate(trials):
        notes = (["best"] if rank == 0 else []) + (["the configuration as given"] if trial["trial_id"] == first else [])
        rows.append([trial["trial_id"], trial["score"], *(trial.get(name, "own") for name in names), ", ".join(notes)])
    return rows


def tuning_line(tuning: dict) -> str:
    """Best vs the configuration as given, the budget and the time the Tuner took (ML Metadata)."""
    trials = tuning["trials"]
    budget = tuning.get("budget") or {}
    first = min(trials, key=lambda trial: trial["trial_id"], default=None)
    verdict = (f"Best score {trials[0]['score']:.4f} (trial {trials[0]['trial_id']}) vs {first['score']:.4f} for the "
               f"configuration as given (trial {first['trial_id']}). " if trials else "No trial completed. ")
    budget_text = (f"at most {budget.get('max_trials')} trials" + (f", none started after {budget['max_seconds']:g} s"
                   if budget.get("max_seconds") else ""))
    return (verdict + f"{len(trials)} trials completed ({budget_text}) in {tuning['seconds']:.1f} s of tuning "
            f"(Tuner: {tuning['state']}). Score: the Tuner's objective on the eval split after the trial's last "
            "epoch, accuracy for classifiers (higher is better), else the loss (lower is better). The Trainer "
            f"trained with the best values: {tuning['best']}.")


def device_rows(output_dir: str) -> Optional[List[list]]:
    data = read_json(os.path.join(output_dir, DEVICE_BENCH))
    records = data.get("results") if isinstance(data, dict) else data
    if not records:
        return None
    keys = [k for k in records[0] if not isinstance(records[0][k], (dict, list))]
    return [keys] + [[record.get(k) for k in keys] for record in records]


# ------------------------------------------------------------------------------------------ comparison
# One colour and line style per optimizer, the same in every step's figure (tab10, colour-blind-safer styles).
OPTIMIZER_STYLES = {name: (colour, style) for name, colour, style in zip(
    OPTIMIZERS, ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"),
    ("-", "--", "-.", ":", "-", "--", "-."))}
CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


@dataclass
class Comparison:
    """A step's optimizer x seed variants (dlqos.compare) as ML Metadata recorded them."""

    step: Step
    variants: List[compare.Variant]

    @property
    def metric(self) -> str:
        return metric_name(self.step.gate.metric)


def collect_comparisons(output_dir: str) -> List[Comparison]:
    """Every trained step with variants in the store's comparison pipelines (`dlqos compare`)."""
    store = metadata.open_store(OutputLayout(os.path.abspath(output_dir)).metadata_path)
    found = [Comparison(step, compare.collect_variants(store, step)) for step in STEPS.values() if step.trains]
    return [c for c in found if c.variants]


def _curve_keys(comparison: Comparison) -> List[str]:
    return [key for key in CURVE_KEYS if compare.curve_bands(comparison.variants, key)]


def comparison_figure(comparison: Comparison, plt):
    """Per epoch, each optimizer's mean over its seeds with a ±1 std band, one panel per measure; one legend
    for all panels, below them, so that it covers no curve."""
    from matplotlib.ticker import MaxNLocator

    keys = _curve_keys(comparison)
    columns = 2 if len(keys) > 1 else 1
    rows = math.ceil(len(keys) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 3.2 * rows), squeeze=False)
    for axis, key in zip(axes.flat, keys):
        for optimizer, (mean, std) in sorted(compare.curve_bands(comparison.variants, key).items()):
            colour, style = OPTIMIZER_STYLES.get(optimizer, ("#333333", "-"))
            epochs = list(range(1, len(mean) + 1))
            axis.plot(epochs, mean, style, color=colour, marker="o", markersize=3, label=optimizer)
            axis.fill_between(epochs, [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)],
                              color=colour, alpha=0.18, linewidth=0)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.set_xlabel("epoch")
        axis.set_title(f"{comparison.step.name}: {key}", fontsize=10)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(keys):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.tight_layout(rect=(0, 0.1 if rows == 1 else 0.06, 1, 1))
    figure.legend(handles, [f"{label} (mean ± 1 std over seeds)" for label in labels], loc="lower center",
                  ncol=min(len(labels), 4), fontsize=9, frameon=False)
    return figure


def comparison_plot(comparison: Comparison) -> Optional[bytes]:
    return _figure_png(lambda plt: comparison_figure(comparison, plt)) if _curve_keys(comparison) else None


def _pm(values: Optional[tuple], digits: int = 4) -> Optional[str]:
    return None if values is None else f"{values[0]:,.{digits}f} ± {values[1]:,.{digits}f}"


def comparison_metric_rows(comparison: Comparison) -> List[list]:
    """Per optimizer: seeds, learning rate, each overall TFMA metric and the training seconds, mean ± std."""
    by_optimizer: Dict[str, List[compare.Variant]] = {}
    for variant in comparison.variants:
        by_optimizer.setdefault(variant.optimizer, []).append(variant)
    names = sorted({n for v in comparison.variants for n in v.metrics if not is_count(n)})
    rows = [["optimizer", "seeds", "learning rate"] + names + ["train s"]]
    for optimizer, group in sorted(by_optimizer.items()):
        values = [[v.metrics[n] for v in group if n in v.metrics] for n in names]
        seconds = [v.training["train_seconds"] for v in group if v.training and "train_seconds" in v.training]
        rows.append([optimizer, ", ".join(str(v.seed) for v in group),
                     ", ".join(sorted({f"{v.settings.get('learning_rate'):g}" for v in group}))]
                    + [_pm(compare.mean_std(v)) if v else None for v in values]
                    + [_pm(compare.mean_std(seconds), 1) if seconds else None])
    return rows


def reach_rows(comparison: Comparison, target: compare.Target) -> List[list]:
    rows = [["optimizer", "seeds that reached it", "epochs", "seconds of training"]]
    for optimizer, found in sorted(compare.reach(comparison.variants, target).items()):
        rows.append([optimizer, f"{found['reached']} of {found['seeds']}", _pm(found["epochs"], 1),
                     _pm(found["seconds"], 1)])
    return rows


def ranking_rows(comparison: Comparison) -> List[list]:
    groups = compare.final_values(comparison.variants, comparison.metric)
    ranked = compare.rank(groups, comparison.step.gate.higher_is_better)
    return [["rank", "optimizer", f"{comparison.metric} mean", "std", "seeds"]] + [
        [place, name, mean, std, n] for place, (name, mean, std, n) in enumerate(ranked, start=1)]


def comparison_targets(comparison: Comparison) -> List[compare.Target]:
    paper = PAPER.get(comparison.step.name, {})
    note = paper.get("accuracy_is", {}).get("metric")
    return compare.targets(comparison.variants, paper.get("accuracy"), f" — its {note}" if note else "")


def add_comparison_sections(output_dir: str, add_section) -> List[Comparison]:
    """The report's optimizer comparison: per step the curves, final metrics, time to target and ranking."""
    comparisons = collect_comparisons(output_dir)
    if not comparisons:
        return comparisons
    add_section("Optimizers compared (dlqos compare)", level=2, text=COMPARISON_NOTE)
    for c in comparisons:
        groups = compare.final_values(c.variants, c.metric)
        seeds = sorted({v.seed for v in c.variants})
        add_section(f"{c.step.name}: optimizers x seeds", comparison_metric_rows(c), comparison_plot(c),
                    f"{c.step.name}-compare.png", text=f"{len(c.variants)} variants: optimizers "
                    f"{', '.join(sorted(groups))}; seeds {', '.join(map(str, seeds))}; "
                    f"{c.variants[0].settings.get('epochs')} epochs each; none pushed.")
        for target in comparison_targets(c):
            add_section(f"{c.step.name}: time to {target.label}", reach_rows(c, target))
        add_section(f"{c.step.name}: ranking by {c.metric} (TFMA, eval split)", ranking_rows(c),
                    text=compare.significance_note(groups, c.step.gate.higher_is_better, c.metric))
    return comparisons


COMPARISON_NOTE = ("Each variant is one optimizer with one seed, trained and evaluated by TFMA on the same data (the "
                   "data half ran once per dataset). Curves: mean over the seeds with a band of ±1 sample standard "
                   "deviation; final metrics: mean ± std over the seeds; time to a target: over the seeds that "
                   "reached it. The significance note is a Welch t-test between the best and the runner-up.")


# ------------------------------------------------------------------------------------------ environment
def environment_rows(reports: List[StepRun], comparisons: List[Comparison]) -> List[list]:
    """Per run shown, the seeds, library versions and machine its Trainer recorded: a step's latest run, and
    each compared step's variants (one row per distinct environment). Older records lack them: 'not recorded'."""
    from common.environment import describe_machine, describe_versions

    groups: Dict[tuple, list] = {}
    for r in reports:
        if r.step.trains:
            groups.setdefault((f"{r.step.name} (run {r.run_id})", _environment_key(r.training)), []).append(
                (r.training or {}).get("seed"))
    for c in comparisons:
        for v in c.variants:
            groups.setdefault((f"{c.step.name} compared ({len(c.variants)} variants)",
                               _environment_key(v.training)), []).append(v.seed)
    rows = [["run", "seeds", "versions", "machine"]]
    for (run, key), seeds in groups.items():
        found = json.loads(key)
        known = sorted({s for s in seeds if s is not None})
        rows.append([run, ", ".join(map(str, known)) or "not recorded",
                     describe_versions(found["versions"]) if found else "not recorded",
                     describe_machine(found["machine"]) if found else "not recorded"])
    return rows


def _environment_key(training: Optional[dict]) -> str:
    return json.dumps((training or {}).get("environment") or {}, sort_keys=True)


def add_environment_section(reports: List[StepRun], comparisons: List[Comparison], add_section) -> None:
    rows = environment_rows(reports, comparisons)
    if len(rows) > 1:
        add_section("Seeds, versions and machine of the runs shown", rows, level=2, text=ENVIRONMENT_NOTE)


ENVIRONMENT_NOTE = ("The same command with the same seeds gives the same numbers on the same machine (tested: "
                    "tests/e2e/test_compare_pipeline.py); another machine or library version may round differently.")


# ------------------------------------------------------------------------------------------ render
ACCURACY_NOTE = ("Accuracy (eval) is ours: TFMA on the eval split of the data this run used. Paper accuracy is the "
                 "figure the paper prints, which is not always the same measurement: the column beside it says "
                 "which accuracy it is and on what data.")


def render(output_dir: str) -> dict:
    """Render both report files and a model card per served model; returns {'html': path, 'markdown': path,
    'steps': [names], 'model_cards': [HTML paths]}."""
    output_dir = os.path.abspath(output_dir)
    reports, pushed = collect(output_dir)
    report_dir = os.path.join(output_dir, "report")
    document = Document(report_dir, "dlqos study report", f"Output: {output_dir}. Every number below is read from "
                        "ML Metadata and the pipeline artifacts.")
    add_section = document.add_section
    add_section("Growth across the steps", step_summary_rows(reports), growth_plot(reports), "growth.png", level=2,
                text=ACCURACY_NOTE)
    cards = add_model_cards(pushed, report_dir, add_section)
    add_section("Loss functions compared (paper's NN1/NN2 rows, then our classifiers)",
                loss_comparison_rows(reports), level=2)
    for r in reports:
        _add_step_sections(r, add_section)
    add_drift_sections(output_dir, add_section)
    add_environment_section(reports, add_comparison_sections(output_dir, add_section), add_section)
    devices = device_rows(output_dir)
    add_section("Device comparison", devices, level=2, text="" if devices else
                f"No device benchmark in {os.path.join(output_dir, DEVICE_BENCH)}.")
    html_path, md_path = document.write()
    return {"html": html_path, "markdown": md_path, "steps": [r.step.name for r in reports], "model_cards": cards}


DRIFT_NOTE = ("Each run's data against the previous span that passed (TFDV: L-infinity distance of a categorical "
              "feature's value frequencies, Jensen-Shannon divergence of a numeric feature's histogram), measured again "
              "from the statistics, schema and thresholds its ExampleValidator read; a refused run trained nothing.")


def add_drift_sections(output_dir: str, add_section) -> None:
    """Drift per span for each step whose runs read span folders."""
    store = metadata.open_store(OutputLayout(output_dir).metadata_path)
    for step in STEPS.values():
        runs = [run for run in metadata.pipeline_runs(store, step.pipeline_name) if _spans_read(run)]
        if runs:
            add_section(f"{step.name}: data drift per span", drift_rows(runs), text=DRIFT_NOTE)


def _spans_read(run: metadata.PipelineRun) -> Optional[str]:
    """The spans the run's ExampleGen read ("1,2"), None where it read no span folders."""
    from components.examplegen import SPANS_PROPERTY

    example_gen = run.nodes.get("ExampleGen")
    examples = example_gen.output("examples") if example_gen else None
    return metadata.custom_property(examples, SPANS_PROPERTY) if examples else None


def drift_rows(runs: List[metadata.PipelineRun]) -> List[list]:
    """One row per run, split and feature: the spans read, the previous span, the distance and the verdict."""
    from components.drift import THRESHOLDS_KEY, drifted, previous_span, validate
    from tfx.types import standard_artifacts

    def statistics(proto):
        artifact = standard_artifacts.ExampleStatistics()
        artifact.set_mlmd_artifact(proto)
        return artifact

    rows = [["run", "spans read", "previous span", "split", "feature", "measure", "distance", "threshold", "verdict"]]
    for run in runs:
        validator = run.nodes.get("ExampleValidator")
        current = statistics(validator.inputs["statistics"][0])
        previous = previous_span(current, [statistics(p) for p in validator.inputs.get("previous_statistics", [])])
        record, _ = validate(current, previous, validator.inputs["schema"][0].uri,
                             json.loads(validator.properties[THRESHOLDS_KEY]))
        verdict = "refused: training stopped" if drifted(record) else "passed"
        if previous is None:
            rows.append([run.run_id, _spans_read(run), "none (first span)", "", "", "", "", "", "passed"])
        rows += [[run.run_id, _spans_read(run), previous.span, split, feature, measured["measure"],
                  measured["distance"], measured["threshold"], verdict]
                 for split, features in record["splits"].items() for feature, measured in features.items()]
    return rows


def add_model_cards(pushed: List[StepRun], report_dir: str, add_section) -> List[str]:
    """Write a model card per served model into report/model_cards/ and list them, linked; returns the cards'
    HTML paths."""
    if not pushed:
        add_section("Model cards", level=2, text="No model is served: nothing was pushed, so there is no model card.")
        return []
    rows = [["step", "run", "pushed version", "pushed to", "accuracy (eval)", "card", "card (Markdown)"]]
    cards = []
    for run in pushed:
        html_path, md_path = model_card.write(run, os.path.join(report_dir, model_card.CARDS_DIR))
        cards.append(html_path)
        rows.append([run.step.name, run.run_id, model_card.pushed_version(run), run.pushed_to, _accuracy(run),
                     Link("HTML", os.path.relpath(html_path, report_dir)),
                     Link("Markdown", os.path.relpath(md_path, report_dir))])
    add_section("Model cards", rows, level=2, text=model_card.INDEX_NOTE)
    return cards


def _run_line(r) -> str:
    """The step's latest run: its state, blessing, what was pushed, the baseline and the model served now."""
    verdict = {True: "BLESSED", False: "NOT blessed", None: "not evaluated"}[r.blessed]
    return ((f"Latest run {r.run_id}: {r.status.upper()}; " if r.status != "finished" else f"Run {r.run_id}: ")
            + f"{verdict}; " + (f"pushed to {r.pushed_to}" if r.pushed_to else "nothing pushed")
            + f"; baseline: {r.baseline_model or 'none (first blessed model)'}"
            + (f". Served now: {r.served}." if r.served else "."))


def _add_step_sections(r, add_section) -> None:
    """One step's sections: its run, parameters, history, TFMA slices and gate, then what the Trainer or the
    DeepDream component recorded, figures and component times."""
    add_section(f"Step {r.step.paper_step}: {r.step.name} — {r.step.title}", text=_run_line(r), level=2)
    params = (r.training or {}).get("parameters")
    if params:
        paper_params = PAPER.get(r.step.name, {}).get("parameters", {})
        add_section(f"{r.step.name}: parameters", [["", "total", "trainable", "non-trainable"],
                    ["ours", params["total"], params["trainable"], params["non_trainable"]],
                    ["paper", paper_params.get("total"), paper_params.get("trainable"),
                     paper_params.get("non_trainable")]])
    history = history_plot(r)
    if history:
        epochs = r.training.get("epoch_seconds", [])
        add_section(f"{r.step.name}: training history", png=history, image_name=f"{r.step.name}-history.png",
                    text=f"{len(epochs)} epochs, {sum(epochs):.1f} s of training, "
                         f"{r.training.get('examples_per_second', 0):,.0f} examples/s, strategy "
                         f"{r.training.get('strategy')} ({r.training.get('replicas')} replica(s)).")
    if r.tuning is not None:
        add_section(f"{r.step.name}: hyper-parameter tuning (TFX Tuner, KerasTuner random search)",
                    tuning_rows(r.tuning), text=tuning_line(r.tuning))
    if r.slices:
        add_section(f"{r.step.name}: TFMA evaluation by slice", slice_rows(r))
    if r.validation is not None:
        add_section(f"{r.step.name}: gate", gate_rows(r), text=gate_line(r))
    _add_recorded_sections(r, add_section)
    add_section(f"{r.step.name}: pipeline components (wall seconds from ML Metadata)",
                [["component", "seconds"]] + [[k, v] for k, v in sorted(r.component_seconds.items())])


def _add_recorded_sections(r, add_section) -> None:
    """What the step's own record holds beyond the common fields, as the step declares it (Step.reports): Trainer
    measures, a text sample, dream losses; then the figures saved beside the model."""
    record = r.training or {}
    shown = {kind: [key for key in record if r.step.reports.get(key) == kind]
             for kind in (MEASURE, TEXT_SAMPLE, DREAM_LOSSES)}
    if shown[MEASURE]:
        add_section(f"{r.step.name}: evaluation recorded by the Trainer",
                    [["measure", "value"]] + [[f"{k}.{kk}" if isinstance(v, dict) else k, cell(kk or k, vv)]
                                              for k, v in ((k, record[k]) for k in shown[MEASURE])
                                              for kk, vv in (v.items() if isinstance(v, dict) else [("", v)])])
    for sample in (record[key] for key in shown[TEXT_SAMPLE]):
        add_section(f"{r.step.name}: generated text", text=f"prompt {sample['prompt']!r}, temperature "
                    f"{sample['temperature']}, seed {sample['seed']}: {sample['text']}")
    if shown[DREAM_LOSSES]:
        add_section(f"{r.step.name}: dream loss per step", dream_rows(record),
                    text=f"Backbone {record['backbone']} ({record['weights']}), layers "
                         f"{', '.join(record['layers'])}; the paper used InceptionV3 (mixed3, mixed5).")
    for path in r.images:
        with open(path, "rb") as f:
            add_section(f"{r.step.name}: {os.path.basename(path)[:-4].replace('_', ' ')}", png=f.read(),
                        image_name=f"{r.step.name}-{os.path.basename(path)}")
