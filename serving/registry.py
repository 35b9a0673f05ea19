"""Which versions the stand-in serves: TF Serving's availability-preserving version policy over the same base paths.

A version is loaded when the config's policy wants it; the versions served so far stay until a wanted one is
AVAILABLE, so a bad push (truncated saved_model.pb, empty directory) or a model directory moved away for a while
never leaves a model without a servable. When no wanted version loads and none is served yet (at start), the
older versions a `latest` policy passed over are tried, newest first, and the first that loads is served: a
restart serves what was served before it. A version that fails to load is reported (END with the error) and not
retried while its directory stays; a version whose directory disappears and reappears is loaded again. A new
config (models.config re-read) replaces the current one only once the versions its labels name are AVAILABLE.
"""
from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional, Set, Tuple

import tensorflow as tf

from serving.versions import is_version_dir, load_failure
from serving.wire import ServingError

log = logging.getLogger("dlqos.serve")


def versions_on_disk(base_path: str) -> Set[int]:
    """Version directories under base_path; nothing (not an error) when it is missing or unreadable."""
    try:
        names = tf.io.gfile.listdir(base_path) if tf.io.gfile.isdir(base_path) else []
    except tf.errors.OpError as why:
        log.warning("cannot list %s: %s", base_path, why)
        return set()
    return {int(name.rstrip("/")) for name in names if is_version_dir(name.rstrip("/"))}


def wanted_versions(entry, on_disk: Set[int]) -> Set[int]:
    """The versions the model_version_policy asks for among those on disk (default: latest 1)."""
    policy = entry.model_version_policy.WhichOneof("policy_choice")
    if policy == "all":
        return set(on_disk)
    if policy == "specific":
        return set(entry.model_version_policy.specific.versions) & on_disk
    count = entry.model_version_policy.latest.num_versions if policy == "latest" else 1
    return set(sorted(on_disk)[-max(count, 1):])


def fallback_versions(entry, on_disk: Set[int]) -> List[int]:
    """Versions to serve, newest first, when none of the wanted ones loads: those older than a `latest`
    policy's window (an `all` policy already wants them all; a `specific` one names the only versions it allows)."""
    if entry.model_version_policy.WhichOneof("policy_choice") in ("all", "specific"):
        return []
    return sorted(on_disk - wanted_versions(entry, on_disk), reverse=True)


class _Model:
    """One model's servables and the states GetModelStatus reports."""

    def __init__(self):
        self.loaded: Dict[int, object] = {}
        self.failed: Set[int] = set()  # not retried while their directory stays
        self.states: Dict[int, Tuple[str, int, str]] = {}  # version -> (state, error code, message)


