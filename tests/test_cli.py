import os
import subprocess
import sys

import pytest

from dlqos import cli
from tests.conftest import write_fashion_like_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_steps_lists_dense(capsys):
    assert cli.main(["steps"]) == cli.EXIT_OK
    assert "dense" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["steps"], ["run"], ["study"]])
def test_help_on_every_command(command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(command + ["--help"])
    assert exit_info.value.code == 0


def test_unknown_step_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "bogus"])
    assert exit_info.value.code == 2


def test_corrupt_input_gives_one_line_error_and_no_output(tmp_path, capsys):
    data = write_fashion_like_dir(str(tmp_path / "data"), n_train=20, n_eval=10)
    (tmp_path / "data" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b corrupt gzip")
    out = tmp_path / "out"
    code = cli.main(["run", "dense", "--data-dir", data, "--output-dir", str(out)])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_USAGE
    assert error[-1].startswith("dlqos: error: ") and "train-images-idx3-ubyte.gz" in error[-1]
    assert not (out / "serving").exists() and not (out / "pipelines").exists()


def test_missing_data_dir_file_is_named(tmp_path, capsys):
    code = cli.main(["run", "dense", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")])
    assert code == cli.EXIT_USAGE
    assert "train-images-idx3-ubyte.gz is missing" in capsys.readouterr().err


def test_console_entry_point_runs_without_tensorflow_import():
    """`dlqos steps` must be instant: the CLI imports TensorFlow only in commands that train."""
    code = "import sys; from dlqos.cli import main; main(['steps']); print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
