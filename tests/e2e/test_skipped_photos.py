"""Photos the ExampleGen skips (corrupt, decompression bomb) are warnings on the `dlqos` console, one per file with
the reason, although the reading runs in Beam: the executor logs what the pipeline collected once it has ended."""
import os
import subprocess
import sys

import pytest
from tests.helpers import bomb_and_dead_class, photo_folder


pytestmark = pytest.mark.e2e
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_each_skipped_photo_is_a_warning_on_the_console_naming_the_file_and_why(tmp_path):
    photos = photo_folder(str(tmp_path / "photos"))
    bomb_and_dead_class(photos)  # the tulips' every file is corrupt: the run fails after the ExampleGen's read
    done = subprocess.run([sys.executable, "-m", "dlqos.cli", "run", "transfer", "--dataset", "image_folder",
                           "--data-dir", photos, "--output-dir", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    warnings = sorted(line for line in lines if line.startswith("[dlqos.data] skipped "))
    assert len(warnings) == 4, done.stderr
    assert f"[dlqos.data] skipped {os.path.join(photos, 'roses', 'huge.png')}: not a readable image (" in warnings[0]
    assert "decompression bomb" in warnings[0]
    for index, warning in enumerate(warnings[1:]):
        prefix = f"[dlqos.data] skipped {os.path.join(photos, 'tulips', f'{index}.jpg')}: not a readable image ("
        assert warning.startswith(prefix) and len(warning) > len(prefix) + 1 and warning.endswith(")"), warning
    assert lines[-1].startswith("dlqos: error: ") and "class 'tulips' has no readable images" in lines[-1]
