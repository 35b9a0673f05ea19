"""DatasetExampleGen in a real LocalDagRunner pipeline: TFX's driver fingerprints the raw files, so a run with
unchanged files may be served from TFX's cache, and replaced files in the same --data-dir are ingested again,
never silently reused."""
import os

import pytest

from tests.helpers import write_fashion_like_dir

pytestmark = pytest.mark.e2e


def run_example_gen(data_dir: str, out: str):
    """One run of the dense step's ExampleGen alone, TFX's cache on: (examples artifact uri, its dataset.json)."""
    from tfx import v1 as tfx

    from components.examplegen import read_facts
    from dlqos import metadata, runs
    from common.config import OutputLayout
    from models.steps import get_step
    from pipeline.pipeline import _example_gen, _pipeline

    step = get_step("dense")
    layout = OutputLayout(out)
    options = runs.RunOptions(output_dir=out, data_dir=data_dir, max_train=None, max_eval=None)
    examples_dir, data = runs.prepare_examples(step, options, layout)
    config = runs.build_config(step, options, layout, examples_dir, data).replace(enable_cache=True)
    tfx.orchestration.LocalDagRunner().run(_pipeline(config, [_example_gen(config)]))
    run = metadata.latest_run(metadata.open_store(layout.metadata_path), step.pipeline_name)
    uri = run.nodes["ExampleGen"].output("examples").uri
    return uri, read_facts(uri)


def test_replaced_raw_files_are_ingested_again(tmp_path):
    data = str(tmp_path / "data")
    out = str(tmp_path / "out")
    write_fashion_like_dir(data, n_train=30, n_eval=12)
    first_uri, first = run_example_gen(data, out)
    assert first["counts"] == {"train": 30, "eval": 12} and first["source"] == f"directory {data}"
    again_uri, _ = run_example_gen(data, out)
    assert again_uri == first_uri  # same files, same fingerprint: TFX's cache serves the earlier examples
    write_fashion_like_dir(data, n_train=40, n_eval=12)  # the same file names, new contents
    replaced_uri, replaced = run_example_gen(data, out)
    assert replaced_uri != first_uri and replaced["counts"] == {"train": 40, "eval": 12}
    assert os.path.isdir(os.path.join(replaced_uri, "Split-train"))


def test_examples_dir_brings_tfrecords_to_import_example_gen(tmp_path):
    """--examples-dir: the user's TFRecords go to ImportExampleGen, and the Trainer reads their dataset.json."""
    from data import fashion_mnist
    from data.tfrecords import write_image_examples
    from dlqos import runs
    from common.config import OutputLayout
    from models.steps import get_step
    from pipeline.pipeline import _example_gen

    examples = str(tmp_path / "examples")
    write_image_examples(fashion_mnist.load(write_fashion_like_dir(str(tmp_path / "raw"), 30, 12)), examples)
    step = get_step("dense")
    layout = OutputLayout(str(tmp_path / "out"))
    options = runs.RunOptions(output_dir=layout.root, examples_dir=examples)
    examples_dir, data = runs.prepare_examples(step, options, layout)
    config = runs.build_config(step, options, layout, examples_dir, data)
    component = _example_gen(config)
    assert type(component).__name__ == "ImportExampleGen" and component.exec_properties["input_base"] == examples
    assert config.training.data_metadata == os.path.join(examples, "dataset.json")
    raw_config = runs.build_config(step, runs.RunOptions(), layout, *runs.prepare_examples(
        step, runs.RunOptions(data_dir=str(tmp_path / "raw")), layout))
    assert _example_gen(raw_config).id == "ExampleGen" and raw_config.training.data_metadata is None
