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
from typing import Iterator, Optional

import numpy as np

from data import readers, sources
from data.sources import RawFiles
from data.splits import ImageSplits
from common.errors import DataError

NAME = "image_folder"
DESCRIPTION = "any folder given with --data-dir holding one subfolder of JPEG/PNG photos per class"
IMAGE_SIZE = 128
EXTENSIONS = (".jpg", ".jpeg", ".png")
EVAL_EVERY = 5
PATTERNS = {"train": "*/*", "eval": "*/*"}  # both splits list every class file; split_of decides

log = logging.getLogger("dlqos.data")


def read_image(path: str, size: int = IMAGE_SIZE) -> np.ndarray:
    """uint8 [size, size, 3]; DataError if the file is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f, Image.open(f) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, tf.errors.OpError) as why:
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


def class_files(directory: str) -> list:
    """[(class name, sorted image paths)] of the folder's class subfolders (tf.io.gfile: local or gs://);
    fewer than two classes or an empty class folder is an error naming it."""
    import tensorflow as tf

    if not tf.io.gfile.isdir(directory):
        raise DataError(f"{directory}: not a directory")
    classes = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(directory)
                     if not name.startswith(".") and tf.io.gfile.isdir(os.path.join(directory, name)))
    if len(classes) < 2:
        raise DataError(f"{directory}: needs at least two class subfolders, found {classes or 'none'}")
    found = []
    for name in classes:
        files = sorted(f for f in tf.io.gfile.listdir(os.path.join(directory, name)) if f.lower().endswith(EXTENSIONS))
        if not files:
            raise DataError(f"{os.path.join(directory, name)}: class folder has no {'/'.join(EXTENSIONS)} images")
        found.append((name, [os.path.join(directory, name, f) for f in files]))
    return found


def split_of(number: int) -> str:
    """Every EVAL_EVERY-th file of a class (in sorted order, unreadable ones counted) goes to eval."""
    return "eval" if number % EVAL_EVERY == EVAL_EVERY - 1 else "train"


def raw_from(directory: str, source: str) -> RawFiles:
    class_files(directory)
    return RawFiles(directory, PATTERNS, source)


def read_raw(raw: RawFiles, size: int = IMAGE_SIZE, strict: bool = False) -> ImageSplits:
    """The array loader (plain Keras, tests): the same split and skipping as the ExampleGen."""
    splits = {"train": ([], []), "eval": ([], [])}
    skipped = 0
    classes = class_files(raw.base)
    for label, (_, paths) in enumerate(classes):
        readable, skipped_here = read_readable(paths, lambda path: read_image(path, size), strict)
        skipped += skipped_here
        numbers = {path: number for number, path in enumerate(paths)}
        for path, image in readable:
            images, labels = splits[split_of(numbers[path])]
            images.append(image)
            labels.append(label)
    for label, (name, _) in enumerate(classes):
        if not any(label in labels for _, labels in splits.values()):
            raise DataError(f"{raw.source}: class '{name}' has no readable images (every file in its folder is corrupt)")
    for split, (images, _) in splits.items():
        if not images:
            raise DataError(f"{raw.base}: no readable images for the {split} split")
    return ImageSplits(
        train=(np.stack(splits["train"][0]), np.asarray(splits["train"][1], dtype=np.int64)),
        eval=(np.stack(splits["eval"][0]), np.asarray(splits["eval"][1], dtype=np.int64)),
        class_names=tuple(name for name, _ in classes), source=skipped_note(raw.source, skipped, "images"))


def skipped_note(source: str, skipped: int, what: str) -> str:
    return f"{source} ({skipped} corrupt {what} skipped)" if skipped else source


def load_folder(directory: str, size: int = IMAGE_SIZE, strict: bool = False,
                source: Optional[str] = None) -> ImageSplits:
    return read_raw(raw_from(directory, source or f"image folder {directory}"), size, strict)


def source_list(data_dir: Optional[str] = None) -> list:
    def from_user() -> RawFiles:
        if not data_dir:
            raise sources.SourceUnavailable("no --data-dir given (a folder with one subfolder of photos per class)")
        return raw_from(data_dir, f"image folder {data_dir}")

    return [sources.Source("data-dir", from_user)]


class FolderReader(readers.ImageReader):
    """One subfolder of photos per class: one work item per photo; every 5th photo of a class is eval."""

    every_class_required = True

    def __init__(self, raw: RawFiles, options: dict):
        self.classes = class_files(raw.base)
        super().__init__(raw, options, [name for name, _ in self.classes],
                         (IMAGE_SIZE, IMAGE_SIZE, 3))

    def units(self, split: str) -> list:
        return [(path, label, number) for label, (_, paths) in enumerate(self.classes)
                for number, path in enumerate(paths) if split_of(number) == split]

    def read(self, unit) -> Iterator[readers.Record]:
        path, label, number = unit
        try:
            yield readers.image_record((label, number), label, read_image(path))
        except DataError as error:
            yield readers.unreadable((label, number), error, self.strict)


DATASET = sources.Dataset(NAME, DESCRIPTION, PATTERNS, source_list, read_raw, FolderReader,
                          skips_corrupt=True)
raw = DATASET.raw
load = DATASET.load
