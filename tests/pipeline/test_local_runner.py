"""pipeline/local_runner.py: which nodes TFX's cache may serve, read from the IR handed to LocalDagRunner."""
import pytest
from tfx import v1 as tfx

from pipeline import local_runner
from pipeline.pipeline import create_pipeline
from tests.helpers import pipeline_config

DATA_HALF = {"ImportExampleGen", "StatisticsGen", "SchemaGen", "previous_span_statistics_resolver", "ExampleValidator",
             "Transform"}


@pytest.fixture
def compiled(monkeypatch):
    """run(config) -> {node id: caching enabled} of the IR it would run (nothing runs)."""
    handed = []
    monkeypatch.setattr(tfx.orchestration.LocalDagRunner, "run_with_ir", lambda self, ir: handed.append(ir))

    def run(config):
        local_runner.run(config)
        return {node.pipeline_node.node_info.id: node.pipeline_node.execution_options.caching_options.enable_cache
                for node in handed.pop().nodes}
    return run


def test_with_the_cache_only_the_data_half_may_be_served_from_it(compiled):
    caching = compiled(pipeline_config(enable_cache=True))
    assert {node for node, cached in caching.items() if cached} == DATA_HALF
    assert {"Trainer", "Evaluator", "Pusher"} <= set(caching)


def test_without_the_cache_every_node_runs(compiled):
    assert not any(compiled(pipeline_config(enable_cache=False)).values())


def test_the_code_fingerprint_keys_the_data_half():
    """ExampleGen and Transform carry the source fingerprint in their settings, which TFX's cache key covers."""
    transform = {c.id: c for c in create_pipeline(pipeline_config(source_fingerprint="abc")).components}["Transform"]
    assert '"source_fingerprint": "abc"' in transform.exec_properties["custom_config"]
