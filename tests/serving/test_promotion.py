"""Canary then stable: a new push is served as `canary` while `stable` stays; `dlqos promote` / `rollback` move
`stable` by rewriting models.config atomically, only to a version the server reports AVAILABLE; the stand-in
re-reads the file (--model_config_file_poll_wait_seconds) and requests to `stable` never fail meanwhile."""
import os
import threading
import time

import numpy as np
import pytest

from dlqos import cli
from serving.client import GrpcClient, RestClient
from serving.config import Rollout, read_models_config, write_atomically, write_config_files
from serving.standin import StandIn
from tests.helpers import save_tiny_model

X = [[1.0, 1.0, 1.0]]
SCALES = {1: 2.0, 2: 3.0, 3: 4.0}  # version -> its tiny model's scale: y = scale * x tells the version over REST


def _labels(path) -> dict:
    return dict(read_models_config(str(path)).model_config_list.config[0].version_labels)


def _versions(path) -> list:
    return list(read_models_config(str(path)).model_config_list.config[0].model_version_policy.specific.versions)


@pytest.fixture
def pushed(tmp_path):
    """tiny versions 1 and 2 pushed and serving-config run: stable 1, canary 2."""
    for version in (1, 2):
        save_tiny_model(str(tmp_path / "serving" / "tiny" / str(version)), SCALES[version])
    write_config_files(str(tmp_path / "serving"), str(tmp_path / "serving-config"))
    return tmp_path


@pytest.fixture
def server(pushed):
    """The stand-in serving the models.config serving-config wrote, re-reading it every 0.1 s."""
    path = str(pushed / "serving-config" / "models.config")
    standin = StandIn(read_models_config(path), rest_port=0, grpc_port=0, poll_seconds=3600, config_file=path,
                      config_poll_seconds=0.1).start()
    yield standin
    standin.stop()


def test_rollout_moves():
    fresh = Rollout.fresh([1, 2])
    assert fresh == Rollout((1, 2), stable=1, canary=2)
    promoted = fresh.promoted("tiny")
    assert promoted == Rollout((1, 2), stable=2, canary=None)  # the old stable stays served: the rollback target
    assert promoted.rolled_back("tiny") == Rollout((1, 2), stable=1)  # 2 stays served, unlabelled
    assert promoted.after_push([1, 2, 3], 2) == Rollout((2, 3), stable=2, canary=3)  # a new push: canary
    assert promoted.after_push([1, 2, 3], 3) == Rollout((1, 2, 3), stable=2, canary=3)
    rolled_back = promoted.rolled_back("tiny")
    assert rolled_back.after_push([1, 2], 2) == rolled_back  # the version rolled back from is no new push
    assert fresh.after_push([1, 2, 3], 2) == Rollout((1, 3), stable=1, canary=3)  # 3 replaces the untried canary
    assert fresh.after_push([1], 2) == Rollout((1,), stable=1)  # the canary no longer loads
    with pytest.raises(cli.DlqosError, match="no `canary` version to promote"):
        promoted.promoted("tiny")
    with pytest.raises(cli.DlqosError, match="no version older than stable version 1"):
        fresh.rolled_back("tiny")


