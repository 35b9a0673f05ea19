"""`dlqos serving-config`, `serve` and `predict` against a pushed model layout."""
import json
import threading
import time

import pytest

from dlqos import cli
from serving.config import BATCHING, read_models_config
from tests.conftest import save_tiny_model


@pytest.fixture
def output(tmp_path):
    for version, scale in ((10, 2.0), (20, 3.0)):
        save_tiny_model(str(tmp_path / "serving" / "tiny" / str(version)), scale)
    (tmp_path / "serving" / "tiny" / ".staging-x").mkdir()  # a push in progress is ignored
    return tmp_path


def test_serving_config_files(output, capsys):
    assert cli.main(["serving-config", "--output-dir", str(output), "--base-path", "/models"]) == cli.EXIT_OK
    config = read_models_config(str(output / "serving-config" / "models.config"))
    entry = config.model_config_list.config[0]
    assert (entry.name, entry.base_path, entry.model_platform) == ("tiny", "/models/tiny", "tensorflow")
    assert entry.model_version_policy.latest.num_versions == 2
    assert dict(entry.version_labels) == {"stable": 10, "canary": 20}
    assert "prometheus_config" in (output / "serving-config" / "monitoring.config").read_text()


@pytest.mark.parametrize("batching", [False, True])
def test_serve_then_predict_over_rest_and_grpc(output, capsys, batching):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    flags = []
    if batching:
        (output / "batching.config").write_text(BATCHING % 3)
        flags = ["--enable-batching", "--batching-parameters-file", str(output / "batching.config")]
    thread = threading.Thread(target=cli.main, daemon=True, args=(
        ["serve", "--output-dir", str(output), "--rest-port", str(ports[0]), "--grpc-port", str(ports[1])] + flags,))
    thread.start()
    time.sleep(3)
    announced = capsys.readouterr().out
    assert ("batching BatchingParameters(max_batch_size=32, batch_timeout_micros=2000, num_batch_threads=3)"
            in announced) == batching
    assert cli.main(["predict", "tiny", "--input", "[[1, 1, 1]]", "--rest", f"http://127.0.0.1:{ports[0]}"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["total"] == pytest.approx(9.0)
    assert cli.main(["predict", "tiny", "--input", "[[1, 1, 1]]", "--grpc", f"127.0.0.1:{ports[1]}",
                     "--label", "stable"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == pytest.approx([6.0])
    assert cli.main(["predict", "nope", "--input", "[[1, 1, 1]]", "--rest", f"http://127.0.0.1:{ports[0]}"]) == 1
    assert "Servable not found" in capsys.readouterr().err


def test_serve_without_models_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["serve", "--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert "no pushed models" in capsys.readouterr().err
