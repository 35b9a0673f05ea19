import json

import pytest

from dlqos.bench import bench_devices


@pytest.mark.slow
def test_device_bench_measures_each_strategy_and_writes_the_report_input(tmp_path):
    path = bench_devices(str(tmp_path), ["dense"], batch=32, steps_per_epoch=3, epochs=1)
    with open(path) as f:
        results = json.load(f)["results"]
    by_strategy = {r["strategy"]: r for r in results}
    assert set(by_strategy) >= {"cpu", "mirrored (2 logical CPUs)"}, results
    assert by_strategy["cpu"]["replicas"] == 1 and by_strategy["mirrored (2 logical CPUs)"]["replicas"] == 2
    assert by_strategy["mirrored (2 logical CPUs)"]["global_batch"] == 64
    assert all(r["examples_per_second"] > 0 and r["step"] == "dense" for r in results)
