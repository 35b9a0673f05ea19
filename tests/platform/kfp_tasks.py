"""Execute a compiled KFP pipeline spec (schema 2.1) task by task, in the image, as KFP's launcher would.

Each container task runs the spec's own command and arguments with `{{$}}` replaced by the ExecutorInput JSON
the launcher builds: parameter values from the task's constants, input artifacts from the producing tasks'
ExecutorOutput (output_metadata.json), output artifact URIs under the pipeline root. A task's `preCacheCheck`
lifecycle hook (the file-based ExampleGen driver: span, version, fingerprint) runs first and its parameter values
reach the executor. Resolver tasks query ML Metadata in KFP; here the store is empty, as on a pipeline's first
run, so they resolve nothing (the Evaluator then gates on its absolute thresholds alone). Test harness only.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, List

RunContainer = Callable[[List[str]], None]  # runs [command..., args...] in the image


def task_order(spec: dict) -> List[str]:
    """The DAG's tasks, each after the tasks it depends on."""
    tasks = spec["root"]["dag"]["tasks"]
    order: List[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        task = tasks[name]
        producers = [a["taskOutputArtifact"]["producerTask"] for a in task.get("inputs", {}).get("artifacts", {}).values()]
        for upstream in task.get("dependentTasks", []) + producers:
            visit(upstream)
        order.append(name)

    for name in sorted(tasks):
        visit(name)
    return order


class SpecRun:
    """One execution of a compiled pipeline under `root` (a directory both here and in the container)."""

    def __init__(self, job: dict, root: str, run_container: RunContainer):
        self.spec = job["pipelineSpec"]
        self.root = root
        self.run_container = run_container
        self.outputs: Dict[str, Dict[str, list]] = {}  # task -> output key -> artifacts (ExecutorOutput form)

    def run(self) -> Dict[str, Dict[str, list]]:
        for name in task_order(self.spec):
            self.run_task(name)
        return self.outputs

    def run_task(self, name: str) -> None:
        task = self.spec["root"]["dag"]["tasks"][name]
        component = self.spec["components"][task["componentRef"]["name"]]
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
        if "resolver" in executor:
            self.outputs[name] = {key: [] for key in executor["resolver"]["outputArtifactQueries"]}
            return
        container = executor["container"]
        executor_input = self.executor_input(name, task, component)
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook:
            driver_output = self.execute(hook, executor_input, f"{name}/driver")
            executor_input["inputs"]["parameterValues"].update(driver_output.get("parameterValues", {}))
        produced = self.execute(container, executor_input, name)
        self.outputs[name] = {key: _updated(value["artifacts"], produced.get("artifacts", {}).get(key, {}))
                              for key, value in executor_input["outputs"]["artifacts"].items()}

    def executor_input(self, name: str, task: dict, component: dict) -> dict:
        inputs = task.get("inputs", {})
        parameters = {key: value["runtimeValue"]["constant"] for key, value in inputs.get("parameters", {}).items()}
        artifacts = {key: {"artifacts": self.outputs[ref["taskOutputArtifact"]["producerTask"]][
            ref["taskOutputArtifact"]["outputArtifactKey"]]} for key, ref in inputs.get("artifacts", {}).items()}
        outputs = {key: {"artifacts": [{"name": f"{name}-{key}", "type": definition["artifactType"],
                                        "uri": os.path.join(self.root, name, key), "metadata": {}}]}
                   for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items()}
        return {"inputs": {"parameterValues": parameters, "artifacts": artifacts},
                "outputs": {"artifacts": outputs, "outputFile": os.path.join(self.root, name, "output_metadata.json")}}

    def execute(self, container: dict, executor_input: dict, label: str) -> dict:
        """Run one container with the spec's command and args; return its ExecutorOutput ({} if none)."""
        executor_input = json.loads(json.dumps(executor_input))
        output_file = os.path.join(self.root, label, "output_metadata.json")
        executor_input["outputs"]["outputFile"] = output_file
        os.makedirs(os.path.dirname(output_file), exist_ok=True)
        os.chmod(os.path.dirname(output_file), 0o777)
        text = json.dumps(executor_input)
        self.run_container(container["command"] + [text if arg == "{{$}}" else arg for arg in container["args"]])
        if not os.path.exists(output_file):
            return {}
        with open(output_file) as f:
            return json.load(f)


def _updated(artifacts: list, executor_output: dict) -> list:
    """The output artifacts as the launcher records them: what the executor wrote (URI, metadata such as
    `blessed` or `pushed`) over what it was given; ExecutorOutput carries no type, so the given type stays."""
    written = executor_output.get("artifacts") or [{}] * len(artifacts)
    return [{**given, **out, "type": given["type"]} for given, out in zip(artifacts, written)]
