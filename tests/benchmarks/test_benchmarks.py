"""Every script under benchmarks/ runs on tiny sizes and prints its table, so a change that breaks one fails here.
The numbers of such tiny runs mean nothing; the recorded measurements are in docs/benchmarks.md."""
import os
import subprocess
import sys

import pytest

from tests.helpers import fetch_flink_jars, write_fashion_like_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    return write_fashion_like_dir(str(tmp_path_factory.mktemp("fashion")), n_train=600, n_eval=600)


def run_benchmark(script: str, *args: str) -> str:
    """The script's output; a failed run shows its stderr's tail."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def table_rows(output: str, header: str, first_word: str) -> list:
    """The table's rows (lines starting with first_word) after its header line, which must be printed; other
    lines (Keras' progress from inside a pipeline) are not the table's."""
    lines = output.splitlines()
    starts = [index for index, line in enumerate(lines) if header in line]
    assert starts, output
    return [line for line in lines[starts[0] + 1:] if line.split()[:1] == [first_word]]


@pytest.mark.e2e
def test_tfx_overhead_prints_keras_and_pipeline_side_by_side(raw_dir):
    output = run_benchmark("tfx_overhead.py", "--sizes", "300", "--epochs", "1", "--data-dir", raw_dir)
    row = table_rows(output, "keras acc", "300")[0].split()
    assert row[:2] == ["300", "500"], output  # train, eval 
    assert float(row[2]) > 0 and float(row[4]) > 0 and float(row[5]) > 0, output  # keras s, tfx s, ratio
    assert "Trainer" in output, output  # the slowest components, read from ML Metadata


@pytest.mark.e2e
def test_input_pipeline_prints_each_reader_against_in_memory_arrays(raw_dir):
    output = run_benchmark("input_pipeline.py", "--train", "256", "--epochs", "1", "--data-dir", raw_dir)
    rates = [line for line in output.splitlines() if "x of in-memory" in line]
    assert len(rates) == 5, output  # in-memory, then raw and materialized examples with and without the cache
    assert "1.00x of in-memory" in rates[0], output


@pytest.mark.e2e
def test_scaling_prints_three_sizes_and_the_growth_exponent(raw_dir):
    output = run_benchmark("scaling.py", "--base", "20", "--modes", "in_memory", "--data-dir", raw_dir)
    rows = table_rows(output, "peak RSS MB", "in_memory")
    assert [row.split()[1] for row in rows[:3]] == ["1x", "4x", "16x"], output
    assert "growth exponent 1x->16x" in rows[3], output


@pytest.mark.slow
def test_data_conversion_prints_the_rate_and_the_targets(raw_dir):
    output = run_benchmark("data_conversion.py", "--repeats", "1", "--data-dir", raw_dir)
    row = table_rows(output, "examples/s", "1,200")[0]
    assert "targets:" in row, output


@pytest.mark.slow
def test_serving_latency_prints_every_path_and_the_goals():
    output = run_benchmark("serving_latency.py", "--models", "dense", "--clients", "1", "2", "--requests", "10",
                           "--warmup", "2", "--rounds", "1", "--large", "20", "--large-rounds", "1")
    for path in ("in-process", "gRPC status", "gRPC batching", "REST batching"):
        assert f"dense  {path}" in output, output
    assert "goals" in output and "throughput at 2 clients with batching / without" in output, output


@pytest.mark.flink
def test_flink_fixed_cost_prints_local_and_the_shared_job_server_side_by_side(raw_dir):
    fetch_flink_jars()
    fetch_flink_jars("cluster")
    output = run_benchmark("flink_fixed_cost.py", "--train", "100", "--eval", "60", "--modes", "local", "shared",
                           "--data-dir", raw_dir)
    local = table_rows(output, "job servers", "local")
    shared = table_rows(output, "job servers", "shared")
    assert float(local[0].split()[1]) > 0 and float(shared[0].split()[2]) != 0, output  # seconds; fixed seconds
    assert shared[0].split()[-2:] == ["1", "1"], output  # one job server for the run, alone


@pytest.mark.e2e
def test_rerun_cache_prints_the_cold_and_cached_runs(raw_dir):
    output = run_benchmark("rerun_cache.py", "--train", "200", "--epochs", "1", "--data-dir", raw_dir)
    rows = {line[:22].strip(): line[22:].split() for line in output.splitlines()[1:] if "cached," in line}
    assert rows["cold"][1:5] == ["0", "cached,", "5", "ran"], output
    assert rows["same data and code"][1:5] == ["5", "cached,", "0", "ran"], output
    assert rows["learning rate changed"][1:5] == ["5", "cached,", "0", "ran"], output


@pytest.mark.e2e
def test_tuning_prints_the_default_and_the_tuned_accuracy(raw_dir):
    output = run_benchmark("tuning.py", "--steps", "dense", "--train", "200", "--eval", "100", "--epochs", "1",
                           "--trials", "2", "--trial-epochs", "1", "--seeds", "3", "--data-dir", raw_dir)
    row = table_rows(output, "best values", "dense")[0].split()
    assert row[1] == "3" and 0 <= float(row[2]) <= 1 and 0 <= float(row[3]) <= 1, output  # seed, accuracies
    assert float(row[4]) > 0, output  # the Tuner's seconds, from ML Metadata
    assert "2 trials of 1 epochs" in output, output


@pytest.mark.e2e
def test_study_jobs_prints_one_process_and_several_side_by_side(raw_dir):
    output = run_benchmark("study_jobs.py", "--jobs", "2", "--steps", "dense", "cnn", "--study-arg=--data-dir",
                           f"--study-arg={raw_dir}", "--study-arg=--max-train=200", "--study-arg=--max-eval=100",
                           "--study-arg=--epochs=1")
    lines = {line[:34].strip(): line[34:].split() for line in output.splitlines()[1:]}
    assert float(lines["one process, in turn"][0]) > 0 and float(lines["2 processes at once"][0]) > 0, output
    assert lines["2 processes at once"][2:] == ["(dense", "|", "cnn)"], output
    assert lines["ratio one / at once"][0].endswith("x"), output
