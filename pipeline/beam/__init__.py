"""Beam runners the pipelines may use, one module each, and the checks on `--beam-arg` flags.

The CLI's `--runner NAME` expands here into Beam pipeline arguments; whatever the user adds with `--beam-arg`
follows them. Imports nothing heavy: `dlqos run --help` and the checks stay instant.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence, Tuple

from common.config import DEFAULT_BEAM_ARGS
from common.errors import ConfigError

RUNNERS = ("local", "flink")
# Beam runner class names (the last dotted part, lower case, with or without "runner", as Beam's create_runner
# resolves them) that cannot run TFX components, and why (measured: docs/platform.md, facts section 6).
REFUSED_RUNNERS = {
    "daskrunner": "Beam's Dask runner cannot run TFX components (Beam 2.77: Read/Impulse become no-ops, file sinks "
                  "write empty files, only the last branch runs; ImportExampleGen 'succeeded' with 0 records); "
                  "use --runner flink or the default local runner",
}


def runner_names(beam_args: Sequence[str]) -> list:
    """Every runner a Beam argument list names: `--runner=X` or `--runner X` (Beam's parser takes no
    abbreviations, so these are the only spellings)."""
    names = []
    for index, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            names.append(arg.split("=", 1)[1])
        elif arg == "--runner" and index + 1 < len(beam_args):
            names.append(beam_args[index + 1])
    return names


def _refusal(runner: str) -> Optional[str]:
    """Why a runner name is refused, or None. Resolved as Beam does: the class name, case-insensitive, with
    'Runner' appended when missing, so `dask`, `DaskRunner` and the fully qualified class all match."""
    name = _class_name(runner)
    return REFUSED_RUNNERS.get(name) or REFUSED_RUNNERS.get(name + "runner")


def _class_name(runner: str) -> str:
    """A runner's class name as Beam's create_runner matches it: the last dotted part, lower case."""
    return runner.strip().rsplit(".", 1)[-1].lower()


def check_beam_args(beam_args: Sequence[str]) -> Tuple[str, ...]:
    """Refuse, before any work, a runner known to fail silently (a success status with empty outputs)."""
    for runner in runner_names(beam_args):
        why = _refusal(runner)
        if why:
            raise ConfigError(f"--beam-arg --runner={runner} is refused: {why}")
    return tuple(beam_args)


@contextlib.contextmanager
def shared_services(beam_args: Sequence[str]) -> Iterator[Tuple[str, ...]]:
    """The Beam arguments for every pipeline of one run (a `run`, `study` or `compare`), with what they share up
    until the block ends: for Flink one job server and one SDK worker pool (pipeline.beam.flink.shared_services);
    other runners share nothing and get the arguments as they are."""
    if not any(_class_name(name) in ("flink", "flinkrunner") for name in runner_names(beam_args)):
        yield tuple(beam_args)
        return
    from pipeline.beam import flink

    with flink.shared_services(beam_args) as shared:
        yield shared


def beam_args(runner: str = "local", user_args: Sequence[str] = (), flink_master: Optional[str] = None,
              cluster: bool = False, flink_runner_provided: bool = False) -> Tuple[str, ...]:
    """The Beam arguments for `--runner NAME` plus the user's `--beam-arg` flags (which come last and so win).
    local: Beam's in-process runner (DEFAULT_BEAM_ARGS) unless the user names another; flink: Beam's portable
    Flink runner (pipeline.beam.flink; flink_runner_provided: the cluster holds its jars). cluster: arguments for
    pods that the driver cannot be reached from."""
    user_args = check_beam_args(user_args or ())
    if runner == "local":
        if flink_master:
            raise ConfigError("--flink-master needs --runner flink")
        if flink_runner_provided:
            raise ConfigError("--flink-runner-provided needs --runner flink")
        return user_args or DEFAULT_BEAM_ARGS
    if runner == "flink":
        if runner_names(user_args):
            raise ConfigError(f"--runner flink and --beam-arg --runner={runner_names(user_args)[0]} contradict: "
                              "give one of them")
        from pipeline.beam import flink

        return flink.beam_args(flink_master, cluster, flink_runner_provided) + user_args
    raise ConfigError(f"unknown runner '{runner}': choose one of {', '.join(RUNNERS)}")
