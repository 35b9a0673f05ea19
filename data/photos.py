"""Natural photos to dream on (step 5, DeepDream): a user's folder, or sample photos that installed packages ship.

Offline default: scikit-learn's `china.jpg` and `flower.jpg` (427x640) and matplotlib's `grace_hopper.jpg`
(600x512). With --data-dir, every JPEG/PNG in that folder. Photos are centre-cropped to squares and resized to
PHOTO_SIZE (one stored shape; the DeepDream component resizes again to its own `max_side`). The last photo
goes to the eval split so both splits exist; the component dreams on both.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple

import numpy as np

from data import readers, sources
from data.image_folder import EXTENSIONS, read_readable, skipped_note
from data.sources import RawFiles
from data.splits import ImageSplits
from common.errors import DataError

NAME = "photos"
DESCRIPTION = "photos to dream on: --data-dir (any JPEG/PNG) or the sample photos of scikit-learn and matplotlib"
PHOTO_SIZE = 384


def read_photo(path: str, size: int = PHOTO_SIZE) -> np.ndarray:
    """uint8 [size, size, 3]: the centre square of the photo, resized."""
    from PIL import Image, UnidentifiedImageError

    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f, Image.open(f) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left = (image.width - side) // 2
            top = (image.height - side) // 2
            return np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC),
                              dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, tf.errors.OpError) as why:
        raise DataError(f"{path}: not a readable photo ({why})") from why


PATTERNS = {"train": "*", "eval": "*"}  # every photo of the folder; the last readable one is eval


def photo_paths(directory: str) -> list:
    import tensorflow as tf

    if not tf.io.gfile.isdir(directory):
        raise DataError(f"{directory}: not a directory")
    paths = sorted(os.path.join(directory, f) for f in tf.io.gfile.listdir(directory) if f.lower().endswith(EXTENSIONS))
    if not paths:
        raise DataError(f"{directory}: no JPEG/PNG photos")
    return paths


def read_raw(raw: RawFiles, strict: bool = False) -> ImageSplits:
    """The array loader. The last readable photo (sorted by name) is eval, the others train; a single photo is in
    both splits (the ExampleGen splits the same way)."""
    readable, skipped = read_readable(photo_paths(raw.base), read_photo, strict)
    if not readable:
        raise DataError(f"{raw.base}: no readable JPEG/PNG photos")
    images = np.stack([image for _, image in readable])
    labels = np.zeros(len(images), dtype=np.int64)
    train = slice(0, max(1, len(images) - 1))
    return ImageSplits(train=(images[train], labels[train]), eval=(images[-1:], labels[-1:]), class_names=("photo",),
                       source=skipped_note(raw.source, skipped, "photos"))


def _from_user_dir(data_dir: Optional[str]) -> RawFiles:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    photo_paths(data_dir)
    return RawFiles(data_dir, PATTERNS, f"directory {data_dir}")


def package_photos() -> List[Tuple[str, str]]:
    """(package, path) of the sample photos the installed packages ship."""
    found = []
    try:
        import sklearn.datasets

        images = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
        found += [("scikit-learn", os.path.join(images, name)) for name in ("china.jpg", "flower.jpg")]
    except ImportError:
        pass
    try:
        import matplotlib

        found.append(("matplotlib", os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")))
    except ImportError:
        pass
    return [(package, path) for package, path in found if os.path.exists(path)]


def _from_packages() -> RawFiles:
    """The packages' photos copied into one cache folder, the ExampleGen's input_base."""
    import shutil

    photos = package_photos()
    if not photos:
        raise sources.SourceUnavailable("neither scikit-learn's nor matplotlib's sample photos are installed")
    directory = sources.cache_dir(NAME)
    for _, path in photos:
        target = os.path.join(directory, os.path.basename(path))
        if not os.path.exists(target):
            with sources.atomic_file(target) as tmp:
                shutil.copyfile(path, tmp)
    return RawFiles(directory, PATTERNS, "sample photos of " + " and ".join(sorted({p for p, _ in photos})))


def source_list(data_dir: Optional[str] = None) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user_dir(data_dir)),
        sources.Source("packages", _from_packages, ready=lambda: bool(package_photos())),
    ]


class PhotosReader(readers.ImageReader):
    """Photos to dream on (a handful): one work item; the last readable photo is eval, the others train (a single
    photo is in both). Skipped photos are counted once, with the train split."""

    skipped_what = "photos"

    def __init__(self, raw: RawFiles, options: dict):
        self.paths = photo_paths(raw.base)
        super().__init__(raw, options, ["photo"], (PHOTO_SIZE, PHOTO_SIZE, 3))

    def units(self, split: str) -> list:
        return [split]

    def read(self, unit) -> Iterator[readers.Record]:
        readable = []
        for index, path in enumerate(self.paths):
            try:
                readable.append((index, read_photo(path)))
            except DataError as error:
                if unit == "train" or self.strict:
                    yield readers.unreadable((index,), error, self.strict)
        chosen = readable[-1:] if unit == "eval" else (readable[:-1] or readable)
        for index, pixels in chosen:
            yield readers.image_record((index,), 0, pixels)


DATASET = sources.Dataset(NAME, DESCRIPTION, PATTERNS, source_list, read_raw, PhotosReader,
                          skips_corrupt=True)
raw = DATASET.raw
load = DATASET.load
