"""Compile a study pipeline to a Kubeflow Pipelines v2 spec (JSON) with TFX's KubeflowV2DagRunner.

The same create_pipeline as the local runner; ML Metadata is left to the cluster and the Beam arguments come
from the user (Dataflow, Flink or Spark). Compiling reads nothing from the pipeline root: gs:// and s3:// roots
are only written into the spec. InfraValidator is not in the spec: TFX 1.21's Kubeflow V2 step builder rejects
it ("The component type InfraValidator is not supported", kubeflow/v2/step_builder.py).
"""
from __future__ import annotations

import dataclasses
import os

from tfx import v1 as tfx

from dlqos.config import PipelineConfig
from pipeline.pipeline import create_pipeline


# Pipeline-spec schemas: 2.1 is what the KFP 2.x SDK compiles and the open-source KFP 2.x backend runs
# (parameters as typed `parameterType` / `constant` values); 2.0 is the older Vertex form (`constantValue`).
SCHEMAS = ("2.1", "2.0")


def compile_pipeline(config: PipelineConfig, image: str, output_file: str, schema: str = "2.1") -> str:
    """Write the KFP v2 pipeline spec of `config` to output_file and return its path."""
    kubeflow_config = dataclasses.replace(config, metadata_path=None)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=schema == "2.1"),
        output_dir=os.path.dirname(os.path.abspath(output_file)),
        output_filename=os.path.basename(output_file),
    )
    runner.run(create_pipeline(kubeflow_config))
    return output_file
