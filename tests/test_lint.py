"""The linter over every package, with the rules in pyproject.toml ([tool.ruff]): pyflakes, syntax and
statement errors, ambiguous names, call or mutable defaults; no function longer than MAX_FUNCTION_LINES; and in
the documents (README.md, docs/*.md; docs/results/ holds dated logs and is left out), no table cell longer than
MAX_TABLE_CELL characters and no backquoted repository path that does not exist."""
import ast
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["common", "data", "serving", "models", "components", "pipeline", "dlqos", "benchmarks", "tests"]
MAX_FUNCTION_LINES = 60
MAX_TABLE_CELL = 200
PATH_FOLDERS = ("common", "data", "serving", "models", "components", "pipeline", "dlqos", "tests", "scripts", "k8s",
                "benchmarks", "docs")
PLACEHOLDER_CHARACTERS = set("<>*{")


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


def documents() -> list:
    """README.md and the top-level docs/*.md files."""
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def prose_lines(path: str) -> list:
    """(line number, text) of each line of a Markdown file outside fenced code blocks."""
    lines = []
    fenced = False
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced:
                lines.append((number, line.rstrip("\n")))
    return lines


def table_cells(row: str) -> list:
    """The cells of a Markdown table row: split on the pipes that are neither escaped nor inside backquotes."""
    cells = [""]
    in_code = False
    previous = ""
    for character in row.strip().strip("|"):
        if character == "`":
            in_code = not in_code
        if character == "|" and not in_code and previous != "\\":
            cells.append("")
        else:
            cells[-1] += character
        previous = character
    return [cell.strip() for cell in cells]


def long_table_cells(path: str, limit: int = MAX_TABLE_CELL) -> list:
    """'path:line cell N (L characters)' for each table cell of the file longer than limit."""
    found = []
    for number, line in prose_lines(path):
        if line.lstrip().startswith("|"):
            found += [f"{os.path.relpath(path, ROOT)}:{number} cell {index} ({len(cell)} characters)"
                      for index, cell in enumerate(table_cells(line), 1) if len(cell) > limit]
    return found


def missing_paths(path: str, root: str = ROOT) -> list:
    """'path:line token' for each backquoted word of the file that names a repository path under one of
    PATH_FOLDERS (a pytest node id's '::test' part aside) that does not exist under root; words with a placeholder
    or glob character are skipped."""
    found = []
    for number, line in prose_lines(path):
        for span in re.findall(r"`([^`]+)`", line):
            for word in span.split():
                target = word.split("::")[0]
                if (target.split("/")[0] in PATH_FOLDERS and "/" in target
                        and not PLACEHOLDER_CHARACTERS & set(target)
                        and not os.path.exists(os.path.join(root, target))):
                    found.append(f"{os.path.relpath(path, ROOT)}:{number} {word}")
    return found


def test_no_document_table_cell_is_longer_than_the_limit():
    offenders = [line for path in documents() for line in long_table_cells(path)]
    assert not offenders, (f"table cells over {MAX_TABLE_CELL} characters (keep a short phrase in the cell, the "
                           "details in bullets under the table):\n" + "\n".join(offenders))


def test_every_path_the_documents_name_exists():
    offenders = [line for path in documents() for line in missing_paths(path)]
    assert not offenders, "paths named in the documents that do not exist:\n" + "\n".join(offenders)


def test_the_document_checks_see_a_long_cell_and_a_missing_path(tmp_path):
    """A 201-character cell is reported with its line, cell and length, a 200-character one and a pipe inside
    backquotes are not; a missing path is reported, an existing one, a placeholder and a fenced block are not."""
    path = tmp_path / "doc.md"
    path.write_text("| a | b |\n| --- | --- |\n| `x|y` | " + "b" * 200 + " |\n| c | " + "d" * 201 + " |\n"
                    "`tests/test_lint.py::test_ruff_finds_nothing` `models/steps/absent.py` `tests/<name>.py`\n"
                    "```\n`docs/absent.md`\n```\n")
    relative = os.path.relpath(str(path), ROOT)
    assert long_table_cells(str(path)) == [f"{relative}:4 cell 2 (201 characters)"]
    assert missing_paths(str(path)) == [f"{relative}:5 models/steps/absent.py"]
