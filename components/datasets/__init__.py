"""Dataset registry: every source the study reads, each turned into tf.Example TFRecords for ExampleGen.

Modules are imported on demand so listing datasets does not import TensorFlow.
"""
from __future__ import annotations

import importlib

from dlqos.errors import ConfigError

DATASETS = {
    "cifar10": "components.datasets.cifar10",
    "fashion_mnist": "components.datasets.fashion_mnist",
    "mnist": "components.datasets.mnist",
    "tf_flowers": "components.datasets.tf_flowers",
    "image_folder": "components.datasets.image_folder",
    "photos": "components.datasets.photos",
    "shakespeare": "components.datasets.shakespeare",
    "text": "components.datasets.text",
}


def get_dataset(name: str):
    """The dataset module: `load(data_dir=None) -> ImageSplits` and `DESCRIPTION`."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (have: {', '.join(DATASETS)})")
    return importlib.import_module(DATASETS[name])
