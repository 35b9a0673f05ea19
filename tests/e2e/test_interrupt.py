"""Ctrl-C on the terminal (SIGINT to the whole process group) while a step's pipeline runs: one line, exit 130,
nothing pushed, the output directory usable by the next run."""
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import write_fashion_like_dir

pytestmark = pytest.mark.e2e
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ctrl_c_during_a_run_is_one_line_and_exit_130(tmp_path):
    data = write_fashion_like_dir(str(tmp_path / "data"), n_train=200, n_eval=50)
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "dlqos.cli", "run", "dense", "--data-dir", data, "--output-dir",
                            str(out), "--epochs", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    before = []
    for line in run.stderr:  # the data half is done: the Trainer is working
        before.append(line)
        if line.strip() == "[absl] Component Trainer is running.":
            break
    os.killpg(run.pid, signal.SIGINT)
    after = run.stderr.read()
    _ = run.wait(timeout=120)
    assert run.returncode == 130, "".join(before) + after
    assert after.splitlines() == ["dlqos: interrupted (SIGINT)"], after
    assert not (out / "serving").exists()
    done = subprocess.run([sys.executable, "-m", "dlqos.cli", "report", "--output-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
