"""Shared fixtures: small datasets in the real on-disk formats, made by the tests themselves."""
from __future__ import annotations


import pytest

import common  # noqa: F401  (legacy Keras switch before TensorFlow loads)
from tests.helpers import write_fashion_like_dir

# Fixtures defined beside the helpers they use, available to every test module.
pytest_plugins = ["tests.models.steps.trainer"]


# `make test` runs the suite in two pytest-xdist workers. Each module runs in one worker (its module fixtures are set
# up once), and so do the modules that share expensive set-up (SHARED_SETUP); the benchmarks' smoke tests share
# nothing and are spread one by one. The long groups go first (LONG_FIRST, in collection order: the Makefile passes
# --no-loadscope-reorder), so that the short ones fill the other worker.
SHARED_SETUP = {"tests/platform/test_image.py": "image", "tests/platform/test_infra_validation.py": "image",
                "tests/e2e/test_dense_pipeline.py": "dense_study", "tests/e2e/test_report.py": "dense_study"}
ONE_BY_ONE = ("tests/benchmarks/test_benchmarks.py",)
LONG_FIRST = ("image", "tests/pipeline/beam/test_flink.py", "dense_study")


def _group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return nodeid if path in ONE_BY_ONE else SHARED_SETUP.get(path, path)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return SharedSetupScheduling(config, log)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        group = _group(item.nodeid)
        return LONG_FIRST.index(group) if group in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)


@pytest.fixture
def fashion_dir(tmp_path):
    return write_fashion_like_dir(str(tmp_path / "fashion"))
