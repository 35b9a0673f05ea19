"""Compile every step for Kubeflow Pipelines v2 and read the specs back with the KFP SDK's own protos and loaders."""
import json
import os
import re

import pytest
import yaml
from google.protobuf import json_format
# what kfp.Client.upload_pipeline and create_run_from_pipeline_package parse a package with: its YAML documents
# strictly as protos (an unknown field fails, as in the KFP backend's protojson.Unmarshal)
from kfp.client.client import _extract_pipeline_yaml
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from dlqos import cli
from common.config import InfraValidationConfig
from common.errors import ConfigError
from models.steps import STEPS
from pipeline.kubeflow_v2_runner import compile_pipeline, write_package
from pipeline.pipeline import infra_validator
from tests.helpers import pipeline_config

IMAGE = "registry.example.com/dlqos@sha256:" + "0" * 64
ROOT = "gs://no-such-bucket-dlqos/root"


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    spec_dir = tmp_path_factory.mktemp("specs")
    code = cli.main(["compile", "all", "--image", IMAGE, "--root", ROOT,
                     "--spec-dir", str(spec_dir), "--num-train", "600", "--num-eval", "100",
                     "--strategy", "mirrored", "--beam-arg=--runner=DataflowRunner",
                     "--beam-arg=--project=example", "--beam-arg=--region=europe-west4"])
    assert code == cli.EXIT_OK
    return spec_dir


@pytest.fixture(scope="module")
def specs(spec_dir):
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
    # no KFP package: the KFP backend refuses every schema but 2.1.0 (v2_template.go, NewV2SpecTemplate)
    assert os.listdir(tmp_path) == [f"{STEPS['deepdream'].pipeline_name}.json"]


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
    assert "components.DreamImages" in json.dumps(job["pipelineSpec"]["components"])


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


def test_kfp_package_is_the_job_spec_with_its_pipeline_root(specs, spec_dir):
    """The YAML beside each JSON is the bare PipelineSpec a KFP 2.x backend takes on upload: one document, schema
    2.1.0, a name the backend accepts, and the JSON's spec unchanged except the pipeline root moved in from the
    job's runtimeConfig; the KFP SDK's component loader reads it too."""
    from kfp.components import load_component_from_file

    for name, (job, spec) in specs.items():
        path = spec_dir / f"{STEPS[name].pipeline_name}.yaml"
        assert len([d for d in yaml.safe_load_all(path.read_text()) if d]) == 1, name
        package = _extract_pipeline_yaml(str(path)).pipeline_spec
        expected = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
        expected.default_pipeline_root = f"{ROOT}/pipelines/{STEPS[name].pipeline_name}"
        assert package == expected, name
        assert package.schema_version == "2.1.0"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", package.pipeline_info.name), name
        assert load_component_from_file(str(path)).name == STEPS[name].pipeline_name


def test_the_pipeline_job_json_is_not_a_kfp_package(specs):
    """Why the YAML exists: parsed as a PipelineSpec, as the KFP backend parses an upload, the job form fails."""
    job, _ = specs["dense"]
    with pytest.raises(json_format.ParseError, match="displayName"):
        json_format.ParseDict(job, pipeline_spec_pb2.PipelineSpec())


def test_runtime_parameter_values_become_the_root_input_defaults(specs, tmp_path):
    """A PipelineJob's parameterValues (TFX RuntimeParameters) have no place in a package but the root's inputs."""
    job, _ = specs["deepdream"]
    job = json.loads(json.dumps(job))
    job["pipelineSpec"]["root"]["inputDefinitions"] = {"parameters": {"octaves": {"parameterType": "NUMBER_INTEGER"}}}
    job["runtimeConfig"]["parameterValues"] = {"octaves": 3}
    (tmp_path / "job.json").write_text(json.dumps(job))
    write_package(str(tmp_path / "job.json"), str(tmp_path / "job.yaml"))
    parameter = _extract_pipeline_yaml(str(tmp_path / "job.yaml")).pipeline_spec.root.input_definitions.parameters
    assert parameter["octaves"].default_value.number_value == 3
    assert parameter["octaves"].parameter_type == pipeline_spec_pb2.ParameterType.NUMBER_INTEGER


def test_only_the_model_resolvers_are_executors_the_kfp_backend_cannot_run(specs):
    """The open-source KFP backend compiles container and importer executors only (backend/src/v2/compiler/
    visitor.go: "non-container and non-importer executor not implemented"). TFX compiles the last-blessed-model
    Resolver into two resolver executors and the previous span's statistics Resolver into one, so a training
    step's package uploads but KFP refuses to start its runs; deepdream's has containers only."""
    for name, (_, spec) in specs.items():
        executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
        others = {label: set(executor) for label, executor in executors.items()
                  if set(executor) - {"container", "importer"}}
        assert all(kinds == {"resolver"} and "resolver" in label for label, kinds in others.items()), others
        assert len(others) == (3 if STEPS[name].trains else 0), (name, others)


def test_infra_validation_is_refused_for_kubeflow_as_tfx_refuses_its_component(tmp_path):
    """TFX 1.21's Kubeflow V2 step builder raises on the InfraValidator; compile_pipeline says so in one line
    instead of compiling a spec without the gate the local pipeline has."""
    config = pipeline_config(pipeline_root=ROOT, infra_validation=InfraValidationConfig("unix:///run/docker.sock"))
    with pytest.raises(ConfigError, match="TFX 1.21's Kubeflow V2 step builder refuses the InfraValidator"):
        compile_pipeline(config, IMAGE, str(tmp_path / "dense.json"))
    model, examples = (tfx.dsl.Importer(source_uri=f"{ROOT}/{kind.TYPE_NAME}", artifact_type=kind).with_id(kind.TYPE_NAME)
                       for kind in (standard_artifacts.Model, standard_artifacts.Examples))
    validator = infra_validator(config, model.outputs["result"], examples.outputs["result"])
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=IMAGE),
        output_dir=str(tmp_path), output_filename="stock.json")
    with pytest.raises(NotImplementedError, match="InfraValidator.* is not supported"):
        runner.run(tfx.dsl.Pipeline(pipeline_name="stock", pipeline_root=ROOT, components=[model, examples, validator]))
