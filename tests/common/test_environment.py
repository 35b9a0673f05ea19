"""common.environment: the versions and machine a Trainer records, and the report's rows of seeds, versions and
machine per run shown."""
from __future__ import annotations

import os
import platform
from importlib.metadata import version

import pytest
import tensorflow as tf

from common import environment
from dlqos import compare, report, runs
from models.steps import STEPS


def test_versions_are_the_installed_distributions():
    found = environment.versions()
    assert found["python"] == platform.python_version()
    assert found["tensorflow"] == tf.__version__ == version("tensorflow")
    assert found["tfx"] == version("tfx") and found["tfma"] == version("tensorflow-model-analysis")
    assert found["beam"] == version("apache-beam")
    assert list(found) == ["python", *environment.DISTRIBUTIONS]


def test_machine_reads_the_cpu_cores_memory_and_accelerators():
    found = environment.machine()
    with open("/proc/meminfo") as f:
        kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    assert found["memory_gib"] == pytest.approx(kib / 2 ** 20, abs=0.05)
    assert found["cores"] == len(os.sched_getaffinity(0)) and found["host_cores"] == os.cpu_count()
    assert len(found["accelerators"]) == len(tf.config.list_physical_devices("GPU"))
    assert found["cpu"] and found["cpu"] != "?"


def test_the_descriptions_name_every_part():
    versions = {"python": "3.13.5", "tfx": "1.21.0", "tensorflow": "2.19.1"}
    assert environment.describe_versions(versions) == ("python 3.13.5, tfx 1.21.0, tensorflow 2.19.1, tfma ?, "
                                                       "tft ?, tf_keras ?, beam ?")
    machine = {"cpu": "Xeon", "cores": 2, "host_cores": 2, "memory_gib": 23.4, "accelerators": []}
    assert environment.describe_machine(machine) == "Xeon, 2 cores, 23.4 GiB, no accelerator"
    gpu = {**machine, "cores": 16, "host_cores": 64, "accelerators": ["NVIDIA H200", "NVIDIA H200"]}
    assert environment.describe_machine(gpu) == "Xeon, 16 cores (of 64), 23.4 GiB, NVIDIA H200, NVIDIA H200"


def _record(seed, env):
    return {"seed": seed, "environment": env, "history": {}} if env else {"history": {}}


def test_report_rows_group_the_runs_by_environment():
    """A step's run; a comparison whose variants ran on two machines (two rows, each with its seeds); an old
    record without an environment (not recorded)."""
    here = environment.environment()
    there = {**here, "machine": {**here["machine"], "cpu": "Another CPU"}}
    run = runs.StepRun(step=STEPS["dense"], run_id="r1", blessed=True, pushed_to=None, baseline_model=None,
                            model_dir=None, training=_record(42, here))
    old = runs.StepRun(step=STEPS["cnn"], run_id="r2", blessed=True, pushed_to=None, baseline_model=None,
                            model_dir=None, training={"history": {}})
    variants = [compare.Variant(name=compare.variant_name("adam", seed), optimizer="adam", seed=seed, run_id="c",
                                settings={}, training=_record(seed, env))
                for seed, env in ((1, here), (2, there), (3, here))]
    rows = report.environment_rows([run, old], [report.Comparison(STEPS["dense"], variants)])
    assert rows[0] == ["run", "seeds", "versions", "machine"]
    described = environment.describe_versions(here["versions"]), environment.describe_machine(here["machine"])
    assert rows[1] == ["dense (run r1)", "42", *described]
    assert rows[2] == ["cnn (run r2)", "not recorded", "not recorded", "not recorded"]
    assert rows[3] == ["dense compared (3 variants)", "1, 3", *described]
    assert rows[4][1] == "2" and rows[4][3].startswith("Another CPU, ")


def test_the_source_fingerprint_changes_with_any_source_file(tmp_path, monkeypatch):
    for package in environment.SOURCE_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "module.py").write_text("VALUE = 1\n")
    (tmp_path / "data" / "notes.txt").write_text("not code")
    monkeypatch.setattr(environment, "PROJECT_ROOT", str(tmp_path))
    before = environment.source_fingerprint()
    assert before == environment.source_fingerprint()
    (tmp_path / "data" / "notes.txt").write_text("still not code")
    assert environment.source_fingerprint() == before
    (tmp_path / "pipeline" / "module.py").write_text("VALUE = 2\n")
    assert environment.source_fingerprint() != before
