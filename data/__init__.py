"""Dataset registry: every dataset the study reads, its sources (raw files) and the ExampleGen that reads them.

Modules are imported on demand so listing datasets does not import TensorFlow.
"""
from __future__ import annotations

import importlib

from common.errors import ConfigError

DATASETS = {
    "cifar10": "data.cifar10",
    "fashion_mnist": "data.fashion_mnist",
    "mnist": "data.mnist",
    "tf_flowers": "data.tf_flowers",
    "image_folder": "data.image_folder",
    "photos": "data.photos",
    "shakespeare": "data.shakespeare",
    "text": "data.text",
}


def get_dataset(name: str):
    """The dataset's declared contract (data.sources.Dataset): its module's DATASET; a module that does not
    declare one is refused."""
    from data.sources import Dataset

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (have: {', '.join(DATASETS)})")
    declared = getattr(importlib.import_module(DATASETS[name]), "DATASET", None)
    if not isinstance(declared, Dataset) or declared.name != name:
        raise ConfigError(f"{DATASETS[name]} does not declare its Dataset (DATASET = data.sources.Dataset('{name}', "
                          "...))")
    return declared


def fetched_raw(name: str, base: str):
    """The raw files `dlqos data fetch NAME --to ROOT` put in base (ROOT/NAME), as the ExampleGen reads them: the
    dataset's own globs, no data read here (`dlqos compile --data-root ROOT`)."""
    from data.sources import RawFiles

    dataset = get_dataset(name)
    return RawFiles(base, dataset.patterns, f"{base} (dlqos data fetch {name})", dataset.raw_options)


def copy_raw(raw, target: str) -> int:
    """Copy the files the raw globs match (paths relative to raw.base kept) into target, a local path or gs://
    (tf.io.gfile); returns how many."""
    import os

    import tensorflow as tf

    files = sorted({path for split in raw.patterns for path in raw.files(split)})
    for path in files:
        destination = os.path.join(target, os.path.relpath(path, raw.base))
        tf.io.gfile.makedirs(os.path.dirname(destination))
        tf.io.gfile.copy(path, destination, overwrite=True)
    return len(files)
