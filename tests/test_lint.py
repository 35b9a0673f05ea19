"""The linter over every package, with the rules in pyproject.toml ([tool.ruff]): pyflakes, syntax and
statement errors, ambiguous names, call or mutable defaults; and no function longer than MAX_FUNCTION_LINES."""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["dlqos", "data", "pipeline", "components", "serving", "benchmarks", "tests"]
MAX_FUNCTION_LINES = 60


def test_ruff_finds_nothing():
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")
    done = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", *PACKAGES], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def long_functions(path: str, limit: int = MAX_FUNCTION_LINES) -> list:
    """'path:line name (N lines)' for each function or method in the file longer than limit, decorators and
    docstring included."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if node.end_lineno - first + 1 > limit:
                found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.name} "
                             f"({node.end_lineno - first + 1} lines)")
    return found


def test_no_function_is_longer_than_the_limit():
    offenders = []
    for package in PACKAGES:
        if package == "tests":
            continue
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            offenders += [line for name in sorted(files) if name.endswith(".py")
                          for line in long_functions(os.path.join(directory, name))]
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(offenders)


def test_the_length_check_sees_a_long_method(tmp_path):
    """A 62-line method in a class is reported with its line count; a 60-line function is not."""
    path = tmp_path / "long.py"
    path.write_text("def short():\n" + "    x = 1\n" * 59 + "class A:\n    @staticmethod\n    def long():\n"
                    + "        x = 1\n" * 60)
    assert long_functions(str(path)) == [f"{os.path.relpath(str(path), ROOT)}:63 long (62 lines)"]
