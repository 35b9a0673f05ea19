import os
import time
import uuid

import pytest
from tfx.types import standard_artifacts
from tfx.utils import io_utils, proto_utils
from tfx.proto import pusher_pb2

from components.pusher import STALE_STAGING_S, AtomicPushExecutor
from serving.warmup import WARMUP_FILE
from tests.helpers import save_tiny_model


def _inputs_outputs(tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    save_tiny_model(str(tmp_path / "model" / "Format-Serving"))
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving" / "m")))
    return ({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
            {"push_destination": proto_utils.proto_to_json(destination)})


def test_push_lands_whole_version_and_no_staging(tmp_path):
    inputs, outputs, properties = _inputs_outputs(tmp_path)
    AtomicPushExecutor().Do(inputs, outputs, properties)
    base = tmp_path / "serving" / "m"
    versions = os.listdir(base)
    assert len(versions) == 1 and versions[0].isdigit()
    pushed_dir = base / versions[0]
    assert (pushed_dir / "saved_model.pb").read_bytes() == \
        (tmp_path / "model" / "Format-Serving" / "saved_model.pb").read_bytes()
    assert (pushed_dir / WARMUP_FILE).stat().st_size > 0
    pushed = outputs["pushed_model"][0]
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == str(base / versions[0])


def test_interrupted_push_leaves_no_version(tmp_path, monkeypatch):
    inputs, outputs, properties = _inputs_outputs(tmp_path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(io_utils, "copy_file", crash)  # saved_model.pb is copied last: fail there
    with pytest.raises(OSError, match="disk full"):
        AtomicPushExecutor().Do(inputs, outputs, properties)
    assert os.listdir(tmp_path / "serving" / "m") == []


def test_unblessed_model_is_not_pushed(tmp_path):
    inputs, outputs, properties = _inputs_outputs(tmp_path)
    inputs["model_blessing"][0].set_int_custom_property("blessed", 0)
    AtomicPushExecutor().Do(inputs, outputs, properties)
    assert os.listdir(tmp_path / "serving" / "m") == []
    assert outputs["pushed_model"][0].get_int_custom_property("pushed") == 0


def test_next_push_removes_staging_left_by_killed_pushes_and_keeps_one_in_progress(tmp_path):
    inputs, outputs, properties = _inputs_outputs(tmp_path)
    base = tmp_path / "serving" / "m"
    now = int(time.time())
    uid = uuid.uuid4().hex
    left = [f".staging-{uid}", f".staging-{now - STALE_STAGING_S - 60}-{uid}"]  # the old name form, an old push
    running = f".staging-{now - 60}-{uid}"
    for name in left + [running]:
        (base / name / "1" / "variables").mkdir(parents=True)
    AtomicPushExecutor().Do(inputs, outputs, properties)
    remaining = sorted(os.listdir(base))
    assert remaining[0] == running and len(remaining) == 2 and remaining[1].isdigit()
