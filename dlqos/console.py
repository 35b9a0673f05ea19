"""What the `dlqos` command shows on its console besides its own output: native libraries' log lines hidden unless
--verbose, and SIGINT/SIGTERM turned into one exception that the command line reports as one line."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading

# A line of absl's C++ log (TensorFlow, XLA, gRPC): severity I/W/E, date, time, thread, file:line]. F (fatal) stays.
# TensorFlow 2.21 writes these through absl before Python can set anything (TF_CPP_MIN_LOG_LEVEL does not filter
# them), e.g. oneDNN's and "Could not find cuda drivers" at import, cuInit's failure on a CPU machine.
NATIVE_LOG_LINE = re.compile(rb"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.\-]+:\d+\] ")
ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `exit_code` is the shell's 128 + signal number (130, 143)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupts_raise():
    """SIGINT and SIGTERM raise Interrupted in the main thread, so that `with` blocks and `finally` clauses run
    (the output lock, temporary files) and the command ends with one line instead of dying mid-write or with a
    traceback. Outside the main thread (nothing to install) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def drop_native_logs(chunk: bytes) -> bytes:
    """The chunk without native log lines and the lines that continue them: a native message is written whole, so
    the lines after one in the same chunk are its continuation (cpu_feature_guard's "To enable the following...")."""
    lines = chunk.splitlines(keepends=True)
    first = next((index for index, line in enumerate(lines)
                  if NATIVE_LOG_LINE.match(line) or line.rstrip(b"\r\n") == ABSL_PREAMBLE), len(lines))
    return b"".join(lines[:first])


def _pump(read_end: int, write_end: int) -> None:
    """Copy fd read_end to write_end line by line without native log lines, until every writer has closed it."""
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while True:
            data = source.read(65536)
            if not data:
                break
            complete, _, pending = (pending + data).rpartition(b"\n")
            if complete:
                os.write(write_end, drop_native_logs(complete + b"\n"))
    if pending:
        os.write(write_end, drop_native_logs(pending))
    os.close(write_end)


@contextlib.contextmanager
def native_logs_hidden():
    """Route file descriptor 2 (what native libraries and child processes write) through a filter that drops
    native log lines; Python's own sys.stderr keeps writing to the terminal directly. Where sys.stderr is not the
    process's stderr (a test capturing it) Python's writes are left where they go."""
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, os.dup(terminal)), name="native-log-filter", daemon=True)
    pump.start()
    python_stderr = sys.stderr
    if python_stderr is sys.__stderr__:
        sys.stderr = open(os.dup(terminal), "w", buffering=1, encoding=python_stderr.encoding,
                          errors=python_stderr.errors)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # our end of the pipe closes: the pump ends once child processes have closed theirs
        os.close(terminal)
        sys.stderr = python_stderr  # the other stays open: logging's handler may hold it until exit
        pump.join(timeout=2)
