"""Pusher that publishes a version atomically.

TF Serving polls <base>/<version>/ and loads any numeric directory it sees. The stock Pusher copies files
straight into that directory, so an interrupted push leaves a half-written version for the server to choke on.
This executor lets the stock Pusher write into a hidden staging directory (ignored by TF Serving: its name is
not a number) on the same filesystem, adds TF Serving warmup requests, then renames the finished version into
place. Staging directories a killed push left behind are removed by the next push.
"""
from __future__ import annotations

import os
import re
import time
import uuid

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from serving.warmup import write_warmup
from tfx.v1.components import Pusher

_DESTINATION_KEY = "pushed_destination"
# .staging-<start time>-<uuid>; before the time was in the name: .staging-<uuid>
_STAGING = re.compile(r"\.staging-(?:(\d+)-)?[0-9a-f]{32}")
STALE_STAGING_S = 3600  # a push copies one SavedModel: a staging directory this old belongs to a dead push


def remove_stale_staging(base: str, now: float) -> None:
    """Remove what killed pushes left under `base`; TF Serving ignores it, but it piles up (a model's size each).
    A younger one may be another pipeline's push in progress and is kept."""
    for name in fileio.listdir(base) if fileio.exists(base) else []:
        match = _STAGING.fullmatch(name.rstrip("/"))
        if match and (match.group(1) is None or now - int(match.group(1)) > STALE_STAGING_S):
            fileio.rmtree(os.path.join(base, name.rstrip("/")))


class AtomicPushExecutor(pusher_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        base = destination.filesystem.base_directory
        remove_stale_staging(base, time.time())
        staging = os.path.join(base, f".staging-{int(time.time())}-{uuid.uuid4().hex}")
        destination.filesystem.base_directory = staging
        staged_properties = dict(exec_properties)
        staged_properties[standard_component_specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(destination)
        fileio.makedirs(staging)
        try:
            super().Do(input_dict, output_dict, staged_properties)
            model_push: types.Artifact = artifact_utils.get_single_instance(
                output_dict[standard_component_specs.PUSHED_MODEL_KEY])
            for version in fileio.listdir(staging):
                version = version.rstrip("/")
                write_warmup(os.path.join(staging, version), os.path.basename(base.rstrip("/")))
                final = os.path.join(base, version)
                if fileio.exists(final):
                    raise RuntimeError(f"model version {final} already exists; refusing to overwrite it")
                fileio.rename(os.path.join(staging, version), final)
                model_push.set_string_custom_property(_DESTINATION_KEY, final)
        finally:
            if fileio.exists(staging):
                fileio.rmtree(staging)


class AtomicPusher(Pusher):
    """tfx.components.Pusher with AtomicPushExecutor; same inputs, outputs and properties."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
