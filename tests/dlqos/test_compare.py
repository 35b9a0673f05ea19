"""The optimizer comparison without running a pipeline: its statistics (mean/std bands, Welch's t-test, time to
a target, ranking), the variant pipeline's shape, and the report section on hand-made variants."""
import itertools
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from dlqos import compare, report  # noqa: E402
from common.config import GateConfig, OptimizerConfig, PipelineConfig, TrainingConfig  # noqa: E402
from models.steps import STEPS  # noqa: E402


# ------------------------------------------------------------------------------------------ statistics
def test_mean_std_is_the_sample_std_and_one_value_has_none():
    assert compare.mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))  # ddof=1: sqrt(2/2)
    assert compare.mean_std([0.7]) == (0.7, 0.0)


def test_band_is_mean_and_std_per_epoch_over_the_common_epochs():
    mean, std = compare.band([[1.0, 2.0, 9.0], [3.0, 4.0]])
    assert mean == pytest.approx([2.0, 3.0]) and std == pytest.approx([math.sqrt(2), math.sqrt(2)])
    assert compare.band([[0.5, 0.25]]) == ([0.5, 0.25], [0.0, 0.0])


def test_time_to_target_counts_epochs_and_cumulative_seconds():
    accuracy = [0.5, 0.8, 0.9, 0.95]
    seconds = [10.0, 5.0, 5.0, 5.0]
    assert compare.time_to_target(accuracy, seconds, 0.88) == (3, 20.0)
    assert compare.time_to_target(accuracy, seconds, 0.5) == (1, 10.0)  # reached at the first epoch
    assert compare.time_to_target(accuracy, seconds, 0.99) is None
    assert compare.time_to_target([2.0, 1.2, 0.9], [1.0, 1.0, 1.0], 1.0, higher_is_better=False) == (3, 3.0)


def test_welch_matches_scipy_and_refuses_what_it_cannot_test():
    first = [0.91, 0.93, 0.92]
    second = [0.85, 0.90, 0.80]
    expected = stats.ttest_ind(first, second, equal_var=False)
    assert compare.welch(first, second) == pytest.approx({"t": expected.statistic, "p": expected.pvalue})
    # Welch's df differs from Student's when the variances differ: check it is not the pooled test
    assert compare.welch(first, second)["p"] != pytest.approx(stats.ttest_ind(first, second).pvalue)
    assert compare.welch([0.9], [0.8, 0.7]) is None
    assert compare.welch([0.9, 0.9], [0.8, 0.8]) is None  # no spread on either side


def test_rank_orders_by_mean_in_the_metric_direction():
    groups = {"sgd": [0.8, 0.82], "adam": [0.9, 0.88], "swats": [0.85]}
    assert [row[0] for row in compare.rank(groups, higher_is_better=True)] == ["adam", "swats", "sgd"]
    assert [row[0] for row in compare.rank(groups, higher_is_better=False)] == ["sgd", "swats", "adam"]
    assert compare.rank(groups, True)[0] == ("adam", pytest.approx(0.89), pytest.approx(np.std([0.9, 0.88], ddof=1)), 2)


def test_significance_note_says_whether_the_lead_is_more_than_noise():
    clear = compare.significance_note({"adam": [0.90, 0.91, 0.92], "sgd": [0.70, 0.71, 0.72]}, True, "accuracy")
    assert clear.startswith("adam ranks first on accuracy, ahead of sgd") and "significant at the 0.05 level." in clear
    noisy = compare.significance_note({"adam": [0.90, 0.70, 0.85], "sgd": [0.80, 0.75, 0.86]}, True, "accuracy")
    assert "not significant" in noisy and "cannot be told apart" in noisy
    assert "no Welch t-test" in compare.significance_note({"adam": [0.9], "sgd": [0.8]}, True, "accuracy")
    assert "no ranking" in compare.significance_note({"adam": [0.9, 0.8]}, True, "accuracy")


# ------------------------------------------------------------------------------------------ variants
def variant(optimizer: str, seed: int, accuracy: list, seconds: float = 2.0, final: float = None,
            learning_rate: float = 1e-3) -> compare.Variant:
    """A variant in the shapes ML Metadata (custom_config, TFMA overall metrics) and training.json give."""
    history = {"accuracy": accuracy, "val_accuracy": [a - 0.01 for a in accuracy],
               "loss": [1 - a for a in accuracy], "val_loss": [1.1 - a for a in accuracy]}
    return compare.Variant(
        name=compare.variant_name(optimizer, seed), optimizer=optimizer, seed=seed, run_id="r",
        settings={"seed": seed, "learning_rate": learning_rate, "epochs": len(accuracy),
                  "optimizer": {"name": optimizer}},
        training={"history": history, "epoch_seconds": [seconds] * len(accuracy),
                  "train_seconds": seconds * len(accuracy)},
        metrics={"sparse_categorical_accuracy": accuracy[-1] if final is None else final, "example_count": 200.0})


@pytest.fixture
def four_optimizers():
    variants = [variant(name, seed, [base + 0.05 * e + 0.01 * seed for e in range(5)])
                for (name, base), seed in itertools.product(
                    [("adam", 0.6), ("sgd", 0.4), ("momentum", 0.5), ("swats", 0.55)], (0, 1, 2))]
    yield report.Comparison(STEPS["dense"], variants)
    plt.close("all")


def test_curve_bands_group_seeds_by_optimizer(four_optimizers):
    bands = compare.curve_bands(four_optimizers.variants, "accuracy")
    assert sorted(bands) == ["adam", "momentum", "sgd", "swats"]
    mean, std = bands["adam"]
    assert mean == pytest.approx([0.61 + 0.05 * e for e in range(5)]) and std == pytest.approx([0.01] * 5)


