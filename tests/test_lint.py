"""The linter over every package, with the rules in pyproject.toml ([tool.ruff]): pyflakes, syntax and
statement errors, ambiguous names, call or mutable defaults."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["dlqos", "pipeline", "components", "serving", "benchmarks", "tests"]


def test_ruff_finds_nothing():
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")
    done = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", *PACKAGES], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
