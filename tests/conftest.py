"""Shared fixtures: small datasets in the real on-disk formats, made by the tests themselves."""
from __future__ import annotations

import os

import numpy as np
import pytest

import dlqos  # noqa: F401  (legacy Keras switch before TensorFlow loads)


def fashion_like_arrays(count: int, seed: int):
    """28x28 uint8 images whose class is a bright 7x7 block at one of 10 positions, over noise: learnable fast."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[index, row * 7:(row + 1) * 7, col * 7:(col + 1) * 7] = 255
    return images, labels


def write_fashion_like_dir(directory: str, n_train: int = 600, n_eval: int = 200) -> str:
    from components.datasets.fashion_mnist import FILES
    from components.datasets.idx import write_idx

    os.makedirs(directory, exist_ok=True)
    for split, count, seed in (("train", n_train, 1), ("eval", n_eval, 2)):
        images, labels = fashion_like_arrays(count, seed)
        write_idx(os.path.join(directory, FILES[f"{split}_images"]), images)
        write_idx(os.path.join(directory, FILES[f"{split}_labels"]), labels)
    return directory


@pytest.fixture
def fashion_dir(tmp_path):
    return write_fashion_like_dir(str(tmp_path / "fashion"))
