"""Shared fixtures: small datasets in the real on-disk formats, made by the tests themselves."""
from __future__ import annotations


import pytest

import common  # noqa: F401  (legacy Keras switch before TensorFlow loads)
from tests.helpers import write_fashion_like_dir

# Fixtures defined beside the helpers they use, available to every test module.
pytest_plugins = ["tests.models.steps.trainer"]


@pytest.fixture
def fashion_dir(tmp_path):
    return write_fashion_like_dir(str(tmp_path / "fashion"))
