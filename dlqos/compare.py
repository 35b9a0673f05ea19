"""Optimizers x seeds compared per step (issue 20 items 2-3): run the variants, read them back from ML Metadata,
and the statistics the report's comparison section prints.

Every variant of a step trains and is evaluated by TFMA on the same data, which is analysed once: the data half
(ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform) runs once and every variant's Trainer
and Evaluator read its artifacts ("shared", one pipeline run per step), or each variant is its own run and TFX's
cache hands the data half's artifacts over ("cache"). docs/results/compare.md measures both. A variant pipeline
has no Pusher: nothing a comparison trains reaches serving.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from common.config import OutputLayout, TrainingConfig
from dlqos import metadata
from dlqos.evaluation import OVERALL, slice_metrics
from dlqos.runs import build_config, prepare_examples
from models.steps import get_step

log = logging.getLogger("dlqos")
DEFAULT_OPTIMIZERS = ("adam", "sgd", "momentum", "swats")  # the paper's families: SGD, momentum, Adam, Adam -> SGD
FIRST_SEED = TrainingConfig.seed  # seeds N are FIRST_SEED .. FIRST_SEED+N-1: the first is the plain run's seed
DATA_REUSE = ("shared", "cache")
TRAINER_PREFIX = "Trainer_"
EVALUATOR_PREFIX = "Evaluator_"
ALPHA = 0.05  # the significance level of the ranking's note


def compare_pipeline_name(step) -> str:
    """Variants live in their own pipeline (context in ML Metadata): the step's own runs, its latest blessed model
    and its report section are untouched by a comparison."""
    return f"{step.pipeline_name}-compare"


def variant_name(optimizer: str, seed: int) -> str:
    """The variant's node-id suffix (Trainer_<name>): readable in ML Metadata and unique within a run."""
    return f"{optimizer}_seed{seed}"


def metric_name(class_name: str) -> str:
    """TFMA's metric name for a metric class ('models.metrics.MeanReportedLoss' -> 'mean_reported_loss')."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name.rpartition(".")[2]).lower()


def seed_list(count: int, first: int = FIRST_SEED) -> List[int]:
    """Consecutive seeds from `first`: the same command names the same seeds, so its numbers can be repeated."""
    return list(range(first, first + count))


# ------------------------------------------------------------------------------------------ running
def variant_configs(step, options, layout, examples_dir: str, data_metadata: dict, optimizers: Sequence[str],
                    seeds: Sequence[int]) -> Tuple[object, List[Tuple[str, TrainingConfig]]]:
    """The comparison pipeline's config and one (name, TrainingConfig) per optimizer x seed: each optimizer's
    training is what `dlqos run --optimizer NAME` would use (its default learning rate unless one is given)."""
    name = compare_pipeline_name(step)
    base = build_config(step, options, layout, examples_dir, data_metadata).replace(
        pipeline_name=name, pipeline_root=layout.pipeline_root(name))
    variants = []
    for optimizer in optimizers:
        training = build_config(step, dataclasses.replace(options, optimizer=optimizer), layout, examples_dir,
                                data_metadata).training
        variants += [(variant_name(optimizer, seed), dataclasses.replace(training, seed=seed)) for seed in seeds]
    return base, variants


def run_comparison(step_name: str, options, optimizers: Sequence[str], seeds: Sequence[int],
                   data_reuse: str = "shared") -> List["Variant"]:
    """Train and evaluate every variant of one step; returns what ML Metadata recorded for them.

    shared: one pipeline run, the data half once, then the variants' Trainers and Evaluators.
    cache: one run per variant with TFX's cache on; after the first, the data half is a cache hit.
    """
    from pipeline.local_runner import run_pipeline
    from pipeline.pipeline import create_variant_pipeline

    step = get_step(step_name)
    layout = OutputLayout(os.path.abspath(options.output_dir))
    examples_dir, data_metadata = prepare_examples(step, options, layout)
    base, variants = variant_configs(step, options, layout, examples_dir, data_metadata, optimizers, seeds)
    batches = [variants] if data_reuse == "shared" else [[variant] for variant in variants]
    for batch in batches:
        log.info("%s: comparing %s (%s data)", step.name, ", ".join(name for name, _ in batch), data_reuse)
        config = base.replace(enable_cache=base.enable_cache or data_reuse == "cache")
        run_pipeline(create_variant_pipeline(config, batch), config)
    return collect_variants(metadata.open_store(layout.metadata_path), step)


# ------------------------------------------------------------------------------------------ reading back
@dataclass
class Variant:
    """One optimizer x seed variant as ML Metadata recorded it: the Trainer's settings (custom_config), its
    training.json and the Evaluator's overall TFMA metrics."""

    name: str
    optimizer: str
    seed: int
    run_id: str
    settings: dict  # the Trainer's custom_config
    training: Optional[dict] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    blessed: Optional[bool] = None
    model_dir: Optional[str] = None
    created_ms: int = 0  # when its Trainer execution was registered


