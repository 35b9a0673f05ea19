"""Run a study pipeline locally: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner."""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.compiler import compiler

from common.config import PipelineConfig
from pipeline.pipeline import create_pipeline, data_half


def run(config: PipelineConfig) -> None:
    """Runs every component in order; raises if one fails. Beam flags come from config.beam_pipeline_args."""
    run_pipeline(create_pipeline(config), config)


def run_pipeline(pipeline: tfx.dsl.Pipeline, config: PipelineConfig) -> None:
    """Runs a pipeline built from config. With config.enable_cache only the data half (ExampleGen .. Transform)
    may be served from TFX's cache; the Trainer and what follows it always run, since running them is what a
    run is for (a new model judged against the served one). TFX's cache is per pipeline, so the compiled IR's
    per-node caching options say which nodes."""
    ir = compiler.Compiler().compile(pipeline)
    cacheable = {component.id for component in data_half(config).components}
    for node in ir.nodes:
        options = node.pipeline_node.execution_options.caching_options
        options.enable_cache = options.enable_cache and node.pipeline_node.node_info.id in cacheable
    tfx.orchestration.LocalDagRunner().run_with_ir(ir)
