"""Natural photos to dream on (step 5, DeepDream): a user's folder, or sample photos that installed packages ship.

Offline default: scikit-learn's `china.jpg` and `flower.jpg` (427x640) and matplotlib's `grace_hopper.jpg`
(600x512). With --data-dir, every JPEG/PNG in that folder. Photos are centre-cropped to squares and resized to
PHOTO_SIZE (one stored shape; the DeepDream component resizes again to its own `max_side`). The last photo
goes to the eval split so both splits exist; the component dreams on both.
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import numpy as np

from data import sources
from data.image_folder import EXTENSIONS, read_readable
from data.tfrecords import ImageSplits
from dlqos.errors import DataError

NAME = "photos"
DESCRIPTION = "photos to dream on: --data-dir (any JPEG/PNG) or the sample photos of scikit-learn and matplotlib"
PHOTO_SIZE = 384


def read_photo(path: str, size: int = PHOTO_SIZE) -> np.ndarray:
    """uint8 [size, size, 3]: the centre square of the photo, resized."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            return np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC),
                              dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as why:
        raise DataError(f"{path}: not a readable photo ({why})") from why


def _splits(paths: List[str], source: str, strict: bool = False) -> ImageSplits:
    readable, skipped = read_readable(paths, read_photo, strict)
    if not readable:
        raise DataError(f"{source}: no readable JPEG/PNG photos")
    if skipped:
        source += f" ({skipped} corrupt photos skipped)"
    paths = [path for path, _ in readable]
    images = np.stack([image for _, image in readable])
    labels = np.zeros(len(images), dtype=np.int64)
    if len(images) == 1:
        return ImageSplits(train=(images, labels), eval=(images, labels), class_names=("photo",),
                           source=f"{source} (one photo, in both splits)")
    return ImageSplits(train=(images[:-1], labels[:-1]), eval=(images[-1:], labels[-1:]), class_names=("photo",),
                       source=f"{source}: {', '.join(os.path.basename(p) for p in paths)}")


def _from_user_dir(data_dir: Optional[str], strict: bool) -> ImageSplits:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: not a directory")
    paths = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.lower().endswith(EXTENSIONS))
    return _splits(paths, f"directory {data_dir}", strict)


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


def _from_packages() -> ImageSplits:
    photos = package_photos()
    if not photos:
        raise sources.SourceUnavailable("neither scikit-learn's nor matplotlib's sample photos are installed")
    return _splits([path for _, path in photos], "sample photos of " + " and ".join(sorted({p for p, _ in photos})))


def source_list(data_dir: Optional[str] = None, strict: bool = False) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user_dir(data_dir, strict)),
        sources.Source("packages", _from_packages, ready=lambda: bool(package_photos())),
    ]


def load(data_dir: Optional[str] = None, strict: bool = False) -> ImageSplits:
    """strict: a corrupt photo in --data-dir is an error instead of being skipped and counted."""
    return sources.first_available(NAME, source_list(data_dir, strict))
