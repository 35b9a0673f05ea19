"""TF Serving's availability-preserving version policy in the stand-in: the served version stays until a newer
one is AVAILABLE, a bad version is reported (END with its error) without touching the others, versions that
reappear are loaded again, and the poller survives any directory name and any load error."""
import shutil
import time

import numpy as np
import pytest

from serving.client import RestClient
from serving.config import models_config
from serving.standin import StandIn
from tests.helpers import save_tiny_model

X = [[1.0, 1.0, 1.0]]


@pytest.fixture
def serve(tmp_path):
    """Start a stand-in over tmp_path/serving (policy: latest `num_versions`); stopped after the test."""
    started = []

    def start(num_versions: int = 1, poll_seconds: float = 3600) -> StandIn:
        config = models_config(str(tmp_path / "serving"), num_versions=num_versions)
        started.append(StandIn(config, rest_port=0, grpc_port=0, poll_seconds=poll_seconds).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _scale(server: StandIn, model: str = "tiny") -> float:
    rest = RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0)
    return rest.predict(model, instances=X)["predictions"][0]["y"][0]


def _states(server: StandIn, model: str = "tiny") -> dict:
    rest = RestClient(f"http://127.0.0.1:{server.rest_port}", retries=0)
    return {int(s["version"]): (s["state"], s["status"]["error_message"])
            for s in rest.status(model)["model_version_status"]}


def _bad_versions(model_dir) -> None:
    """The issue's fault: a copy with a truncated saved_model.pb as version 2, then an empty version 3."""
    shutil.copytree(model_dir / "1", model_dir / "2")
    pb = model_dir / "2" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:100])
    (model_dir / "3").mkdir()


def test_bad_newer_versions_never_unload_the_served_one(tmp_path, serve):
    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    server = serve(num_versions=2)  # `dlqos serve`'s policy: the newest two, here the two bad ones
    _bad_versions(model_dir)
    server.registry.refresh()
    assert _scale(server) == 2.0
    states = _states(server)
    assert states[1] == ("AVAILABLE", "") and states[2][0] == states[3][0] == "END"
    assert states[2][1] and states[3][1]  # each failure says why
    shutil.rmtree(model_dir / "2")
    shutil.rmtree(model_dir / "3")
    server.registry.refresh()
    assert _scale(server) == 2.0
    save_tiny_model(str(model_dir / "4"), 5.0)
    save_tiny_model(str(model_dir / "5"), 6.0)
    server.registry.refresh()
    assert _scale(server) == 6.0 and _states(server)[1][0] == "END"  # unloaded once 4 and 5 are AVAILABLE


def test_a_model_directory_moved_away_and_back_keeps_serving(tmp_path, serve):
    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    server = serve()
    model_dir.rename(tmp_path / "away")
    server.registry.refresh()
    assert _scale(server) == 2.0
    (tmp_path / "away").rename(model_dir)
    server.registry.refresh()
    assert _scale(server) == 2.0 and _states(server)[1][0] == "AVAILABLE"


def test_a_version_that_reappears_is_loaded_again(tmp_path, serve):
    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    server = serve(num_versions=1)
    save_tiny_model(str(model_dir / "2"), 3.0)
    server.registry.refresh()
    assert _scale(server) == 3.0 and _states(server)[1][0] == "END"
    shutil.rmtree(model_dir / "2")  # a rolled-back push: version 1 is the latest again
    server.registry.refresh()
    assert _scale(server) == 2.0 and _states(server)[1][0] == "AVAILABLE"


def test_a_failed_version_is_retried_after_it_reappears(tmp_path, serve):
    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    server = serve(num_versions=1)
    (model_dir / "2").mkdir()
    server.registry.refresh()
    assert _states(server)[2][0] == "END"
    (model_dir / "2").rmdir()
    server.registry.refresh()
    save_tiny_model(str(model_dir / "2"), 7.0)  # pushed properly this time
    server.registry.refresh()
    assert _scale(server) == 7.0 and _states(server)[2] == ("AVAILABLE", "")


def test_a_bad_version_of_one_model_leaves_the_others_alone(tmp_path, serve):
    save_tiny_model(str(tmp_path / "serving" / "tiny" / "1"), 2.0)
    save_tiny_model(str(tmp_path / "serving" / "other" / "1"), 4.0)
    server = serve(num_versions=1)
    (tmp_path / "serving" / "tiny" / "2").mkdir()
    save_tiny_model(str(tmp_path / "serving" / "other" / "2"), 6.0)
    server.registry.refresh()
    assert _scale(server, "tiny") == 2.0 and _scale(server, "other") == 6.0


def test_the_poller_survives_odd_directory_names_and_load_errors(tmp_path, serve):
    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    server = serve(num_versions=1, poll_seconds=0.2)
    (model_dir / "²").mkdir()
    (model_dir / "2").mkdir()  # fails to load
    time.sleep(1)
    save_tiny_model(str(model_dir / "3"), 9.0)
    deadline = time.monotonic() + 30
    while _scale(server) != 9.0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _scale(server) == 9.0
    assert np.isclose(_scale(server), 9.0) and _states(server)[2][0] == "END"


@pytest.mark.parametrize("num_versions", [1, 2])
def test_a_restart_serves_the_newest_version_that_loads(tmp_path, serve, num_versions):
    """The issue's fault at start: good 1, truncated 2, empty 3; what ran before the restart keeps running."""
    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    _bad_versions(model_dir)
    server = serve(num_versions=num_versions)
    assert _scale(server) == 2.0
    states = _states(server)
    assert states[1] == ("AVAILABLE", "") and states[2][0] == states[3][0] == "END"
    assert "saved_model.pb" in states[3][1] and states[2][1]
    assert server.registry.served_summary() == "tiny (version 1)"
    save_tiny_model(str(model_dir / "4"), 5.0)
    server.registry.refresh()
    assert _scale(server) == 5.0 and _states(server)[1][0] == "END"


def test_a_specific_policy_falls_back_to_nothing_it_does_not_name(tmp_path):
    from tensorflow_serving.config import model_server_config_pb2

    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    _bad_versions(model_dir)
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(name="tiny", base_path=str(model_dir), model_platform="tensorflow")
    entry.model_version_policy.specific.versions.append(2)
    server = StandIn(config, rest_port=0, grpc_port=0, poll_seconds=3600)
    assert server.registry.served_summary() == "tiny (no version loads: see its status)"
    assert sorted(_states(server.start())) == [2]
    server.stop()


def test_serving_config_pins_the_newest_versions_that_load(tmp_path):
    """TF Serving's start fails when a model's newest aspired version fails to load (docs/serving.md), so the
    models.config written for it names the versions that load instead of `latest`."""
    from serving.config import write_config_files

    model_dir = tmp_path / "serving" / "tiny"
    save_tiny_model(str(model_dir / "1"), 2.0)
    save_tiny_model(str(model_dir / "2"), 3.0)
    shutil.copytree(model_dir / "1", model_dir / "3")
    pb = model_dir / "3" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:100])
    (model_dir / "4").mkdir()
    paths = write_config_files(str(tmp_path / "serving"), str(tmp_path / "config"), base_path="/models")
    assert open(paths["models.config"]).read() == (
        'model_config_list {\n  config {\n    name: "tiny"\n    base_path: "/models/tiny"\n'
        '    model_platform: "tensorflow"\n    model_version_policy {\n      specific {\n        versions: 1\n'
        '        versions: 2\n      }\n    }\n    version_labels {\n      key: "canary"\n      value: 2\n    }\n'
        '    version_labels {\n      key: "stable"\n      value: 1\n    }\n  }\n}\n')
