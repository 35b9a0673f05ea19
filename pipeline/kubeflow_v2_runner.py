"""Compile a study pipeline for Kubeflow Pipelines v2 with TFX's KubeflowV2DagRunner.

The same create_pipeline as the local runner; ML Metadata is left to the cluster and the Beam arguments come
from the user (Dataflow, Flink or Spark). Compiling reads nothing from the pipeline root: gs:// and s3:// roots
are only written into the spec. InfraValidator is not in the spec: TFX 1.21's Kubeflow V2 step builder rejects
it ("The component type InfraValidator is not supported", kubeflow/v2/step_builder.py), so a config with infra
validation is refused.

Two files per step: TFX writes a PipelineJob JSON (displayName, labels, pipelineSpec, runtimeConfig), the form
Vertex AI Pipelines submits; a Kubeflow Pipelines 2.x backend takes only a bare PipelineSpec on upload (each YAML
document parsed strictly as one: backend/src/apiserver/template/template.go, isPipelineSpec), so the PipelineSpec
is also written as the KFP SDK's compiler writes a package (YAML), beside the JSON.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

from tfx import v1 as tfx

from data.sources import atomic_file
from common.config import PipelineConfig
from common.errors import ConfigError
from pipeline.pipeline import create_pipeline


# Pipeline-spec schemas: 2.1 is what the KFP 2.x SDK compiles and the open-source KFP 2.x backend runs
# (parameters as typed `parameterType` / `constant` values); 2.0 is the older Vertex form (`constantValue`).
SCHEMAS = ("2.1", "2.0")


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    """The files `dlqos compile` writes for one step."""

    job: str  # PipelineJob JSON: what Vertex AI Pipelines submits
    package: Optional[str]  # PipelineSpec YAML: what a KFP 2.x backend takes on upload (schema 2.1, the one it runs)


def compile_pipeline(config: PipelineConfig, image: str, output_file: str, schema: str = "2.1") -> CompiledPipeline:
    """Write the PipelineJob JSON of `config` to output_file and, for schema 2.1, its KFP package beside it."""
    if config.infra_validation is not None:
        raise ConfigError("infra validation cannot be compiled for Kubeflow Pipelines: TFX 1.21's Kubeflow V2 step "
                          "builder refuses the InfraValidator component (docs/serving.md, \"Infra validation\")")
    kubeflow_config = dataclasses.replace(config, metadata_path=None)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=schema == "2.1"),
        output_dir=os.path.dirname(os.path.abspath(output_file)),
        output_filename=os.path.basename(output_file),
    )
    runner.run(create_pipeline(kubeflow_config))
    package = write_package(output_file, os.path.splitext(output_file)[0] + ".yaml") if schema == "2.1" else None
    return CompiledPipeline(job=output_file, package=package)


def write_package(job_file: str, package_file: str) -> str:
    """The PipelineJob's spec as a KFP pipeline package, written by the KFP SDK compiler's own writer.

    A package has no runtimeConfig, so the job's is moved into the spec where the SDK compiler puts it and the KFP
    UI reads it when it starts a run: the pipeline root as defaultPipelineRoot, parameter values as the root
    component's input defaults."""
    from google.protobuf import json_format
    from kfp.compiler.pipeline_spec_builder import write_pipeline_spec_to_file
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(job_file) as f:
        job = json_format.Parse(f.read(), pipeline_spec_pb2.PipelineJob())
    spec = json_format.ParseDict(json_format.MessageToDict(job.pipeline_spec), pipeline_spec_pb2.PipelineSpec())
    spec.default_pipeline_root = job.runtime_config.gcs_output_directory
    for name, value in job.runtime_config.parameter_values.items():  # TFX declares each in the root's inputs
        spec.root.input_definitions.parameters[name].default_value.CopyFrom(value)
    with atomic_file(package_file) as partial:
        write_pipeline_spec_to_file(spec, pipeline_description=None, platform_spec=pipeline_spec_pb2.PlatformSpec(),
                                    package_path=partial)
        os.chmod(partial, 0o644)  # mkstemp made it 0600; a spec is no secret
    return package_file
