"""Fashion-MNIST (Zalando, 60k train / 10k test, 28x28 grey, 10 classes): the dataset of steps 1 and 2.

Sources, in order: --data-dir with the four idx files; the local cache; the Debian package
`dataset-fashion-mnist` (a registry artifact: fetched, sha256-verified, unpacked, never installed);
the Keras loader (storage.googleapis.com) when online.
"""
from __future__ import annotations

import os

from data import idx, sources
from data.sources import RawFiles

NAME = "fashion_mnist"
DESCRIPTION = "Fashion-MNIST: 60,000 train / 10,000 test greyscale 28x28 images, 10 classes"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = idx.STANDARD_FILES
DEB_PACKAGE = "dataset-fashion-mnist"
DEB_VERSION = "0.0~git20200523.55506a9-1"
DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
DEB_DIR = "usr/share/datasets/fashion-mnist"


def _from_debian_package() -> RawFiles:
    deb = sources.fetch_deb(DEB_PACKAGE, DEB_VERSION, DEB_SHA256)
    directory = sources.cache_dir(NAME)
    os.makedirs(directory, exist_ok=True)
    sources.extract_deb_members(deb, [f"{DEB_DIR}/{name}" for name in FILES.values()], directory)
    return idx.raw_from(directory, f"Debian package {DEB_PACKAGE} {DEB_VERSION} (sha256 verified)", NAME)


def _debian_package() -> sources.Source:
    return sources.Source("debian-package", _from_debian_package,
                          ready=sources.artifact_ready(f"{DEB_PACKAGE}_{DEB_VERSION}_all.deb", DEB_SHA256),
                          host="deb.debian.org")


DATASET = idx.dataset(NAME, DESCRIPTION, CLASS_NAMES, _debian_package)
raw = DATASET.raw
load = DATASET.load
