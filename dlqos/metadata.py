"""Reading ML Metadata: what the last run of a pipeline executed, produced, blessed and pushed.

The CLI summary and the study report read results from here, not from logs.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
FINAL_NODES = ("Pusher", "DeepDream")  # a step's run has finished when its last node has


def open_store(path: str) -> metadata_store.MetadataStore:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no ML Metadata store at {path}; run a pipeline first")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def custom_property(artifact, key: str):
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")  # None: a property recorded without a value
    return getattr(value, kind) if kind else None


@dataclass
class NodeExecution:
    node_id: str
    state: str
    seconds: float
    inputs: Dict[str, List[metadata_store_pb2.Artifact]] = field(default_factory=dict)
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = field(default_factory=dict)
    # The execution's recorded exec properties (e.g. the Trainer's custom_config, a JSON string): what tells
    # one optimizer/seed variant's Trainer from another's.
    properties: Dict[str, object] = field(default_factory=dict)
    created_ms: int = 0  # when the execution was registered (ms since the epoch): orders variants across runs

    def output(self, key: str) -> Optional[metadata_store_pb2.Artifact]:
        artifacts = self.outputs.get(key) or []
        return artifacts[0] if artifacts else None


@dataclass
class PipelineRun:
    pipeline_name: str
    run_id: str
    nodes: Dict[str, NodeExecution]

    @property
    def example_gen(self) -> Optional[NodeExecution]:
        """The run's ExampleGen (DatasetExampleGen or ImportExampleGen), or None."""
        return next((node for node_id, node in self.nodes.items() if node_id.endswith("ExampleGen")), None)

    @property
    def blessed(self) -> Optional[bool]:
        evaluator = self.nodes.get("Evaluator")
        blessing = evaluator.output("blessing") if evaluator else None
        return None if blessing is None else bool(custom_property(blessing, "blessed"))

    @property
    def status(self) -> str:
        """'finished' (its last node, Pusher or DeepDream, completed), 'failed at NODE' (an execution FAILED), or
        'interrupted' (killed or still running: neither finished nor failed)."""
        failed = sorted(node_id for node_id, node in self.nodes.items() if node.state == "FAILED")
        if failed:
            return f"failed at {', '.join(failed)}"
        done = any(self.nodes[n].state in ("COMPLETE", "CACHED") for n in FINAL_NODES if n in self.nodes)
        return "finished" if done else "interrupted"

    @property
    def pushed_to(self) -> Optional[str]:
        pusher = self.nodes.get("Pusher")
        pushed = pusher.output("pushed_model") if pusher else None
        if pushed is None or not custom_property(pushed, "pushed"):
            return None
        return custom_property(pushed, "pushed_destination")


def pipeline_runs(store: metadata_store.MetadataStore, pipeline_name: str) -> List[PipelineRun]:
    """Every run of the pipeline, oldest first, with each node's last execution in that run."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    executions = store.get_executions_by_context(pipeline.id)
    by_run: Dict[str, Dict[str, metadata_store_pb2.Execution]] = {}
    run_created: Dict[str, int] = {}
    node_prefix = pipeline_name + "."
    for execution in executions:
        contexts = store.get_contexts_by_execution(execution.id)
        run = next((c for c in contexts if c.type == "pipeline_run"), None)
        node = next((c for c in contexts if c.type == "node"), None)
        if run is None or node is None:
            continue
        by_run.setdefault(run.name, {})[node.name[len(node_prefix):]] = execution
        run_created[run.name] = run.create_time_since_epoch
    runs = []
    for run_id in sorted(by_run, key=lambda r: run_created[r]):
        nodes = {node_id: _node_execution(store, node_id, execution) for node_id, execution in by_run[run_id].items()}
        runs.append(PipelineRun(pipeline_name, run_id, nodes))
    return runs


def execution_counts(store: metadata_store.MetadataStore, pipeline_name: str) -> Dict[str, Dict[str, int]]:
    """{node id: {state: executions}} over every run of the pipeline: how often a component really ran
    (COMPLETE) and how often its output came from TFX's cache (CACHED)."""
    counts: Dict[str, Dict[str, int]] = {}
    for run in pipeline_runs(store, pipeline_name):
        for node_id, node in run.nodes.items():
            counts.setdefault(node_id, {}).setdefault(node.state, 0)
            counts[node_id][node.state] += 1
    return counts


def served_run(runs: List[PipelineRun]) -> Optional[PipelineRun]:
    """The newest run whose pushed version is still in the serving directory: the model TF Serving serves now
    (it serves the newest version), whatever the runs after it did."""
    return next((run for run in reversed(runs) if run.pushed_to and os.path.isdir(run.pushed_to)), None)


def latest_run(store: metadata_store.MetadataStore, pipeline_name: str) -> Optional[PipelineRun]:
    runs = pipeline_runs(store, pipeline_name)
    return runs[-1] if runs else None


def _node_execution(store, node_id: str, execution) -> NodeExecution:
    events = store.get_events_by_execution_ids([execution.id])
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    result = NodeExecution(
        node_id=node_id,
        state=_STATES.get(execution.last_known_state, "UNKNOWN"),
        seconds=max(0, execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0,
        properties={key: custom_property(execution, key) for key in execution.custom_properties},
        created_ms=execution.create_time_since_epoch,
    )
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        target = result.outputs if event.type in _OUTPUT_EVENTS else result.inputs if event.type in _INPUT_EVENTS else None
        if target is not None and event.artifact_id in artifacts:
            target.setdefault(key, []).append(artifacts[event.artifact_id])
    return result


def example_gen_dataset(run: PipelineRun) -> Optional[str]:
    """The dataset name the run's ExampleGen read (its settings in custom_config), or None (ImportExampleGen)."""
    try:
        settings = json.loads(run.example_gen.properties["custom_config"])["custom_config"]["value"]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return settings.get("dataset")


def check_baseline_dataset(metadata_path: str, pipeline_name: str, dataset: str) -> None:
    """Refuse, before any work, a run on another dataset than the last blessed model's: the Evaluator would judge
    the new model against that baseline on data it was never made for (other shapes or classes: it would fail
    after training with a dump of serialized examples; same shapes: a meaningless gate and a served model that
    silently changes task)."""
    from common.errors import ConfigError

    if not os.path.isfile(metadata_path) or os.path.getsize(metadata_path) == 0:
        return
    blessed = next((run for run in reversed(pipeline_runs(open_store(metadata_path), pipeline_name)) if run.blessed),
                   None)
    baseline = example_gen_dataset(blessed) if blessed else None
    if baseline is not None and baseline != dataset:
        raise ConfigError(f"{os.path.dirname(metadata_path)} holds a blessed {pipeline_name} model trained on "
                          f"{baseline} (run {blessed.run_id}), the baseline every new model is gated against; this "
                          f"run's dataset is {dataset}: use another --output-dir for it")
