"""The direction of imports, read from the source with `ast` (lazy imports inside functions count too): between
the top-level packages, one way down the layers; between files, no cycle; and every package reaches the image.

Each top-level folder is one layer; bottom up, a layer imports only the layers below it:
  common      errors, the typed configuration tree, the run's environment, the Keras switch (common/)
  data        dataset formats, sources and checksums (data/)
  serving     TF Serving configuration, warmup, clients, the stand-in (serving/)
  models      the steps and their Trainer library (models/)
  components  custom TFX components and artifact types (components/)
  pipeline    the pipeline factory, its orchestrator runners and the Beam runners (pipeline/)
  dlqos       the application: CLI, study, compare, report, ML Metadata reading (dlqos/)
"""
import ast
import importlib.metadata
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "data", "serving", "models", "components", "pipeline", "dlqos")
ALLOWED = {
    "common": set(),
    "data": {"common"},
    "serving": {"common"},
    "models": {"common", "data", "serving"},  # the Trainer exports in TF Serving's terms (serving.wire)
    "components": {"common", "data", "serving", "models"},
    "pipeline": {"common", "data", "serving", "models", "components"},
    "dlqos": {"common", "data", "serving", "models", "components", "pipeline"},
}


def sources():
    """(relative path, module name) of every Python file of our packages."""
    for package in PACKAGES:
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    relpath = os.path.relpath(os.path.join(directory, name), ROOT)
                    module = relpath[:-3].replace(os.sep, ".")
                    yield relpath, module[: -len(".__init__")] if module.endswith(".__init__") else module


def imports(path: str):
    """(line, module) of every absolute import of one of our packages; `from pkg import x` names pkg.x."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        yield from ((node.lineno, name) for name in names if name.split(".")[0] in PACKAGES)


def test_imports_go_down_the_layers_only():
    wrong = []
    for relpath, module in sources():
        here = module.split(".")[0]
        for line, name in imports(os.path.join(ROOT, relpath)):
            there = name.split(".")[0]
            if there != here and there not in ALLOWED[here]:
                wrong.append(f"{relpath}:{line} ({here}) imports {name} ({there})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_layer_order_has_no_cycle():
    order = []
    left = dict(ALLOWED)
    while left:
        ready = [name for name, below in left.items() if below <= set(order)]
        assert ready, f"cycle among {sorted(left)}"
        order += ready
        for name in ready:
            del left[name]
    assert order == list(PACKAGES)


def module_graph(files):
    """{module: set of our modules it imports}; `from pkg import name` is pkg.name when that is a module."""
    modules = {module for _, module in files}
    graph = {}
    for relpath, module in files:
        targets = set()
        for _, name in imports(os.path.join(ROOT, relpath)):
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index = {}
    low = {}
    stack = []
    on_stack = set()
    found = []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while node not in component:
                component.add(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_files():
    assert cycles(module_graph(list(sources()))) == []


def test_the_checkers_see_a_wrong_import_and_a_cycle(tmp_path):
    """A data module importing the pipeline is against the order; two files importing each other are a cycle."""
    path = tmp_path / "bad.py"
    path.write_text("def f():\n    from pipeline.pipeline import create_pipeline\n    from dlqos import runs\n")
    assert [name for _, name in imports(str(path))] == ["pipeline.pipeline.create_pipeline", "dlqos.runs"]
    assert "pipeline" not in ALLOWED["data"] and "dlqos" not in ALLOWED["models"]
    assert cycles({"data.a": {"data.b"}, "data.b": {"data.c"}, "data.c": {"data.a"}, "data.d": {"data.a"}}) == [
        ["data.a", "data.b", "data.c"]]


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


def test_no_installed_distribution_provides_our_package_names():
    """The generic folder names are safe because they never share a site-packages: the runtime puts the checkout
    on PYTHONPATH (the project itself is not installed) and the image installs it into its own /opt/dlqos. This
    checks the environment the tests run in: no installed distribution ships a top-level module of the same name."""
    clashes = []
    for dist in importlib.metadata.distributions():
        tops = {(file.parts[0] if len(file.parts) > 1 else file.stem) for file in dist.files or ()}
        clashes += [f"{dist.metadata['Name']} installs {name}" for name in sorted(tops & set(PACKAGES))]
    assert clashes == []