def test_targets_are_the_papers_accuracy_and_the_level_every_optimizer_reaches(four_optimizers):
    found = compare.targets(four_optimizers.variants, 0.78)
    assert [(t.key, t.value) for t in found] == [("val_accuracy", 0.78), ("val_accuracy", pytest.approx(0.60))]
    reached = compare.reach(four_optimizers.variants, found[0])
    # adam's val_accuracy: 0.59 + 0.05 e + 0.01 seed >= 0.78 first at e = 4, the 5th epoch (2 s each), every seed
    assert reached["adam"] == {"reached": 3, "seeds": 3, "epochs": (5.0, 0.0), "seconds": (10.0, 0.0)}
    assert reached["sgd"] == {"reached": 0, "seeds": 3, "epochs": None, "seconds": None}
    common = compare.reach(four_optimizers.variants, found[1])
    assert common["adam"]["reached"] == 3 and common["sgd"]["reached"] < 3  # sgd's seed 0 ends below its mean


def test_collect_keeps_only_variants_comparable_with_the_newest():
    settings = [{"seed": 1, "learning_rate": 0.01, "epochs": 2, "optimizer": {"name": "sgd", "schedule": "constant"}},
                {"seed": 2, "learning_rate": 0.001, "epochs": 2, "optimizer": {"name": "adam", "schedule": "constant"}},
                {"seed": 1, "learning_rate": 0.001, "epochs": 3, "optimizer": {"name": "adam", "schedule": "constant"}}]
    keys = [compare._comparable(s) for s in settings]
    assert keys[0] == keys[1] != keys[2]  # optimizer, its rate and the seed vary; the epochs may not


# ------------------------------------------------------------------------------------------ report section
def test_metric_rows_print_mean_and_std_over_seeds(four_optimizers):
    rows = report.comparison_metric_rows(four_optimizers)
    assert rows[0] == ["optimizer", "seeds", "learning rate", "sparse_categorical_accuracy", "train s"]
    adam = next(row for row in rows if row[0] == "adam")
    assert adam[1:3] == ["0, 1, 2", "0.001"]
    assert adam[3] == "0.8100 ± 0.0100" and adam[4] == "10.0 ± 0.0"  # example_count is not a measure to average


def test_ranking_rows_and_note_come_from_the_variants(four_optimizers):
    rows = report.ranking_rows(four_optimizers)
    assert [row[1] for row in rows[1:]] == ["adam", "swats", "momentum", "sgd"]
    assert rows[1][2] == pytest.approx(0.81) and rows[1][4] == 3
    groups = compare.final_values(four_optimizers.variants, "sparse_categorical_accuracy")
    assert groups["swats"] == pytest.approx([0.75, 0.76, 0.77])


def test_comparison_figure_is_readable(four_optimizers):
    """Distinct colours per optimizer, a band per curve, one legend that covers no panel, titles and tick
    labels that do not overlap."""
    figure = report.comparison_figure(four_optimizers, plt)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    panels = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in panels] == [f"dense: {k}" for k in report.CURVE_KEYS]
    for axis in panels:
        colours = [line.get_color() for line in axis.get_lines()]
        assert len(colours) == 4 and len(set(colours)) == 4
        assert len(axis.collections) == 4  # the ±1 std bands
    legend = figure.legends[0]
    assert [t.get_text().split(" ")[0] for t in legend.get_texts()] == ["adam", "momentum", "sgd", "swats"]
    legend_box = legend.get_window_extent(renderer)
    boxes = [axis.get_tightbbox(renderer) for axis in panels]
    assert not any(legend_box.overlaps(box) for box in boxes)
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second), (first, second)


# ------------------------------------------------------------------------------------------ pipeline
def test_variant_pipeline_runs_the_data_half_once_and_never_pushes():
    from pipeline.pipeline import create_variant_pipeline

    training = TrainingConfig(epochs=2, train_steps=40, eval_steps=5, strategy="cpu")
    config = PipelineConfig(
        step="dense", pipeline_name="dlqos-dense-compare", pipeline_root="/root/p", metadata_path="/root/m.sqlite",
        examples_dir="/data/ex", serving_model_dir="/serving/dense",
        preprocessing_fn="models.steps.dense.preprocessing_fn", run_fn="models.steps.dense.run_fn",
        training=training, gate=GateConfig(min_value=0.8, max_regression=0.02))
    variants = [(compare.variant_name(o, s), TrainingConfig(epochs=2, train_steps=40, eval_steps=5, seed=s,
                                                            optimizer=OptimizerConfig(name=o)))
                for o, s in itertools.product(("adam", "sgd"), (1, 2))]
    components = {c.id: c for c in create_variant_pipeline(config, variants).components}
    data = ["ImportExampleGen", "StatisticsGen", "SchemaGen", "previous_span_statistics_resolver", "ExampleValidator",
            "Transform"]
    names = [name for name, _ in variants]
    assert sorted(components) == sorted(data + [f"Trainer_{n}" for n in names] + [f"Evaluator_{n}" for n in names])
    examples = components["ImportExampleGen"].outputs["examples"]
    for name in names:
        trainer = components[f"Trainer_{name}"]
        evaluator = components[f"Evaluator_{name}"]
        assert trainer.inputs["examples"] is examples and evaluator.inputs["examples"] is examples
        assert trainer.inputs["transform_graph"] is components["Transform"].outputs["transform_graph"]
        assert evaluator.inputs["model"] is trainer.outputs["model"] and "baseline_model" not in evaluator.inputs
    custom = components["Trainer_sgd_seed2"].exec_properties["custom_config"]
    assert '"seed": 2' in custom and '"name": "sgd"' in custom
