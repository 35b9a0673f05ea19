"""CIFAR-10 (50k train / 10k test, 32x32 RGB, 10 classes): the paper's dataset for step 2 (`cnn`).

Sources, in order: --data-dir (the extracted `cifar-10-batches-py` folder, or the folder holding
`cifar-10-python.tar.gz`); the local cache; Keras' loader when online. No package registry carries CIFAR-10:
offline, download cifar-10-python.tar.gz elsewhere and pass its folder with --data-dir.
"""
from __future__ import annotations

import os
import pickle
import tarfile
from typing import Iterator, Optional

import numpy as np

from data import readers, sources
from data.sources import RawFiles
from data.splits import ImageSplits
from common.errors import DataError

NAME = "cifar10"
DESCRIPTION = "CIFAR-10: 50,000 train / 10,000 test RGB 32x32 images, 10 classes; online or --data-dir"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"  # the archive's one top-level folder, holding the batches
URL = f"https://www.cs.toronto.edu/~kriz/{ARCHIVE}"


def read_batch(path: str) -> tuple:
    """(uint8 [N,32,32,3], int64 [N]) from one pickled batch of the python version."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError, tf.errors.OpError) as why:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({why})") from why
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"{path}: expected N x 3072 pixels and N labels, got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


PATTERNS = {"train": "data_batch_*", "eval": TEST_BATCH}  # the ExampleGen's globs: one work item per batch file


def raw_from(directory: str, source: str) -> RawFiles:
    import tensorflow as tf

    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if not tf.io.gfile.exists(os.path.join(directory, name))]
    if missing:
        raise DataError(f"{directory}: missing CIFAR-10 batch files {', '.join(missing)}")
    return RawFiles(directory, PATTERNS, source)


def read_raw(raw: RawFiles) -> ImageSplits:
    train = [read_batch(path) for path in raw.files("train")]
    return ImageSplits(train=(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])),
                       eval=read_batch(os.path.join(raw.base, TEST_BATCH)), class_names=CLASS_NAMES, source=raw.source)


def load_batches_dir(directory: str, source: str) -> ImageSplits:
    return read_raw(raw_from(directory, source))


def _extract_archive(archive: str, into: str) -> str:
    """Unpack the official archive's batches folder into the cache (atomically); returns that folder."""
    target = os.path.join(into, FOLDER)
    if not os.path.isdir(target):
        try:
            with sources.atomic_directory(target) as staging, tarfile.open(archive, "r:gz") as tar:
                tar.extractall(staging, filter=_batches_folder)
                if not os.listdir(staging):
                    raise DataError(f"{archive}: cannot unpack (no {FOLDER} folder in it)")
        except (OSError, tarfile.TarError) as why:
            raise DataError(f"{archive}: cannot unpack ({why})") from why
    return target


def _batches_folder(member: tarfile.TarInfo, path: str):
    """The tar filter that unpacks the archive's FOLDER as the staging folder itself (its other members skipped),
    with tarfile's safe "data" checks."""
    top, _, inside = member.name.partition("/")
    return tarfile.data_filter(member.replace(name=inside), path) if top == FOLDER and inside else None


def _from_user_dir(data_dir: Optional[str]) -> RawFiles:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    if os.path.exists(os.path.join(data_dir, ARCHIVE)):
        return raw_from(_extract_archive(os.path.join(data_dir, ARCHIVE), sources.cache_dir(NAME)),
                        f"{os.path.join(data_dir, ARCHIVE)}")
    nested = os.path.join(data_dir, FOLDER)
    directory = nested if os.path.isdir(nested) else data_dir
    return raw_from(directory, f"directory {directory}")


def _cached() -> str:
    return os.path.join(sources.cache_dir(NAME), FOLDER)


def _from_cache() -> RawFiles:
    if not os.path.isdir(_cached()):
        raise sources.SourceUnavailable(f"not in the cache {_cached()}")
    return raw_from(_cached(), f"cache {_cached()}")


def _from_url() -> RawFiles:
    archive = sources.cache_dir("artifacts", ARCHIVE)
    if not os.path.exists(archive):
        with sources.atomic_file(archive) as tmp:
            try:
                sources.download(URL, tmp)
            except OSError as why:
                raise sources.SourceUnavailable(f"cannot download {URL}: {why}") from why
    return raw_from(_extract_archive(archive, sources.cache_dir(NAME)), URL)


def source_list(data_dir: Optional[str] = None) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user_dir(data_dir)),
        sources.Source("cache", _from_cache, ready=sources.cached(NAME, FOLDER)),
        sources.Source("url", _from_url, host="www.cs.toronto.edu"),
    ]


class CifarReader(readers.ImageReader):
    """CIFAR-10's python batches: one work item per batch file (a pickle is read whole: 10,000 images)."""

    def __init__(self, raw: RawFiles, options: dict):
        raw_from(raw.base, raw.source)
        super().__init__(raw, options, CLASS_NAMES, (32, 32, 3))

    def units(self, split: str) -> list:
        return list(enumerate(self.raw.files(split)))

    def read(self, unit) -> Iterator[readers.Record]:
        rank, path = unit
        images, labels = read_batch(path)
        for index, (pixels, label) in enumerate(zip(images, labels)):
            yield readers.image_record((rank, index), label, pixels)


DATASET = sources.Dataset(NAME, DESCRIPTION, PATTERNS, source_list, read_raw, CifarReader)
raw = DATASET.raw
load = DATASET.load
