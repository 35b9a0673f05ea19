"""tf_flowers: 3,670 photos of 5 flower classes, the dataset of the paper's transfer-learning step.

Sources, in order: --data-dir (the extracted `flower_photos` folder, one subfolder per class); the local cache;
the TensorFlow tutorials' download URL (via Keras' get_file) when online. No package registry carries it:
offline, download flower_photos.tgz elsewhere, extract it and pass the folder with --data-dir.
"""
from __future__ import annotations

import os
from typing import Optional

from data import image_folder, sources
from data.sources import RawFiles

NAME = "tf_flowers"
DESCRIPTION = "tf_flowers: 3,670 photos, 5 classes (daisy, dandelion, roses, sunflowers, tulips); online or --data-dir"
PATTERNS = image_folder.PATTERNS
URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"


def _from_user_dir(data_dir: Optional[str]) -> RawFiles:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    return image_folder.raw_from(data_dir, f"image folder {data_dir}")


def _cached_folder() -> str:
    return sources.cache_dir(NAME, "flower_photos")


def _from_cache() -> RawFiles:
    if not os.path.isdir(_cached_folder()):
        raise sources.SourceUnavailable(f"not in the cache {_cached_folder()}")
    return image_folder.raw_from(_cached_folder(), f"cache {_cached_folder()}")


def _from_url() -> RawFiles:
    import tf_keras

    try:
        archive = tf_keras.utils.get_file("flower_photos.tgz", origin=URL, cache_dir=sources.cache_dir(NAME),
                                          cache_subdir="", extract=True)
    except Exception as why:  # network errors surface as several exception types
        raise sources.SourceUnavailable(f"download of {URL} failed: {why}") from why
    return image_folder.raw_from(os.path.join(os.path.dirname(archive), "flower_photos"), URL)


def source_list(data_dir: Optional[str] = None) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user_dir(data_dir)),
        sources.Source("cache", _from_cache, ready=lambda: os.path.isdir(_cached_folder())),
        sources.Source("url", _from_url, host="storage.googleapis.com"),
    ]


DATASET = sources.Dataset(NAME, DESCRIPTION, PATTERNS, source_list, image_folder.read_raw, image_folder.FolderReader,
                          skips_corrupt=True)
raw = DATASET.raw
load = DATASET.load
