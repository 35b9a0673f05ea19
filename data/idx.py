"""The idx format of MNIST and Fashion-MNIST (gzip or plain), read with clear errors."""
from __future__ import annotations

import gzip
import os
import struct
from typing import Mapping, Sequence

import numpy as np

from dlqos.errors import DataError

# The file names MNIST and Fashion-MNIST both publish.
STANDARD_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "eval_images": "t10k-images-idx3-ubyte.gz",
    "eval_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def read_idx(path: str, expected_magic: int) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4)
            if len(header) < 4:
                raise DataError(f"{path}: truncated idx file (no header); replace the file")
            magic = struct.unpack(">I", header)[0]
            if magic != expected_magic:
                raise DataError(f"{path}: wrong idx magic number {magic}, expected {expected_magic}; "
                                "is this the right file (images vs labels)?")
            ndim = magic & 0xFF
            dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
            data = f.read()
    except (OSError, EOFError, struct.error) as why:
        raise DataError(f"{path}: unreadable idx file ({why}); replace the file") from why
    expected = int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{path}: idx payload has {len(data)} bytes, header promises {expected}; file is corrupt")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def write_idx(path: str, array: np.ndarray) -> None:
    """Write uint8 data as (gzipped if *.gz) idx; used to build small test fixtures in the real format."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(struct.pack(f">I{array.ndim}I", magic, *array.shape))
        f.write(array.tobytes())


def load_image_dir(directory: str, files: Mapping[str, str], class_names: Sequence[str], source: str,
                   dataset: str):
    """Train/eval images and labels from the four idx files in one directory, validated."""
    from data.tfrecords import ImageSplits

    paths = {key: os.path.join(directory, name) for key, name in files.items()}
    for path in paths.values():
        if not os.path.exists(path):
            raise DataError(f"{path} is missing; put the four {dataset} idx files "
                            f"({', '.join(files.values())}) in {directory}")
    splits = {}
    for split in ("train", "eval"):
        images = read_idx(paths[f"{split}_images"], IMAGES_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABELS_MAGIC)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{paths[f'{split}_images']}: images have shape {images.shape[1:]}, expected (28, 28)")
        if len(images) != len(labels):
            raise DataError(f"{paths[f'{split}_labels']}: {len(labels)} labels for {len(images)} images")
        splits[split] = (images[..., np.newaxis], labels.astype(np.int64))
    return ImageSplits(train=splits["train"], eval=splits["eval"], class_names=tuple(class_names), source=source)
