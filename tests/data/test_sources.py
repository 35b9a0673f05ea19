"""data/sources.py's atomic_file and atomic_directory: the one stage-then-rename used wherever data/ writes the
cache or examples."""
import os

import pytest

from data.sources import atomic_directory, atomic_file


def _listing(path):
    return sorted(os.listdir(path))


def test_atomic_file_replaces_the_target_only_when_the_block_completes(tmp_path):
    target = tmp_path / "data.idx.gz"
    target.write_text("previous")
    with atomic_file(str(target)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp).startswith(".partial-")
        assert tmp.endswith("-data.idx.gz")  # writers choosing a format by extension see the target's
        assert target.read_text() == "previous"
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new" and _listing(tmp_path) == ["data.idx.gz"]


@pytest.mark.parametrize("stop", [OSError("disk full"), KeyboardInterrupt()])
def test_atomic_file_failed_or_interrupted_keeps_the_previous_target_and_no_partial(tmp_path, stop):
    target = tmp_path / "data.bin"
    target.write_text("previous")
    with pytest.raises(type(stop)):
        with atomic_file(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise stop
    assert target.read_text() == "previous" and _listing(tmp_path) == ["data.bin"]


def test_atomic_file_creates_the_target_folder_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "new" / "dir" / "file"
    with pytest.raises(ValueError):
        with atomic_file(str(target)):
            raise ValueError
    assert _listing(tmp_path / "new" / "dir") == []
    with atomic_file(str(target)) as tmp:
        open(tmp, "w").close()
    assert _listing(tmp_path / "new" / "dir") == ["file"]


@pytest.mark.parametrize("stop", [RuntimeError("any error"), KeyboardInterrupt()])
def test_atomic_directory_replaces_only_when_complete(tmp_path, stop):
    """A failure or interrupt while writing keeps the previous directory and leaves no partial directory;
    completion replaces it whole."""
    out = tmp_path / "examples"
    out.mkdir()
    (out / "old").write_text("previous")
    with pytest.raises(type(stop)):
        with atomic_directory(str(out)) as staging:
            assert os.path.basename(staging).startswith(".partial-") and os.path.dirname(staging) == str(tmp_path)
            os.makedirs(os.path.join(staging, "train"))
            open(os.path.join(staging, "train", "half"), "w").close()
            raise stop
    assert _listing(tmp_path) == ["examples"] and _listing(out) == ["old"]
    with atomic_directory(str(out)) as staging:
        open(os.path.join(staging, "new"), "w").close()
    assert _listing(out) == ["new"] and _listing(tmp_path) == ["examples"]
