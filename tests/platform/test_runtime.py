"""scripts/runtime.sh's sandbox route under a supervisor: a signal stops the command, not only the wrapper.

The tests run inside the sandbox themselves, where the real root filesystem cache is not visible. They give
runtime.sh a stand-in root filesystem instead: marked as built and synced (so setup does nothing), with this
system's /usr bind-mounted into it in a private mount namespace, so the sandbox route runs for real (nested
unshare, mounts, chroot) on a plain python3.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(ROOT, "scripts", "runtime.sh")
SLEEP_S = 2.0
SYSTEM_DIRS = ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64")
CHILD = """
import os, sys, time
print(os.environ["TMPDIR"], os.getpid(), flush=True)
time.sleep(float(sys.argv[2]))
open(sys.argv[1], "w").write("finished")
"""


def _setting(name: str) -> str:
    return re.search(rf'^{name}="?([^"\n]*)"?$', open(RUNTIME).read(), re.M).group(1)


def _lock_hash() -> str:
    """runtime.sh's LOCK_HASH: what marks a runtime as synced with uv.lock and pyproject.toml."""
    lock = b"".join(open(os.path.join(ROOT, name), "rb").read() for name in ("uv.lock", "pyproject.toml"))
    return hashlib.sha256(lock).hexdigest()[:16]


def _stand_in_uv(cache) -> None:
    uv = cache / f"uv-{_setting('UV_VERSION')}" / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.write_text("#!/bin/sh\n")
    uv.chmod(0o755)


def _stand_in_cache(cache) -> str:
    """A cache whose root filesystem and uv look ready to runtime.sh; the system dirs are mount points."""
    rootfs = cache / f"rootfs-{_setting('DEBIAN_SUITE')}"
    for path in SYSTEM_DIRS + ("proc", "sys", "dev", "tmp", "etc", "opt/venv", "usr/local/bin"):
        (rootfs / path).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{link}"):
            (rootfs / link).symlink_to(os.readlink(f"/{link}"))
    (rootfs / "opt/venv/.dlqos-lock").write_text(_lock_hash() + "\n")
    (rootfs / ".dlqos-base").write_text("stand-in\n")
    (rootfs / ".dlqos-tools").write_text(_setting("TOOL_PACKAGES") + "\n")
    certificates = rootfs / "usr/local/share/ca-certificates"  # as if carried already: nothing to update
    certificates.mkdir(parents=True)
    for crt in glob.glob("/usr/local/share/ca-certificates/*.crt"):
        shutil.copy(crt, certificates)
    _stand_in_uv(cache)
    return str(rootfs)


@pytest.fixture
def sandboxed(tmp_path):
    """Popen keywords and argv prefix that run runtime.sh's sandbox route on the stand-in root filesystem."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the sandbox route needs root and unshare (on a glibc >= 2.38 host the native route is used)")
    rootfs = _stand_in_cache(tmp_path / "cache")
    mounts = "; ".join(f"mount --bind /{path} {rootfs}/{path}" for path in SYSTEM_DIRS if os.path.isdir(f"/{path}"))
    env = dict(os.environ, DLQOS_RUNTIME="sandbox", DLQOS_CACHE=str(tmp_path / "cache"),
               PATH="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    # unshare and bash exec into runtime.sh: the Popen's pid is runtime.sh's, as a supervisor would see it.
    argv = ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", f'{mounts}; exec "$@"', "mount",
            RUNTIME]
    # Default signal dispositions, as a supervisor gives its children: an ignored SIGHUP (pytest under nohup)
    # stays ignored across exec and bash cannot trap it.
    return argv, dict(env=env, cwd=ROOT, text=True, start_new_session=True,
                      preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))


def _start_sleeper(sandboxed, marker):
    """runtime.sh running a python3 that sleeps SLEEP_S, then writes `marker`: (process, scratch, child pid, when it
    started sleeping)."""
    argv, options = sandboxed
    runtime = subprocess.Popen(argv + ["python3", "-c", CHILD, str(marker), str(SLEEP_S)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, **options)
    scratch, child = runtime.stdout.readline().split()
    assert scratch.startswith("/tmp/dlqos.") and os.path.isdir(scratch)
    return runtime, scratch, child, time.monotonic()


def _assert_child_never_finishes(marker, child, started):
    time.sleep(max(0.0, started + SLEEP_S + 0.5 - time.monotonic()))  # past the moment the child would have finished
    assert not marker.exists() and not os.path.exists(f"/proc/{child}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_runtime_sh_stops_the_command_and_removes_its_scratch_dir(sandboxed, tmp_path, signum):
    runtime, scratch, child, started = _start_sleeper(sandboxed, tmp_path / "finished")
    runtime.send_signal(signum)
    assert runtime.wait(timeout=30) == 128 + signum  # the child's status: it was stopped by the same signal
    _assert_child_never_finishes(tmp_path / "finished", child, started)
    assert not os.path.exists(scratch)


def test_killing_runtime_sh_kills_the_command(sandboxed, tmp_path):
    runtime, scratch, child, started = _start_sleeper(sandboxed, tmp_path / "finished")
    runtime.kill()
    assert runtime.wait(timeout=30) == -signal.SIGKILL
    _assert_child_never_finishes(tmp_path / "finished", child, started)
    shutil.rmtree(scratch)  # nobody is left to remove it


def test_runtime_sh_passes_on_stdin_and_the_exit_status(sandboxed):
    argv, options = sandboxed
    code = "import os; print(input()[::-1], os.environ['TMPDIR']); raise SystemExit(7)"
    done = subprocess.run(argv + ["python3", "-c", code], input="olleh\n", capture_output=True, timeout=60,
                          **options)
    assert done.returncode == 7, done.stderr
    answer, scratch = done.stdout.split()
    assert answer == "hello" and not os.path.exists(scratch)


def test_the_native_route_execs_so_a_signal_reaches_the_command(tmp_path):
    """The native route replaces runtime.sh with the command (exec): the pid a supervisor signals is the command's,
    and SIGTERM stops it before it finishes. runtime.sh runs from a copy of the checkout's scripts whose .venv looks
    synced, so nothing is installed."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    for name in ("uv.lock", "pyproject.toml", "scripts/runtime.sh"):
        shutil.copy(os.path.join(ROOT, name), checkout / name)
    (checkout / ".venv").mkdir()
    (checkout / ".venv/.dlqos-lock").write_text(_lock_hash() + "\n")
    _stand_in_uv(tmp_path / "cache")
    env = dict(os.environ, DLQOS_RUNTIME="native", DLQOS_CACHE=str(tmp_path / "cache"), TMPDIR=str(tmp_path))
    marker = tmp_path / "finished"
    runtime = subprocess.Popen([str(checkout / "scripts/runtime.sh"), "python3", "-c", CHILD, str(marker),
                                str(SLEEP_S)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                               start_new_session=True)
    _, child = runtime.stdout.readline().split()
    assert int(child) == runtime.pid
    started = time.monotonic()
    runtime.send_signal(signal.SIGTERM)
    assert runtime.wait(timeout=30) == -signal.SIGTERM, runtime.stderr.read()
    _assert_child_never_finishes(marker, child, started)
