"""Compile every step for Kubeflow Pipelines v2 and read the specs back with the KFP SDK's own protos."""
import json
import os

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from dlqos import cli
from dlqos.steps import STEPS

IMAGE = "registry.example.com/dlqos@sha256:" + "0" * 64


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    spec_dir = tmp_path_factory.mktemp("specs")
    code = cli.main(["compile", "all", "--image", IMAGE, "--root", "gs://no-such-bucket-dlqos/root",
                     "--spec-dir", str(spec_dir), "--num-train", "600", "--num-eval", "100",
                     "--strategy", "mirrored", "--beam-arg=--runner=DataflowRunner",
                     "--beam-arg=--project=example", "--beam-arg=--region=europe-west4"])
    assert code == cli.EXIT_OK
    loaded = {}
    for step in STEPS.values():
        with open(os.path.join(spec_dir, f"{step.pipeline_name}.json")) as f:
            job = json.load(f)
        loaded[step.name] = (job, json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(),
                                                        ignore_unknown_fields=True))
    return loaded


def test_specs_are_schema_2_1_and_load_with_the_kfp_sdk(specs, tmp_path):
    """Schema 2.1 (typed parameters, `constant` values) is what KFP 2.x runs; the SDK's own loader reads each."""
    from kfp.components import load_component_from_file

    for name, (job, spec) in specs.items():
        assert spec.schema_version == "2.1.0", name
        assert "constantValue" not in json.dumps(job), name
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(job["pipelineSpec"]))
        component = load_component_from_file(str(path))
        assert component.name == STEPS[name].pipeline_name


def test_schema_2_0_stays_behind_a_flag(tmp_path):
    code = cli.main(["compile", "deepdream", "--image", IMAGE, "--root", "gs://b/r", "--spec-dir", str(tmp_path),
                     "--schema", "2.0"])
    assert code == cli.EXIT_OK
    job = json.loads((tmp_path / f"{STEPS['deepdream'].pipeline_name}.json").read_text())
    assert job["pipelineSpec"]["schemaVersion"] == "2.0.0" and "constantValue" in json.dumps(job)


def test_every_step_compiles_with_its_tasks(specs):
    for name, (_, spec) in specs.items():
        tasks = set(spec.root.dag.tasks)
        if STEPS[name].trains:
            assert {"ExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"} <= tasks, name
        else:
            assert tasks == {"ExampleGen", "DeepDream"}, name
        assert spec.pipeline_info.name == STEPS[name].pipeline_name


def test_custom_component_and_its_artifact_type_compile(specs):
    """DeepDream's parameters travel as constants and its output carries the custom type as the schema title."""
    job, spec = specs["deepdream"]
    task = spec.root.dag.tasks["DeepDream"]
    assert task.inputs.parameters["backbone"].runtime_value.constant.string_value == "mobilenet_v2"
    assert "dlqos.DreamImages" in json.dumps(job["pipelineSpec"]["components"])


def test_image_root_strategy_and_beam_args_travel_in_the_spec(specs):
    job, spec = specs["dense"]
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {IMAGE}
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://no-such-bucket-dlqos/root/pipelines/dlqos-dense"
    text = json.dumps(job)
    assert "--runner=DataflowRunner" in text and "--region=europe-west4" in text
    parameter = spec.root.dag.tasks["Trainer"].inputs.parameters["custom_config"]
    custom_config = json.loads(parameter.runtime_value.constant.string_value)
    assert custom_config["strategy"] == "mirrored"