def test_serving_config_keeps_stable_and_makes_a_new_push_the_canary(pushed):
    config = pushed / "serving-config" / "models.config"
    assert (_versions(config), _labels(config)) == ([1, 2], {"stable": 1, "canary": 2})
    save_tiny_model(str(pushed / "serving" / "tiny" / "3"), SCALES[3])
    (pushed / "serving" / "tiny" / "4").mkdir()  # a bad push is never the canary
    write_config_files(str(pushed / "serving"), str(pushed / "serving-config"))
    assert (_versions(config), _labels(config)) == ([1, 3], {"stable": 1, "canary": 3})
    write_config_files(str(pushed / "serving"), str(pushed / "serving-config"))  # nothing new: unchanged
    assert (_versions(config), _labels(config)) == ([1, 3], {"stable": 1, "canary": 3})


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "models.config"
    path.write_text("old")

    def power_cut(fd):
        raise KeyboardInterrupt  # after the new text was written to the temporary file, before the rename

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(path), "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["models.config"]
    monkeypatch.undo()
    write_atomically(str(path), "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["models.config"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def _one_line_error(argv, capsys) -> str:
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_promotion_refuses_a_version_the_server_does_not_report_available(pushed, capsys):
    """The server runs an older file (stable 1, no canary loaded): promoting to 2 is refused, the file kept."""
    path = pushed / "serving-config" / "models.config"
    text = path.read_text()
    only_1 = read_models_config(str(path))
    Rollout((1,), stable=1).write_to(only_1.model_config_list.config[0])
    standin = StandIn(only_1, rest_port=0, grpc_port=0, poll_seconds=3600).start()  # never re-reads the file
    try:
        rest = f"http://127.0.0.1:{standin.rest_port}"
        error = _one_line_error(["promote", "tiny", "--models-config", str(path), "--rest", rest], capsys)
        assert "tiny version 2 is not AVAILABLE" in error and "Could not find version 2" in error
        assert path.read_text() == text
        (pushed / "serving" / "tiny" / "2" / "saved_model.pb").write_bytes(b"truncated")
        standin.registry.refresh()  # version 2 does not load: END with its error
        standin.registry.apply(read_models_config(str(path)))
        error = _one_line_error(["promote", "tiny", "--models-config", str(path), "--grpc",
                                 f"127.0.0.1:{standin.grpc_port}"], capsys)
        assert "tiny version 2 is not AVAILABLE" in error and "(END:" in error
        assert path.read_text() == text
        assert "no version older than stable version 1" in _one_line_error(
            ["rollback", "tiny", "--models-config", str(path), "--rest", rest], capsys)
    finally:
        standin.stop()


def test_a_bad_config_file_never_drops_what_is_served(server, pushed):
    path = pushed / "serving-config" / "models.config"
    good = path.read_text()
    path.write_text(good[:40])  # does not parse
    assert not server.reload_config()
    (pushed / "serving" / "tiny" / "3").mkdir()  # stable on a version that does not load: refused
    write_atomically(str(path), good.replace("value: 1\n", "value: 3\n").replace("versions: 1\n", "versions: 3\n"))
    assert not server.reload_config()
    grpc = GrpcClient(f"127.0.0.1:{server.grpc_port}", retries=0)
    assert grpc.predict_response("tiny", {"x": np.array(X, np.float32)}, label="stable").model_spec.version.value == 1
    assert grpc.version_state("tiny", 3)[0] == "END"
    assert not server.reload_config()  # the same refused file is not tried again
    write_atomically(str(path), good)
    assert server.reload_config()


class _StableTraffic:
    """Requests to the `stable` label, back to back over REST and gRPC, until stopped: which version answered each
    (gRPC: the response's model_spec.version; REST: the output, each version having its own scale) and errors."""

    def __init__(self, server: StandIn):
        self.rest = RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0)
        self.grpc = GrpcClient(f"127.0.0.1:{server.grpc_port}", retries=0)
        self.seen = {"rest": [], "grpc": []}
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(kind,)) for kind in self.seen]
        for thread in self._threads:
            thread.start()

    def _once(self, kind: str) -> int:
        if kind == "grpc":
            return self.grpc.predict_response("tiny", {"x": np.array(X, np.float32)}, label="stable"
                                              ).model_spec.version.value
        scale = self.rest.predict("tiny", instances=X, label="stable")["predictions"][0]["y"][0]
        return {value: version for version, value in SCALES.items()}[scale]

    def _send(self, kind: str) -> None:
        while not self._stop.is_set():
            try:
                self.seen[kind].append(self._once(kind))
            except Exception as error:  # recorded: the test asserts there is none
                self.errors.append(f"{kind}: {error}")

    def wait_for(self, version: int, timeout: float = 10.0) -> None:
        """Until both kinds' latest answers come from `version`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(s and s[-1] == version for s in self.seen.values()):
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _runs(versions: list) -> list:
    """The versions in the order they answered, each run of equal ones collapsed."""
    return [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]


def test_stable_traffic_never_fails_through_a_promotion_and_a_rollback(server, pushed, capsys):
    path = str(pushed / "serving-config" / "models.config")
    rest = f"http://127.0.0.1:{server.rest_port}"
    grpc = f"127.0.0.1:{server.grpc_port}"
    assert cli.main(["predict", "tiny", "--input", "[[1, 1, 1]]", "--label", "canary", "--rest", rest]) == 0
    assert '"y": [3.0, 3.0, 3.0]' in capsys.readouterr().out  # the canary is version 2
    traffic = _StableTraffic(server)
    try:
        traffic.wait_for(1)
        assert cli.main(["promote", "tiny", "--models-config", path, "--rest", rest]) == cli.EXIT_OK
        assert "tiny: stable 1 -> 2, canary 2 -> none" in capsys.readouterr().out
        assert _labels(path) == {"stable": 2}
        traffic.wait_for(2)
        assert cli.main(["rollback", "tiny", "--models-config", path, "--grpc", grpc]) == cli.EXIT_OK
        assert "tiny: stable 2 -> 1, canary none -> none" in capsys.readouterr().out
        traffic.wait_for(1)
    finally:
        traffic.stop()
    assert traffic.errors == []
    for kind, versions in traffic.seen.items():
        assert _runs(versions) == [1, 2, 1], kind  # each switch seen once, at the poll, never back and forth
    assert (_versions(path), _labels(path)) == ([1, 2], {"stable": 1})


def test_config_polling_needs_the_file_to_poll(pushed, capsys):
    error = _one_line_error(["serve", "--output-dir", str(pushed), "--model_config_file_poll_wait_seconds", "1"],
                            capsys)
    assert "--model_config_file_poll_wait_seconds needs --models-config" in error


def test_promotion_names_a_server_it_cannot_reach(pushed, capsys):
    path = pushed / "serving-config" / "models.config"
    error = _one_line_error(["promote", "tiny", "--models-config", str(path), "--rest", "http://127.0.0.1:9",
                             "--timeout", "2"], capsys)
    assert "tiny version 2 is not AVAILABLE on http://127.0.0.1:9 (unknown: cannot reach" in error
    assert _labels(path) == {"stable": 1, "canary": 2}
