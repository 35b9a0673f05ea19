"""Unwritable directories are one line and exit 2 (the Job's read-only root filesystem), not a traceback."""
import errno

import pytest

from dlqos import cli
from common.errors import ConfigError, unwritable_path_error, writable_directory


def test_an_output_directory_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=f"the output directory {blocker}/out is not writable"):
        writable_directory(str(blocker / "out"), "output directory")
    assert writable_directory(str(tmp_path / "new" / "out"), "output directory") == str(tmp_path / "new" / "out")


def test_only_refused_writes_become_usage_errors():
    refused = OSError(errno.EROFS, "Read-only file system", "/work/.cache/dlqos/datasets/artifacts")
    message = str(unwritable_path_error(refused))
    assert "/work/.cache/dlqos/datasets/artifacts" in message and "DLQOS_DATA_CACHE" in message
    assert unwritable_path_error(OSError(errno.ENOENT, "No such file or directory", "/x")) is None
    assert unwritable_path_error(OSError(errno.EROFS, "Read-only file system")) is None  # no path to name


def test_a_refused_write_anywhere_in_a_command_is_one_line_exit_2(monkeypatch, capsys):
    import data

    def read_only_cache(name):
        raise OSError(errno.EROFS, "Read-only file system", "/work/.cache/dlqos/datasets/fashion_mnist")

    monkeypatch.setattr(data, "get_dataset", read_only_cache)
    assert cli.main(["data", "fetch", "fashion_mnist"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dlqos: error: cannot write /work/.cache/dlqos/datasets/fashion_mnist")
