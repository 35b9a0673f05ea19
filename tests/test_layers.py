"""The direction of imports between the project's packages, read from their source with `ast` (lazy imports inside
functions count too), and that every package reaches the image.

Layers, bottom up; a layer imports only the layers listed for it:
  base       dlqos/__init__.py (sets legacy Keras before TensorFlow loads) and dlqos/errors.py: import nothing of ours
  data       dataset sources, checksums and the ExampleGen (data/)
  serving    TF Serving config, warmup, clients, stand-in (serving/)
  lib        the steps and their Trainer library (dlqos/ except the application modules below)
  components custom TFX components (components/)
  pipeline   the pipeline factory and its runners (pipeline/)
  app        the CLI and what it drives (dlqos/cli.py, runs.py, ...): may import every layer
`dlqos` is two layers, the step library every pipeline imports and the application on top; a module that imports
pipeline/ or components/ belongs in APP.
"""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("dlqos", "data", "serving", "components", "pipeline")
APP = {"cli", "runs", "compare", "report", "model_card", "bench", "metadata", "evaluation", "__main__", "runners"}
ALLOWED = {
    "base": set(),
    "data": {"base"},
    "serving": {"base"},
    "lib": {"base", "data", "serving"},  # the Trainer exports in TF Serving's terms (serving.wire.CLASSIFY_METHOD)
    "components": {"base", "data", "serving", "lib"},
    "pipeline": {"base", "data", "serving", "components", "lib"},
    "app": {"base", "data", "serving", "lib", "components", "pipeline"},
}
# dlqos.DreamImages: the class path TFX's Kubeflow entrypoint imports for the DeepDream artifact, loaded on first
# attribute access (module __getattr__), never when dlqos is imported.
EXEMPT = {("dlqos/__init__.py", "components.deepdream")}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "dlqos":
        return parts[0]
    if len(parts) == 1 or parts[1] in ("__init__", "errors"):
        return "base"
    return "app" if parts[1] in APP else "lib"


def imports(path: str):
    """(line, module) of every absolute import of one of our packages; `from dlqos import x` names dlqos.x."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = ([f"{node.module}.{alias.name}" for alias in node.names] if node.module in PACKAGES
                     else [node.module])
        else:
            continue
        yield from ((node.lineno, name) for name in names if name.split(".")[0] in PACKAGES)


def sources():
    for package in PACKAGES:
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    yield os.path.relpath(path, ROOT), ".".join(os.path.relpath(path, ROOT)[:-3].split(os.sep))


def test_imports_go_down_the_layers_only():
    wrong = []
    for relpath, module in sources():
        here = layer(module)
        for line, name in imports(os.path.join(ROOT, relpath)):
            there = layer(name)
            if there != here and there not in ALLOWED[here] and (relpath, name) not in EXEMPT:
                wrong.append(f"{relpath}:{line} ({here}) imports {name} ({there})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_layer_order_has_no_cycle():
    order, left = [], dict(ALLOWED)
    while left:
        ready = [name for name, below in left.items() if below <= set(order)]
        assert ready, f"cycle among {sorted(left)}"
        order += ready
        for name in ready:
            del left[name]
    assert order[0] == "base" and order[-1] == "app"


def test_the_checker_sees_a_wrong_import(tmp_path):
    """A data module importing the pipeline, written to a file, is reported (the test can fail)."""
    path = tmp_path / "bad.py"
    path.write_text("def f():\n    from pipeline.pipeline import create_pipeline\n    from dlqos import runs\n")
    found = [(layer(name)) for _, name in imports(str(path))]
    assert found == ["pipeline", "app"] and "pipeline" not in ALLOWED["data"] and "app" not in ALLOWED["lib"]


def test_every_package_is_installed_and_copied_into_the_image():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        include = re.search(r"include = \[(.*)\]", f.read()).group(1)
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        copies = {tuple(line.split()[1:]) for line in f if line.startswith("COPY ")}
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        ignored = {line.strip().rstrip("/") for line in f}
    for package in PACKAGES:
        assert f'"{package}*"' in include, package
        assert (package, package) in copies and package not in ignored, package
