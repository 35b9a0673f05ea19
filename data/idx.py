"""The idx format of MNIST and Fashion-MNIST (gzip or plain), read with clear errors, and the sources both
datasets share (--data-dir, the cache, Keras' loader)."""
from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zlib
from typing import Callable, Iterator, Sequence

import numpy as np

from data import readers
from data.sources import (CorruptCache, Dataset, RawFiles, Source, SourceUnavailable, atomic_file, cache_dir,
                          keras_images)
from common.errors import DataError

# The file names MNIST and Fashion-MNIST both publish.
STANDARD_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "eval_images": "t10k-images-idx3-ubyte.gz",
    "eval_labels": "t10k-labels-idx1-ubyte.gz",
}
BLOCK_BYTES = 1 << 20  # iter_idx reads this much at a time: the split is never held whole
PATTERNS = {"train": "train-*-ubyte.gz", "eval": "t10k-*-ubyte.gz"}  # the ExampleGen's globs for STANDARD_FILES
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


@contextlib.contextmanager
def open_idx(path: str, expected_magic: int):
    """(dims, file positioned at the payload) of an idx file (gzip or plain; local or gs://); unreadable or
    wrong files are one-line DataErrors naming the file, also when reading the payload inside the block fails."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as raw:
            f = gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw
            header = f.read(4)
            if len(header) < 4:
                raise DataError(f"{path}: truncated idx file (no header); replace the file")
            magic = struct.unpack(">I", header)[0]
            if magic != expected_magic:
                raise DataError(f"{path}: wrong idx magic number {magic}, expected {expected_magic}; "
                                "is this the right file (images vs labels)?")
            ndim = magic & 0xFF
            yield struct.unpack(f">{ndim}I", f.read(4 * ndim)), f
    except (OSError, EOFError, struct.error, tf.errors.OpError, zlib.error) as why:
        raise DataError(f"{path}: unreadable idx file ({why}); replace the file") from why


def _payload_error(path: str, got: int, dims) -> DataError:
    return DataError(f"{path}: idx payload has {got} bytes, header promises {int(np.prod(dims))}; file is corrupt")


def read_idx(path: str, expected_magic: int) -> np.ndarray:
    with open_idx(path, expected_magic) as (dims, f):
        data = f.read()
    if len(data) != int(np.prod(dims)):
        raise _payload_error(path, len(data), dims)
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def iter_idx(path: str, expected_magic: int):
    """The file's records one at a time (bytes of one image or label): a split is never held whole."""
    with open_idx(path, expected_magic) as (dims, f):
        size = int(np.prod(dims[1:]))
        done = 0
        while done < dims[0]:
            count = min(dims[0] - done, max(1, BLOCK_BYTES // size))
            block = f.read(count * size)
            if len(block) < count * size:
                raise _payload_error(path, done * size + len(block), dims)
            yield from (block[i * size:(i + 1) * size] for i in range(count))
            done += count
        if f.read(1):
            raise _payload_error(path, int(np.prod(dims)) + 1 + len(f.read()), dims)


def idx_dims(path: str, expected_magic: int) -> tuple:
    with open_idx(path, expected_magic) as (dims, _):
        return dims


def expected_magic(path: str) -> int:
    """Images or labels, by the standard file names."""
    return LABELS_MAGIC if "labels" in os.path.basename(path) else IMAGES_MAGIC


def write_idx(path: str, array: np.ndarray) -> None:
    """Write uint8 data as (gzipped if *.gz) idx; used to build small test fixtures in the real format."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(struct.pack(f">I{array.ndim}I", magic, *array.shape))
        f.write(array.tobytes())


def raw_from(directory: str, source: str, dataset: str) -> RawFiles:
    """The four standard idx files in one directory, checked present."""
    import tensorflow as tf

    for name in STANDARD_FILES.values():
        if not tf.io.gfile.exists(os.path.join(directory, name)):
            raise DataError(f"{os.path.join(directory, name)} is missing; put the four {dataset} idx files "
                            f"({', '.join(STANDARD_FILES.values())}) in {directory}")
    return RawFiles(directory, PATTERNS, source)


def given(data_dir, dataset: str) -> RawFiles:
    """The --data-dir source."""
    if not data_dir:
        raise SourceUnavailable("no --data-dir given")
    return raw_from(data_dir, f"directory {data_dir}", dataset)


def cached(dataset: str) -> RawFiles:
    """The cache source: the files a registry artifact or loader left there, their headers checked (a damaged
    cache is a CorruptCache: removed and rebuilt from the next source, not an error telling users to fix it)."""
    directory = cache_dir(dataset)
    if not cache_ready(dataset):
        raise SourceUnavailable(f"not in the cache {directory}")
    return raw_from(directory, f"cache {directory}", dataset)


def cache_ready(dataset: str) -> bool:
    """The cache's `ready` probe: False when a file is missing, CorruptCache when one is unreadable, empty or the
    image and label counts of a split differ."""
    directory = cache_dir(dataset)
    paths = {key: os.path.join(directory, name) for key, name in STANDARD_FILES.items()}
    if not all(os.path.exists(path) for path in paths.values()):
        return False
    try:
        for split in ("train", "eval"):
            images = idx_dims(paths[f"{split}_images"], IMAGES_MAGIC)[0]
            labels = idx_dims(paths[f"{split}_labels"], LABELS_MAGIC)[0]
            if images != labels:
                raise DataError(f"{paths[f'{split}_labels']}: {labels} labels for {images} images")
    except DataError as why:
        raise CorruptCache(directory, str(why).removesuffix("; replace the file")) from why
    return True


def store(splits, dataset: str) -> RawFiles:
    """Arrays a loader returned (a pickle, Keras) written as the standard idx files into the cache."""
    directory = cache_dir(dataset)
    for split in ("train", "eval"):
        images, labels = getattr(splits, split)
        for key, array in ((f"{split}_images", images[..., 0]), (f"{split}_labels", labels)):
            with atomic_file(os.path.join(directory, STANDARD_FILES[key])) as tmp:
                write_idx(tmp, array)
    return raw_from(directory, splits.source, dataset)


def read_raw(raw: RawFiles, class_names: Sequence[str], dataset: str):
    """Train/eval images and labels from the four idx files, validated (the array loader: plain Keras, tests)."""
    from data.splits import ImageSplits

    paths = {key: os.path.join(raw.base, name) for key, name in STANDARD_FILES.items()}
    splits = {}
    for split in ("train", "eval"):
        images = read_idx(paths[f"{split}_images"], IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABELS_MAGIC)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{paths[f'{split}_images']}: images have shape {images.shape[1:]}, expected (28, 28)")
        if len(images) != len(labels):
            raise DataError(f"{paths[f'{split}_labels']}: {len(labels)} labels for {len(images)} images")
        splits[split] = (images[..., np.newaxis], labels.astype(np.int64))
    return ImageSplits(train=splits["train"], eval=splits["eval"], class_names=tuple(class_names), source=raw.source)


class IdxReader(readers.ImageReader):
    """MNIST-style idx files: one work item per split (its images and labels files), streamed record by record."""

    def __init__(self, raw: RawFiles, options: dict, class_names, dataset: str):
        raw_from(raw.base, raw.source, dataset)
        self.pairs = {}
        shapes = set()
        for split in raw.patterns:
            files = raw.files(split)
            images = next(path for path in files if expected_magic(path) == IMAGES_MAGIC)
            labels = next(path for path in files if expected_magic(path) == LABELS_MAGIC)
            image_dims = idx_dims(images, IMAGES_MAGIC)
            label_dims = idx_dims(labels, LABELS_MAGIC)
            if image_dims[0] != label_dims[0]:
                raise DataError(f"{labels}: {label_dims[0]} labels for {image_dims[0]} images")
            shapes.add(tuple(image_dims[1:]))
            self.pairs[split] = (images, labels)
        if len(shapes) != 1:
            raise DataError(f"{raw.base}: train and eval image shapes differ ({sorted(shapes)})")
        super().__init__(raw, options, class_names, [*shapes.pop(), 1])

    def units(self, split: str) -> list:
        return [self.pairs[split]]

    def read(self, unit) -> Iterator[readers.Record]:
        images, labels = unit
        for index, (pixels, label) in enumerate(zip(iter_idx(images, IMAGES_MAGIC),
                                                    iter_idx(labels, LABELS_MAGIC))):
            yield readers.image_record((index,), label[0], pixels)


def dataset(name: str, description: str, class_names: Sequence[str], artifact: Callable[[], Source]) -> Dataset:
    """An idx dataset's declaration: its sources in order (--data-dir, the cache, the dataset's own registry
    artifact, Keras' loader online), the four standard files read as arrays, and the ExampleGen's IdxReader.
    artifact() builds the registry source when the sources are listed (it reads the environment's index)."""
    def from_keras() -> RawFiles:
        return store(keras_images(name, class_names, "storage.googleapis.com"), name)

    def source_list(data_dir=None) -> list:
        return [Source("data-dir", lambda: given(data_dir, name)),
                Source("cache", lambda: cached(name), ready=lambda: cache_ready(name)),
                artifact(),
                Source("keras", from_keras, host="storage.googleapis.com")]

    return Dataset(name, description, PATTERNS, source_list, lambda raw: read_raw(raw, class_names, name),
                   lambda raw, options: IdxReader(raw, options, class_names, name))
