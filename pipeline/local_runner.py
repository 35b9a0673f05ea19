"""Run a study pipeline locally: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner."""
from __future__ import annotations

from tfx import v1 as tfx

from dlqos.config import PipelineConfig
from pipeline.pipeline import create_pipeline


def run(config: PipelineConfig) -> None:
    """Runs every component in order; raises if one fails. Beam flags come from config.beam_pipeline_args."""
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config))
