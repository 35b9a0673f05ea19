"""What a dataset's reader returns: the split names and the in-memory image splits (ImageSplits). Every format
module, the sources and the TFRecord writer share this contract, so it depends on nothing of theirs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from common.errors import DataError

SPLITS = ("train", "eval")


@dataclass(frozen=True)
class ImageSplits:
    """uint8 images [N, H, W, C] and int64 labels [N] per split, with where they came from."""

    train: Tuple[np.ndarray, np.ndarray]
    eval: Tuple[np.ndarray, np.ndarray]
    class_names: Sequence[str]
    source: str

    def validate(self) -> None:
        for split in SPLITS:
            images, labels = getattr(self, split)
            if images.ndim != 4 or images.dtype != np.uint8:
                raise DataError(f"{self.source}: {split} images must be uint8 [N,H,W,C], got {images.dtype} {images.shape}")
            if len(images) != len(labels) or len(images) == 0:
                raise DataError(f"{self.source}: {split} has {len(images)} images and {len(labels)} labels")
            if labels.min() < 0 or labels.max() >= len(self.class_names):
                raise DataError(f"{self.source}: {split} labels outside 0..{len(self.class_names) - 1}")
        if self.train[0].shape[1:] != self.eval[0].shape[1:]:
            raise DataError(f"{self.source}: train and eval image shapes differ")

    def first_classes(self, count: int) -> "ImageSplits":
        """Only the examples of classes 0..count-1 (labels unchanged), in their original order."""
        if count >= len(self.class_names):
            return self

        def keep(split):
            images, labels = split
            mask = labels < count
            return images[mask], labels[mask]

        return ImageSplits(train=keep(self.train), eval=keep(self.eval), class_names=tuple(self.class_names[:count]),
                           source=f"{self.source}, first {count} classes")
