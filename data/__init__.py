"""Dataset registry: every source the study reads, each turned into tf.Example TFRecords for ExampleGen.

Modules are imported on demand so listing datasets does not import TensorFlow.
"""
from __future__ import annotations

import importlib

from dlqos.errors import ConfigError

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
    """The dataset module: `load(data_dir=None) -> ImageSplits` and `DESCRIPTION`."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (have: {', '.join(DATASETS)})")
    return importlib.import_module(DATASETS[name])
