"""Any folder of labelled photos, one subfolder per class (JPEG/PNG), as fixed-size RGB images.

Images are decoded with Pillow, converted to RGB and resized to IMAGE_SIZE x IMAGE_SIZE (aspect ratio not kept,
as the TF tutorials' image_dataset_from_directory does); the models resize again to their own input. Every 5th
file of each class (in sorted order) goes to eval: deterministic and stratified. A corrupt image is skipped
with a warning and counted in the source description; `strict=True` makes it an error. An empty class folder
is an error naming it.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

import numpy as np

from data import sources
from data.tfrecords import ImageSplits
from dlqos.errors import DataError

NAME = "image_folder"
DESCRIPTION = "any folder given with --data-dir holding one subfolder of JPEG/PNG photos per class"
IMAGE_SIZE = 128
EXTENSIONS = (".jpg", ".jpeg", ".png")
EVAL_EVERY = 5

log = logging.getLogger("dlqos.data")


def read_image(path: str, size: int = IMAGE_SIZE) -> np.ndarray:
    """uint8 [size, size, 3]; DataError if the file is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as why:
        raise DataError(f"{path}: not a readable image ({why})") from why


def read_readable(paths, read, strict: bool) -> tuple:
    """([(path, image)] of the paths `read` can decode, number skipped): a corrupt file is skipped with a warning
    and counted, or re-raised when strict."""
    readable = []
    for path in paths:
        try:
            readable.append((path, read(path)))
        except DataError as why:
            if strict:
                raise
            log.warning("skipping %s", why)
    return readable, len(paths) - len(readable)


def load_folder(directory: str, size: int = IMAGE_SIZE, strict: bool = False,
                source: Optional[str] = None) -> ImageSplits:
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: not a directory")
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{directory}: needs at least two class subfolders, found {classes or 'none'}")
    splits = {"train": ([], []), "eval": ([], [])}
    skipped = 0
    for label, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(directory, name)) if f.lower().endswith(EXTENSIONS))
        if not files:
            raise DataError(f"{os.path.join(directory, name)}: class folder has no {'/'.join(EXTENSIONS)} images")
        readable, skipped_here = read_readable([os.path.join(directory, name, f) for f in files],
                                               lambda path: read_image(path, size), strict)
        skipped += skipped_here
        for number, (_, image) in enumerate(readable):
            images, labels = splits["eval" if number % EVAL_EVERY == EVAL_EVERY - 1 else "train"]
            images.append(image)
            labels.append(label)
    for split, (images, _) in splits.items():
        if not images:
            raise DataError(f"{directory}: no readable images for the {split} split")
    description = source or f"image folder {directory}"
    if skipped:
        description += f" ({skipped} corrupt images skipped)"
    return ImageSplits(
        train=(np.stack(splits["train"][0]), np.asarray(splits["train"][1], dtype=np.int64)),
        eval=(np.stack(splits["eval"][0]), np.asarray(splits["eval"][1], dtype=np.int64)),
        class_names=tuple(classes), source=description)


def source_list(data_dir: Optional[str] = None, strict: bool = False) -> list:
    def from_user() -> ImageSplits:
        if not data_dir:
            raise sources.SourceUnavailable("no --data-dir given (a folder with one subfolder of photos per class)")
        return load_folder(data_dir, strict=strict)

    return [sources.Source("data-dir", from_user)]


def load(data_dir: Optional[str] = None, strict: bool = False) -> ImageSplits:
    """strict: a corrupt image is an error instead of being skipped and counted."""
    return sources.first_available(NAME, source_list(data_dir, strict))