def _comparable(settings: Mapping) -> str:
    """What must agree for variants to be compared: everything but the optimizer's name, its learning rate and
    the seed (data, epochs, batch size, model, schedule, decay...)."""
    rest = {k: v for k, v in settings.items() if k not in ("seed", "learning_rate", "optimizer")}
    optimizer = {k: v for k, v in (settings.get("optimizer") or {}).items() if k != "name"}
    return json.dumps({**rest, "optimizer": optimizer}, sort_keys=True)


def collect_variants(store, step) -> List[Variant]:
    """The latest completed execution of every variant of the step's comparison pipeline, across its runs (one
    run in shared mode, one per variant with the cache), kept only where it is comparable with the newest one."""
    latest: Dict[str, Variant] = {}
    for run in metadata.pipeline_runs(store, compare_pipeline_name(step)):
        for node_id, trainer in run.nodes.items():
            if node_id.startswith(TRAINER_PREFIX) and trainer.state in ("COMPLETE", "CACHED"):
                name = node_id[len(TRAINER_PREFIX):]
                latest[name] = _variant(name, run, trainer, run.nodes.get(EVALUATOR_PREFIX + name))
    if not latest:
        return []
    newest = max(latest.values(), key=lambda v: v.created_ms)
    keep = [v for v in latest.values() if _comparable(v.settings) == _comparable(newest.settings)]
    return sorted(keep, key=lambda v: (v.optimizer, v.seed))


def _variant(name: str, run, trainer, evaluator) -> Variant:
    """A variant from its executions: settings from the Trainer's custom_config (what tells variants apart),
    curves from its training.json, metrics from the Evaluator's TFMA output."""
    from models.training import TRAINING_RECORD

    settings = json.loads(trainer.properties.get("custom_config") or "{}")
    model = trainer.output("model")
    evaluation = evaluator.output("evaluation") if evaluator else None
    record_path = os.path.join(model.uri, TRAINING_RECORD) if model else None
    training = None
    if record_path and os.path.exists(record_path):
        with open(record_path) as f:
            training = json.load(f)
    blessing = evaluator.output("blessing") if evaluator else None
    return Variant(
        name=name, optimizer=(settings.get("optimizer") or {}).get("name", "adam"), seed=settings.get("seed"),
        run_id=run.run_id, settings=settings, training=training, created_ms=trainer.created_ms,
        metrics=slice_metrics(evaluation.uri).get(OVERALL, {}) if evaluation else {},
        blessed=None if blessing is None else bool(metadata.custom_property(blessing, "blessed")),
        model_dir=model.uri if model else None)


def summary(step, variants: Sequence[Variant]) -> str:
    """One line per step for the terminal: the gate metric per optimizer, mean ± std over its seeds, best first."""
    metric = metric_name(step.gate.metric)
    ranked = rank(final_values(variants, metric), step.gate.higher_is_better)
    return f"{step.name}: {len(variants)} variants, {metric} (TFMA, eval): " + "; ".join(
        f"{name} {mean:.4f} ± {std:.4f} (n={n})" for name, mean, std, n in ranked)


def final_values(variants: Sequence[Variant], metric: str) -> Dict[str, List[float]]:
    """{optimizer: [the metric of each seed's model]} for the variants TFMA evaluated."""
    groups: Dict[str, List[float]] = {}
    for variant in variants:
        if metric in variant.metrics:
            groups.setdefault(variant.optimizer, []).append(variant.metrics[metric])
    return groups


# ------------------------------------------------------------------------------------------ statistics
def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (ddof=1: a handful of seeds is a sample of the seeds one could draw);
    one value has no spread: std 0."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def band(curves: Sequence[Sequence[float]]) -> Tuple[List[float], List[float]]:
    """Per-epoch mean and ±1 std over seeds, on the epochs every seed has (a shorter curve cuts the band)."""
    length = min(len(curve) for curve in curves)
    stacked = np.asarray([list(curve[:length]) for curve in curves], dtype=float)
    std = stacked.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(length)
    return stacked.mean(axis=0).tolist(), std.tolist()


def time_to_target(values: Sequence[float], epoch_seconds: Sequence[float], target: float,
                   higher_is_better: bool = True) -> Optional[Tuple[int, float]]:
    """(epochs, seconds of training) until the per-epoch value first reaches the target; None if it never does."""
    elapsed = 0.0
    for epoch, (value, seconds) in enumerate(zip(values, epoch_seconds), start=1):
        elapsed += seconds
        if (value >= target) if higher_is_better else (value <= target):
            return epoch, elapsed
    return None