class ModelRegistry:
    """Loaded versions per model, refreshed from disk according to a ModelServerConfig."""

    def __init__(self, config):
        self.config = config
        self._models: Dict[str, _Model] = {entry.name: _Model() for entry in config.model_config_list.config}
        self._lock = threading.Lock()  # guards the swap of each model's loaded set
        self._refreshing = threading.Lock()  # one refresh at a time (poller and tests)

    def refresh(self) -> None:
        """One poll: every model refreshed on its own, so that one model's fault leaves the others as they were."""
        with self._refreshing:
            for entry in self.config.model_config_list.config:
                try:
                    model = self._models[entry.name]
                    loaded, keep = self._plan(entry, model)
                    with self._lock:  # swap in one step: requests see the old or the new set, never a half
                        self._install(entry, model, loaded, keep)
                except Exception:  # the poller must survive anything; what was served stays served
                    log.exception("refreshing %s failed", entry.name)

    def apply(self, config) -> Optional[str]:
        """Serve a new ModelServerConfig (models.config re-read): the versions it wants are loaded first, then it
        replaces the current config in one step, labels included, when every label names a version that is
        AVAILABLE, as TF Serving requires. Otherwise the current config stays and the reason is returned."""
        with self._refreshing:
            entries = list(config.model_config_list.config)
            models = {entry.name: self._models.get(entry.name) or _Model() for entry in entries}
            plans = {}
            refused = None
            for entry in entries:
                try:
                    plans[entry.name] = self._plan(entry, models[entry.name])
                except Exception as why:  # whatever went wrong, the config is not applied
                    refused = f"{entry.name}: {type(why).__name__}: {why}"
                    break
            refused = refused or next((
                f"label {label} of {entry.name} names version {version}, which is not AVAILABLE"
                for entry in entries for label, version in sorted(entry.version_labels.items())
                if version not in plans[entry.name][1]), None)
            with self._lock:
                if refused:  # what loaded stays loaded for the next try; the current config trims it otherwise
                    for name, (loaded, _) in plans.items():
                        models[name].loaded = loaded
                    return refused
                for entry in entries:
                    self._install(entry, models[entry.name], *plans[entry.name])
                self._models = models
                self.config = config
        return None

    def _plan(self, entry, model: _Model) -> Tuple[Dict[int, object], Set[int]]:
        """The versions loaded once those the entry wants are (nothing unloaded yet), and those to keep."""
        on_disk = versions_on_disk(entry.base_path)
        model.failed &= on_disk  # a version that went away and comes back is tried again
        wanted = wanted_versions(entry, on_disk)
        loaded = dict(model.loaded)
        for version in sorted(wanted - set(loaded) - model.failed):
            self._load(entry, model, version, loaded)
        if not loaded:  # nothing wanted loads, nothing served: the newest older version that loads
            for version in fallback_versions(entry, on_disk):
                if version not in model.failed and self._load(entry, model, version, loaded):
                    break
        keep = {version for version in loaded if version in wanted}
        if not keep and loaded:  # nothing wanted is AVAILABLE: keep serving the newest version we have
            keep = {max(loaded)}
        return loaded, keep

    @staticmethod
    def _install(entry, model: _Model, loaded: Dict[int, object], keep: Set[int]) -> None:
        """Serve `keep` out of `loaded`, the others unloaded (called under the lock)."""
        for version in set(loaded) - keep:
            model.states[version] = ("END", 0, "")
            log.info("unloaded %s version %d", entry.name, version)
        model.loaded = {version: loaded[version] for version in keep}

    @staticmethod
    def _load(entry, model: _Model, version: int, loaded: Dict[int, object]) -> bool:
        """Load one version into `loaded`; False (and the version reported END with the error) when it fails."""
        model.states[version] = ("LOADING", 0, "")
        try:
            loaded[version] = tf.saved_model.load(f"{entry.base_path}/{version}")
        except Exception as why:  # a corrupt version is reported, the served ones stay
            model.failed.add(version)
            model.states[version] = ("END",) + load_failure(why)
            log.warning("could not load %s version %d: %s", entry.name, version, why)
            return False
        model.states[version] = ("AVAILABLE", 0, "")
        log.info("loaded %s version %d", entry.name, version)
        return True

    def entry(self, model: str):
        for entry in self.config.model_config_list.config:
            if entry.name == model:
                return entry
        raise ServingError(404, f"Servable not found for request: Latest({model})")

    def _version(self, model: str, version: Optional[int], label: Optional[str]) -> Optional[int]:
        entry = self.entry(model)
        if label is None:
            return version
        if label not in entry.version_labels:
            raise ServingError(404, f"Unrecognized servable version label: {label}")
        return entry.version_labels[label]

    def resolve(self, model: str, version: Optional[int] = None, label: Optional[str] = None) -> Tuple[int, object]:
        with self._lock:  # labels and loaded versions read together: a config swap is seen whole or not at all
            version = self._version(model, version, label)
            loaded = self._models[model].loaded
        if version is None:
            if not loaded:
                raise ServingError(404, f"Servable not found for request: Latest({model})")
            version = max(loaded)
        if version not in loaded:
            raise ServingError(404, f"Servable not found for request: Specific({model}, {version})")
        return version, loaded[version]

    def served_summary(self) -> str:
        """Each model with the versions it serves, e.g. "dense (version 1), cnn (no version loads)"."""
        with self._lock:
            served = {name: sorted(model.loaded) for name, model in self._models.items()}
        return ", ".join(f"{name} (version {', '.join(map(str, versions))})" if versions else
                         f"{name} (no version loads: see its status)" for name, versions in served.items())

    def status(self, model: str, version: Optional[int] = None, label: Optional[str] = None):
        """GetModelStatusResponse: every version this server knows of, newest first (or the one asked for)."""
        from tensorflow_serving.apis import get_model_status_pb2

        with self._lock:
            version = self._version(model, version, label)
            states = dict(self._models[model].states)
        if version is not None and version not in states:
            raise ServingError(404, f"Could not find version {version} of model {model}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for number, (state, code, message) in sorted(states.items(), reverse=True):
            if version is None or number == version:
                status = response.model_version_status.add(version=number)
                status.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
                status.status.error_code = code
                status.status.error_message = message
        return response
