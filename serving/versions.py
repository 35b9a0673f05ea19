"""TF Serving's version directories on disk: which exist, which load. TensorFlow is imported only by the
functions that load, so `dlqos serving-config --help` and the config writer stay light."""
from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional, Tuple

log = logging.getLogger("dlqos.serve")


def is_version_dir(name: str) -> bool:
    """A TF Serving version directory name: ASCII digits only ('²'.isdigit() is True, but int('²') fails)."""
    return name.isascii() and name.isdigit()


def model_versions(serving_root: str) -> Dict[str, List[int]]:
    """{model name: sorted numeric versions} under a TF Serving base directory; hidden staging dirs ignored."""
    models = {}
    if not os.path.isdir(serving_root):
        return models
    for name in sorted(os.listdir(serving_root)):
        path = os.path.join(serving_root, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        versions = sorted(int(v) for v in os.listdir(path)
                          if is_version_dir(v) and os.path.exists(os.path.join(path, v, "saved_model.pb")))
        if versions:
            models[name] = versions
    return models


def newest_that_load(model_dir: str, versions: List[int], count: int) -> List[int]:
    """The newest `count` of these versions that load (sorted); each one that does not is logged with why."""
    good: List[int] = []
    for version in sorted(versions, reverse=True):
        error = load_error(os.path.join(model_dir, str(version)))
        if error:
            log.warning("%s version %d does not load, so it is not served: %s", model_dir, version, error)
        else:
            good.append(version)
        if len(good) == count:
            break
    return sorted(good)


def load_failure(why: Exception) -> Tuple[int, str]:
    """(canonical error code, first line) of a failed load, as GetModelStatus reports it."""
    import tensorflow as tf

    code = why.error_code if isinstance(why, tf.errors.OpError) else 2  # UNKNOWN
    return code, f"{type(why).__name__}: {why}".splitlines()[0]


def load_error(version_dir: str) -> Optional[str]:
    """Why this version directory does not load as a SavedModel (the first line of the error), or None."""
    import tensorflow as tf

    try:
        tf.saved_model.load(version_dir)
    except Exception as why:  # whatever the loader raises, the version is not servable
        return load_failure(why)[1]
    return None
