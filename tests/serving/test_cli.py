"""`dlqos serving-config`, `serve` and `predict` against a pushed model layout."""
import json
import threading
import time

import pytest

from dlqos import cli
from serving.config import BATCHING, read_models_config
from tests.helpers import save_tiny_model


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
    assert list(entry.model_version_policy.specific.versions) == [10, 20]  # pinned: both load
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
    assert announced.startswith("serving tiny (version 10, 20): REST")
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_a_grpc_port_another_server_holds(output, capsys):
    """gRPC binds with SO_REUSEPORT by default: without refusing, two servers would share the port's clients."""
    from concurrent import futures

    import grpc

    other = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        code = cli.main(["serve", "--output-dir", str(output), "--rest-port", str(_free_port()),
                         "--grpc-port", str(port)])
    finally:
        other.stop(grace=None)
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE and len(err.splitlines()) == 1
    assert f"gRPC port 127.0.0.1:{port} is already in use" in err and "--grpc-port" in err


def test_serve_refuses_a_rest_port_that_is_taken(output, capsys):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = cli.main(["serve", "--output-dir", str(output), "--rest-port", str(port),
                         "--grpc-port", str(_free_port())])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE and len(err.splitlines()) == 1 and f"REST port 127.0.0.1:{port}" in err


def test_predict_names_a_single_output_over_rest_and_grpc(tmp_path, capsys):
    """TF Serving omits a single output's name over REST; `dlqos predict` prints it named either way."""
    from serving.config import models_config
    from serving.standin import StandIn
    from tests.serving.conftest import save_half_plus_three

    save_half_plus_three(str(tmp_path / "serving" / "half_plus_three" / "1"))
    server = StandIn(models_config(str(tmp_path / "serving")), rest_port=0, grpc_port=0, poll_seconds=3600).start()
    try:
        rest = ["--rest", f"http://127.0.0.1:{server.rest_port}"]
        assert cli.main(["predict", "half_plus_three", "--input", "[1.0, 5.0]"] + rest) == cli.EXIT_OK
        assert json.loads(capsys.readouterr().out) == {"predictions": [{"y": 3.5}, {"y": 5.5}]}
        assert cli.main(["predict", "half_plus_three", "--input", '{"x": [1.0]}'] + rest) == cli.EXIT_OK
        assert json.loads(capsys.readouterr().out) == {"outputs": {"y": [3.5]}}
        grpc = ["--grpc", f"127.0.0.1:{server.grpc_port}"]
        assert cli.main(["predict", "half_plus_three", "--input", "[1.0]"] + grpc) == cli.EXIT_OK
        assert json.loads(capsys.readouterr().out) == {"y": [3.5]}
    finally:
        server.stop()


def _one_line_error(argv, capsys) -> str:
    """The single stderr line of a command refused as bad input (exit 2). `serve` runs in a thread on free ports:
    a server that starts instead of refusing fails the test rather than blocking it."""
    if argv[0] == "serve":
        argv = argv + ["--rest-port", "0", "--grpc-port", "0"]
    codes = []
    thread = threading.Thread(target=lambda: codes.append(cli.main(argv)), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert codes == [cli.EXIT_USAGE], f"{argv[0]} did not refuse: {capsys.readouterr()}"
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_predict_input_file_that_is_missing_or_not_json_is_named(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    error = _one_line_error(["predict", "tiny", "--input", f"@{missing}"], capsys)
    assert f"--input {missing}: cannot read it (No such file or directory)" in error
    garbage = tmp_path / "instances.json"
    garbage.write_text("[[1, 2,")
    error = _one_line_error(["predict", "tiny", "--input", f"@{garbage}"], capsys)
    assert f"--input {garbage} is not JSON" in error


def test_serve_names_a_missing_batching_file(output, capsys):
    missing = output / "batching.config"
    error = _one_line_error(["serve", "--output-dir", str(output), "--enable-batching",
                             "--batching-parameters-file", str(missing)], capsys)
    assert f"--batching-parameters-file {missing}" in error and "No such file or directory" in error


def test_serve_names_a_malformed_batching_file_and_what_is_wrong(output, capsys):
    bad = output / "batching.config"
    bad.write_text("max_batch_size { value: 32 }\nnum_batch_threads: four\n")
    error = _one_line_error(["serve", "--output-dir", str(output), "--enable-batching",
                             "--batching-parameters-file", str(bad)], capsys)
    assert f"--batching-parameters-file {bad}" in error and "line 2" in error and "num_batch_threads: four" in error


@pytest.mark.parametrize("text, problem", [
    ("model_config_list { config { name: 'tiny' base_path: '/m' } ", '1:59 : Expected "}"'),  # unclosed
    ("model_config_list { config { nme: 'tiny' } }", 'has no field named "nme"'),  # misspelt field
])
def test_serve_names_a_malformed_models_config_and_the_parse_error(output, capsys, text, problem):
    config = output / "models.config"
    config.write_text(text)
    error = _one_line_error(["serve", "--models-config", str(config)], capsys)
    assert f"--models-config {config}" in error and problem in error, error


def test_serve_names_a_missing_models_config(tmp_path, capsys):
    error = _one_line_error(["serve", "--models-config", str(tmp_path / "models.config")], capsys)
    assert f"--models-config {tmp_path / 'models.config'}" in error and "No such file or directory" in error
