"""TF Serving configuration for the models the pipelines pushed: models.config, batching and monitoring.

Written with the real ModelServerConfig proto. Version labels (a model's Rollout): `stable` takes production
traffic, `canary` names a newer version on trial; a new push becomes the canary while stable stays, `dlqos
promote` moves stable to the canary and `dlqos rollback` back to the served version before it (docs/serving.md).

The models.config written for TF Serving pins versions that load (`specific`): TF Serving's start-up waits for
each model's newest aspired version and fails as a whole when that version's load ends in an error
(docs/serving.md), so a `latest` policy over a bad newest version would leave nothing served after a restart.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional, Tuple

from google.protobuf import text_format

from common.errors import ConfigError, read_text_file
from serving.versions import model_versions, newest_that_load

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


STABLE = "stable"
CANARY = "canary"


@dataclass(frozen=True)
class Rollout:
    """One model's served versions (a `specific` policy) and labels: `stable` takes production traffic, `canary`
    (None when nothing is on trial) a newer version on trial; versions older than stable are rollback targets."""
    versions: Tuple[int, ...]
    stable: int
    canary: Optional[int] = None

    @classmethod
    def fresh(cls, loadable: List[int]) -> "Rollout":
        """The newest versions that load, sorted: the newest on trial, the one before it stable (alone: stable)."""
        if len(loadable) == 1:
            return cls(tuple(loadable), loadable[0])
        return cls(tuple(loadable), loadable[-2], loadable[-1])

    @classmethod
    def of(cls, entry, where: str) -> "Rollout":
        """The rollout a models.config entry describes; an entry without pinned versions or a stable label is an
        error (`where` names the file), since promotion only moves labels between versions the file pins."""
        policy = entry.model_version_policy
        if policy.WhichOneof("policy_choice") != "specific" or STABLE not in entry.version_labels:
            raise ConfigError(f"{where}: model {entry.name} has no `specific` versions with a `{STABLE}` label "
                              "(write the file with dlqos serving-config)")
        return cls(tuple(sorted(policy.specific.versions)), entry.version_labels[STABLE],
                   entry.version_labels.get(CANARY))

    def after_push(self, loadable: List[int], count: int) -> "Rollout":
        """This rollout once `loadable` (sorted, all that load) is on disk: a version newer than every one served
        becomes the canary, with stable and the newest older versions up to `count` in all; otherwise the same
        rollout less the versions that no longer load. Stable must be among `loadable`."""
        if loadable[-1] > max(self.versions):
            older = [v for v in loadable if v < self.stable][-(count - 2):] if count > 2 else []
            return Rollout(tuple(older) + (self.stable, loadable[-1]), self.stable, loadable[-1])
        canary = self.canary if self.canary in loadable else None
        return Rollout(tuple(v for v in self.versions if v in loadable), self.stable, canary)

    def promoted(self, model: str) -> "Rollout":
        """Stable := the canary; the canary label goes (nothing is on trial), the old stable stays served as the
        rollback target."""
        if self.canary is None:
            raise ConfigError(f"{model} has no `{CANARY}` version to promote (stable is version {self.stable})")
        return Rollout(self.versions, self.canary)

    def rolled_back(self, model: str) -> "Rollout":
        """Stable := the newest served version older than it. The version rolled back from stays served, without a
        label, so that serving-config does not take it for a new push; the canary is kept."""
        older = [v for v in self.versions if v < self.stable]
        if not older:
            raise ConfigError(f"{model} serves no version older than stable version {self.stable} to roll back to "
                              "(serving-config --versions 3 keeps one while a canary is on trial)")
        return Rollout(self.versions, older[-1], self.canary)

    def write_to(self, entry) -> None:
        """This rollout as a models.config entry's `specific` versions and labels."""
        entry.model_version_policy.specific.ClearField("versions")
        entry.model_version_policy.specific.versions.extend(self.versions)
        self.label(entry)

    def label(self, entry) -> None:
        entry.ClearField("version_labels")
        entry.version_labels[STABLE] = self.stable
        if self.canary is not None:
            entry.version_labels[CANARY] = self.canary


