"""Fashion-MNIST (Zalando, 60k train / 10k test, 28x28 grey, 10 classes): the dataset of steps 1 and 2.

Sources, in order: --data-dir with the four idx files; the local cache; the Debian package
`dataset-fashion-mnist` (a registry artifact: fetched, sha256-verified, unpacked, never installed);
the Keras loader (storage.googleapis.com) when online.
"""
from __future__ import annotations

import os
from typing import Optional


from data import idx, sources
from data.tfrecords import ImageSplits

NAME = "fashion_mnist"
DESCRIPTION = "Fashion-MNIST: 60,000 train / 10,000 test greyscale 28x28 images, 10 classes"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = idx.STANDARD_FILES
DEB_PACKAGE = "dataset-fashion-mnist"
DEB_VERSION = "0.0~git20200523.55506a9-1"
DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
DEB_DIR = "usr/share/datasets/fashion-mnist"


def load_idx_dir(directory: str, source: str) -> ImageSplits:
    return idx.load_image_dir(directory, FILES, CLASS_NAMES, source, NAME)


def _from_user_dir(data_dir: Optional[str]) -> ImageSplits:
    if not data_dir:
        raise sources.SourceUnavailable("no --data-dir given")
    return load_idx_dir(data_dir, f"directory {data_dir}")


def _from_cache() -> ImageSplits:
    directory = sources.cache_dir(NAME)
    if not all(os.path.exists(os.path.join(directory, name)) for name in FILES.values()):
        raise sources.SourceUnavailable(f"not in the cache {directory}")
    return load_idx_dir(directory, f"cache {directory}")


def _from_debian_package() -> ImageSplits:
    deb = sources.fetch_deb(DEB_PACKAGE, DEB_VERSION, DEB_SHA256)
    directory = sources.cache_dir(NAME)
    os.makedirs(directory, exist_ok=True)
    sources.extract_deb_members(deb, [f"{DEB_DIR}/{name}" for name in FILES.values()], directory)
    return load_idx_dir(directory, f"Debian package {DEB_PACKAGE} {DEB_VERSION} (sha256 verified)")


def _from_keras() -> ImageSplits:
    return sources.keras_images("fashion_mnist", CLASS_NAMES, "storage.googleapis.com")


def source_list(data_dir: Optional[str] = None) -> list:
    return [
        sources.Source("data-dir", lambda: _from_user_dir(data_dir)),
        sources.Source("cache", _from_cache, ready=sources.cached(NAME)),
        sources.Source("debian-package", _from_debian_package,
                       ready=sources.cached("artifacts", f"{DEB_PACKAGE}_{DEB_VERSION}_all.deb"),
                       host="deb.debian.org"),
        sources.Source("keras", _from_keras, host="storage.googleapis.com"),
    ]


def load(data_dir: Optional[str] = None) -> ImageSplits:
    return sources.first_available(NAME, source_list(data_dir))
