"""TF Serving configuration for the models the pipelines pushed: models.config, batching and monitoring.

Written with the real ModelServerConfig proto. Version labels: `stable` is the older of the two newest
versions and `canary` the newest when two are served; with one version it is `stable`.

The models.config written for TF Serving pins versions that load (`specific`): TF Serving's start-up waits for
each model's newest aspired version and fails as a whole when that version's load ends in an error
(docs/serving.md), so a `latest` policy over a bad newest version would leave nothing served after a restart.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional

from google.protobuf import text_format

from dlqos.errors import ConfigError, read_text_file

log = logging.getLogger("dlqos.serve")

BATCHING = """max_batch_size { value: 32 }
batch_timeout_micros { value: 2000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: %d }
"""
DEFAULT_BATCH_THREADS = 2
MONITORING = """prometheus_config {
  enable: true
  path: "/monitoring/prometheus/metrics"
}
"""


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
    from serving.registry import load_error

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


def models_config(serving_root: str, base_path: Optional[str] = None, num_versions: int = 2, pin: bool = False):
    """ModelServerConfig serving the newest `num_versions` versions of every pushed model.

    base_path: where the server sees serving_root (e.g. /models inside the TF Serving container).
    pin: a `specific` policy naming the newest versions that load (for TF Serving, whose start fails on a bad
    newest version) instead of `latest` (for the stand-in, which falls back itself and picks up new pushes).
    """
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for name, versions in model_versions(serving_root).items():
        if pin:
            versions = newest_that_load(os.path.join(serving_root, name), versions, num_versions)
            if not versions:
                log.warning("%s: no version loads, so the model is left out", name)
                continue
        entry = config.model_config_list.config.add(
            name=name, base_path=os.path.join(base_path or serving_root, name), model_platform="tensorflow")
        if pin:
            entry.model_version_policy.specific.versions.extend(versions)
        else:
            entry.model_version_policy.latest.num_versions = num_versions
        served = versions[-num_versions:]
        if len(served) >= 2:
            entry.version_labels["stable"] = served[-2]
            entry.version_labels["canary"] = served[-1]
        else:
            entry.version_labels["stable"] = served[-1]
    return config


def write_config_files(serving_root: str, out_dir: str, base_path: Optional[str] = None,
                       num_versions: int = 2, batch_threads: int = DEFAULT_BATCH_THREADS) -> Dict[str, str]:
    """models.config (versions pinned: see models_config), batching.config and monitoring.config for
    `tensorflow_model_server`, each replaced whole (TF Serving re-reads models.config while it runs)."""
    os.makedirs(out_dir, exist_ok=True)
    files = {
        "models.config": text_format.MessageToString(models_config(serving_root, base_path, num_versions, pin=True)),
        "batching.config": BATCHING % batch_threads,
        "monitoring.config": MONITORING,
    }
    paths = {}
    for name, text in files.items():
        paths[name] = os.path.join(out_dir, name)
        with open(paths[name] + ".tmp", "w") as f:
            f.write(text)
        os.replace(paths[name] + ".tmp", paths[name])
    return paths


def read_models_config(path: str, flag: str = "--models-config"):
    """The ModelServerConfig in a text file; a missing file or a parse error is one line naming both."""
    from tensorflow_serving.config import model_server_config_pb2

    try:
        return text_format.Parse(read_text_file(path, flag), model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as error:
        raise ConfigError(f"{flag} {path}: not a ModelServerConfig text proto: {error}") from None


@dataclass(frozen=True)
class BatchingParameters:
    """The batching fields the stand-in honours (max_enqueued_batches and the rest are TF Serving's only).

    Defaults are TF Serving's for a field the file leaves out."""
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)


# One field of a BatchingParameters text proto: `name { value: V }` (the wrapped scalars) or `name: V` (repeated
# allowed_batch_sizes and the like), V a number, a quoted string or a bool; what matches neither is an error.
_BATCHING_FIELD = re.compile(r'\s*(\w+)\s*(?:\{\s*value\s*:\s*(-?\d+|"[^"]*"|true|false)\s*\}'
                             r'|:\s*(-?\d+|"[^"]*"|true|false))\s*')


def parse_batching_parameters(text: str, source: str = "batching parameters") -> BatchingParameters:
    """The fields the stand-in honours from a batching_parameters file (tensorflow-serving-api does not ship its
    proto). Text that is not a field, or an honoured field without a whole number >= 1, is an error naming the
    line: TF Serving refuses such a file too, and silently serving with defaults would hide the mistake."""
    values, position = {}, 0
    text = re.sub(r"#[^\n]*", "", text)
    while position < len(text.rstrip()):
        field_match = _BATCHING_FIELD.match(text, position)
        if field_match is None:
            line = text.count("\n", 0, position + len(text[position:]) - len(text[position:].lstrip())) + 1
            raise ConfigError(f"{source}: line {line}: not a batching parameter: "
                              f"'{text.splitlines()[line - 1].strip()}' (expected NAME {{ value: N }})")
        values[field_match.group(1)] = field_match.group(2) or field_match.group(3)
        position = field_match.end()
    honoured = {}
    for name in (f.name for f in fields(BatchingParameters) if f.name in values):
        if not values[name].isdigit() or int(values[name]) < 1:
            raise ConfigError(f"{source}: {name} must be a whole number >= 1, got {values[name]}")
        honoured[name] = int(values[name])
    return BatchingParameters(**honoured)


def read_batching_parameters(path: str, flag: str = "--batching-parameters-file") -> BatchingParameters:
    return parse_batching_parameters(read_text_file(path, flag), f"{flag} {path}")