def models_config(serving_root: str, base_path: Optional[str] = None, num_versions: int = 2, pin: bool = False,
                  previous=None):
    """ModelServerConfig serving the newest `num_versions` versions of every pushed model.

    base_path: where the server sees serving_root (e.g. /models inside the TF Serving container).
    pin: a `specific` policy naming the newest versions that load (for TF Serving, whose start fails on a bad
    newest version) instead of `latest` (for the stand-in, which falls back itself and picks up new pushes).
    previous: the models.config written before (pinned): each model's rollout continues from it (Rollout.after_push).
    """
    from tensorflow_serving.config import model_server_config_pb2

    before = {entry.name: entry for entry in previous.model_config_list.config} if previous else {}
    config = model_server_config_pb2.ModelServerConfig()
    for name, versions in model_versions(serving_root).items():
        rollout = _pinned_rollout(os.path.join(serving_root, name), versions, before.get(name), num_versions) \
            if pin else Rollout.fresh(versions[-num_versions:])
        if rollout is None:
            log.warning("%s: no version loads, so the model is left out", name)
            continue
        entry = config.model_config_list.config.add(
            name=name, base_path=os.path.join(base_path or serving_root, name), model_platform="tensorflow")
        rollout.label(entry)
        if pin:
            entry.model_version_policy.specific.versions.extend(rollout.versions)
        else:
            entry.model_version_policy.latest.num_versions = num_versions
    return config


def single_model_config(name: str, base_path: str):
    """TF Serving's --model_name and --model_base_path: one model, its newest version (TF Serving's default policy)."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
    return config


def _pinned_rollout(model_dir: str, versions: List[int], previous_entry, count: int) -> Optional[Rollout]:
    """The rollout serving-config writes for one model: continued from its previous entry (only the versions it
    served and newer ones are load-checked), or fresh; None when no version loads."""
    previous = None
    if previous_entry is not None:
        try:
            previous = Rollout.of(previous_entry, "the previous models.config")
        except ConfigError as why:
            log.warning("%s: starting its rollout afresh", why)
    if previous is not None:
        recent = [v for v in versions if v >= min(previous.versions)]
        loadable = newest_that_load(model_dir, recent, len(recent))
        if previous.stable in loadable:
            return previous.after_push(loadable, count)
    loadable = newest_that_load(model_dir, versions, count)
    return Rollout.fresh(loadable) if loadable else None


def write_atomically(path: str, text: str) -> None:
    """Replace `path` whole: a temporary file in the same directory, fsynced, renamed over it (and the directory
    fsynced), so a reader (TF Serving's config poll) sees the old file or the new one, and an interrupted write
    leaves the old file and no temporary one."""
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide it from a server running as another user
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def write_config_files(serving_root: str, out_dir: str, base_path: Optional[str] = None,
                       num_versions: int = 2, batch_threads: int = DEFAULT_BATCH_THREADS) -> Dict[str, str]:
    """models.config (versions pinned, each model's rollout continued from the models.config already there: see
    models_config), batching.config and monitoring.config for `tensorflow_model_server`, each replaced
    atomically (TF Serving re-reads models.config while it runs)."""
    os.makedirs(out_dir, exist_ok=True)
    models_path = os.path.join(out_dir, "models.config")
    previous = read_models_config(models_path, "the previous") if os.path.exists(models_path) else None
    files = {
        "models.config": text_format.MessageToString(models_config(serving_root, base_path, num_versions, pin=True,
                                                                   previous=previous)),
        "batching.config": BATCHING % batch_threads,
        "monitoring.config": MONITORING,
    }
    paths = {}
    for name, text in files.items():
        paths[name] = os.path.join(out_dir, name)
        write_atomically(paths[name], text)
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
    values = {}
    position = 0
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
