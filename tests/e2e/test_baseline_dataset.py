"""Another dataset in an output directory whose blessed model (the gate's baseline) was trained on a different one
is refused before any work: one line, exit 2, the store untouched (not a failure in the Evaluator after training
with a dump of serialized examples)."""
import os

import pytest

from dlqos import cli, metadata
from tests.helpers import write_fashion_like_dir

pytestmark = pytest.mark.e2e


def test_another_dataset_than_the_blessed_models_is_refused_up_front(tmp_path, capsys):
    data = write_fashion_like_dir(str(tmp_path / "data"), n_train=600, n_eval=200)
    out = str(tmp_path / "out")
    common = ["run", "dense", "--data-dir", data, "--output-dir", out, "--batch-size", "32"]
    assert cli.main(common + ["--epochs", "2"]) == cli.EXIT_OK
    store_path = os.path.join(out, "metadata.sqlite")
    runs = metadata.pipeline_runs(metadata.open_store(store_path), "dlqos-dense")
    assert len(runs) == 1 and runs[0].blessed and metadata.example_gen_dataset(runs[0]) == "fashion_mnist"
    capsys.readouterr()
    for dataset in ("mnist", "cifar10"):  # same shapes and other classes; other shapes
        assert cli.main(common + ["--dataset", dataset]) == cli.EXIT_USAGE
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1, error
        assert f"holds a blessed dlqos-dense model trained on fashion_mnist (run {runs[0].run_id})" in error[0]
        assert f"this run's dataset is {dataset}: use another --output-dir" in error[0]
    assert len(metadata.pipeline_runs(metadata.open_store(store_path), "dlqos-dense")) == 1


def test_too_few_eval_examples_are_no_verdict(tmp_path, capsys):
    """20 eval examples, under the dense gate's 50: not blessed, nothing pushed, example_count named as the failure
    (a model evaluated on 2 examples was once blessed)."""
    import tensorflow_model_analysis as tfma

    data = write_fashion_like_dir(str(tmp_path / "data"), n_train=600, n_eval=200)
    out = str(tmp_path / "out")
    assert cli.main(["run", "dense", "--data-dir", data, "--output-dir", out, "--batch-size", "32", "--epochs", "2",
                     "--max-eval", "20"]) == cli.EXIT_NOT_BLESSED
    run = metadata.latest_run(metadata.open_store(os.path.join(out, "metadata.sqlite")), "dlqos-dense")
    assert run.blessed is False and run.pushed_to is None
    validation = tfma.load_validation_result(run.nodes["Evaluator"].output("evaluation").uri)
    failed = {f.metric_key.name for s in validation.metric_validations_per_slice for f in s.failures}
    assert failed == {"example_count"}, failed
    assert "  failed:    Overall: example_count = 20, needs >= 50\n" in capsys.readouterr().out