def welch(first: Sequence[float], second: Sequence[float]) -> Optional[dict]:
    """Welch's t-test (unequal variances): {'t', 'p'}; None with fewer than two values on a side (no variance to
    test) or when both sides are constant (no spread: t undefined)."""
    from scipy import stats

    if min(len(first), len(second)) < 2 or (len(set(first)) == 1 and len(set(second)) == 1):
        return None
    with warnings.catch_warnings():  # one constant side (every seed at 1.0) is testable; scipy warns about it
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(first, second, equal_var=False)
    if not math.isfinite(result.pvalue):
        return None
    return {"t": float(result.statistic), "p": float(result.pvalue)}


def rank(groups: Mapping[str, Sequence[float]], higher_is_better: bool) -> List[Tuple[str, float, float, int]]:
    """(name, mean, std, n) best first by the mean."""
    rows = [(name, *mean_std(values), len(values)) for name, values in groups.items() if len(values)]
    return sorted(rows, key=lambda row: -row[1] if higher_is_better else row[1])


def significance_note(groups: Mapping[str, Sequence[float]], higher_is_better: bool, metric: str,
                      alpha: float = ALPHA) -> str:
    """One sentence: is the best optimizer's lead over the runner-up more than seed noise (Welch, alpha)?"""
    ranked = rank(groups, higher_is_better)
    if len(ranked) < 2:
        return f"Only {len(ranked)} optimizer compared: no ranking to test."
    best = ranked[0][0]
    second = ranked[1][0]
    test = welch(groups[best], groups[second])
    if test is None:
        return (f"{best} ranks first on {metric}, ahead of {second}, but with fewer than 2 seeds each (or no "
                "spread) there is no Welch t-test: the order may be noise.")
    verdict = "significant" if test["p"] < alpha else "not significant"
    return (f"{best} ranks first on {metric}, ahead of {second}: Welch t = {test['t']:.2f}, p = {test['p']:.3g} "
            f"(n = {len(groups[best])}, {len(groups[second])}): {verdict} at the {alpha:g} level"
            + ("." if test["p"] < alpha else "; with these seeds the two cannot be told apart."))


def curve_bands(variants: Sequence[Variant], key: str) -> Dict[str, Tuple[List[float], List[float]]]:
    """{optimizer: (mean, std) per epoch of the training history's `key`} over the optimizer's seeds."""
    return {optimizer: band(group) for optimizer, group in _histories_by_optimizer(variants, key).items()}


@dataclass(frozen=True)
class Target:
    """A level of a history measure (e.g. val_accuracy 0.88, the paper's) whose time to reach is compared."""

    label: str
    key: str
    value: float
    higher_is_better: bool = True


def targets(variants: Sequence[Variant], paper_accuracy: Optional[float], paper_label: str = "") -> List[Target]:
    """The paper's accuracy (where the step has one and the history has val_accuracy), and the level every
    optimizer ends at on average (the worst optimizer's mean final value): which optimizer got there first."""
    histories = [(v.training or {}).get("history") or {} for v in variants]
    key = "val_accuracy" if all("val_accuracy" in h for h in histories) else "val_loss"
    if not all(h.get(key) for h in histories):
        return []
    higher = key.endswith("accuracy")
    found = [] if paper_accuracy is None or not higher else [
        Target(f"{key} >= {paper_accuracy:.4f}, the paper's accuracy{paper_label}", key, paper_accuracy)]
    finals = {optimizer: mean_std([values[-1] for values in group])[0]
              for optimizer, group in _histories_by_optimizer(variants, key).items()}
    common = min(finals.values()) if higher else max(finals.values())
    return found + [Target(f"{key} {'>=' if higher else '<='} {common:.4f}, the worst optimizer's mean final value",
                           key, common, higher)]


def _histories_by_optimizer(variants: Sequence[Variant], key: str) -> Dict[str, List[List[float]]]:
    """{optimizer: [each seed's per-epoch `key`]}, leaving out variants whose record lacks it."""
    groups: Dict[str, List[List[float]]] = {}
    for variant in variants:
        values = ((variant.training or {}).get("history") or {}).get(key)
        if values:
            groups.setdefault(variant.optimizer, []).append(values)
    return groups


def reach(variants: Sequence[Variant], target: Target) -> Dict[str, dict]:
    """{optimizer: {'reached': k, 'seeds': n, 'epochs': (mean, std), 'seconds': (mean, std)}} over the seeds that
    reached the target (epochs and seconds None when none did)."""
    times: Dict[str, List[Optional[Tuple[int, float]]]] = {}
    for variant in variants:
        training = variant.training or {}
        times.setdefault(variant.optimizer, []).append(time_to_target(
            training["history"][target.key], training.get("epoch_seconds", []), target.value, target.higher_is_better))
    result = {}
    for optimizer, found in times.items():
        reached = [t for t in found if t is not None]
        result[optimizer] = {"reached": len(reached), "seeds": len(found),
                             "epochs": mean_std([t[0] for t in reached]) if reached else None,
                             "seconds": mean_std([t[1] for t in reached]) if reached else None}
    return result

