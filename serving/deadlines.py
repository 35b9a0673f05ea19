"""Requests that stop computing when nobody waits for them any more.

Each request gets a deadline (REST: --rest_api_timeout_in_ms, as TF Serving's HTTP handler sets RunOptions
timeout_in_ms; gRPC: the client's deadline, as TF Serving's PredictionServiceImpl does) and a test telling
whether its client is gone (a closed REST connection, a cancelled gRPC call). A watchdog thread cancels the
TensorFlow call of a request past either: TensorFlow's eager CancellationManager stops a running tf.function,
tf.while_loop included, within milliseconds, and the call raises CancelledError, answered here as
DEADLINE_EXCEEDED (REST 504) or CANCELLED (REST 499), the statuses TF Serving gives.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional, Set

import tensorflow as tf
from tensorflow.python.eager import cancellation

from serving.wire import ServingError

WATCH_SECONDS = 0.1  # how often the watchdog looks at the running requests

_running = threading.local()  # the CancellationManager of the signature call this thread is running


def _manager_of_this_thread():
    return getattr(_running, "manager", None)


# TensorFlow reads the manager for a function call from one process-wide slot (cancellation.context()), which
# concurrent requests would overwrite; the stand-in keeps one per thread instead.
cancellation.context = _manager_of_this_thread


def _never() -> bool:
    return False


class Call:
    """One request's (or one merged batch's) right to compute: stopped once its deadline passes or its client
    is gone. timeout_s None: no deadline. Made by Watchdog.call, which watches it while it runs."""

    def __init__(self, timeout_s: Optional[float], client_gone: Callable[[], bool], watchdog: "Watchdog"):
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._client_gone = client_gone
        self._watchdog = watchdog
        self.error: Optional[ServingError] = None
        self._manager: Optional[cancellation.CancellationManager] = None

    def stopped(self) -> Optional[ServingError]:
        """Why this request must stop (its deadline passed, its client left), or None; once set, it stays."""
        if self.error is None:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.error = ServingError(504, "Deadline Exceeded: the request ran past its deadline")
            elif self._client_gone():
                self.error = ServingError(499, "Cancelled: the client closed the request")
        return self.error

    def cancel_if_stopped(self) -> None:
        manager = self._manager
        if manager is not None and self.stopped():
            manager.start_cancel()

    def run(self, function, tensors: Dict[str, tf.Tensor]):
        """function(**tensors), cancelled by the watchdog once stopped(): then its reason is raised."""
        if self.stopped():
            raise self.error
        self._manager = _running.manager = cancellation.CancellationManager()
        try:
            with self._watchdog.watching(self):
                return function(**tensors)
        except tf.errors.CancelledError:
            if self.stopped():
                raise self.error from None
            raise
        finally:
            self._manager = _running.manager = None


class Watchdog:
    """One thread cancelling the running calls that are stopped, every WATCH_SECONDS."""

    def __init__(self):
        self._calls: Set[Call] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="deadline-watchdog")
        self._thread.start()

    @contextmanager
    def watching(self, call: Call):
        with self._lock:
            self._calls.add(call)
        try:
            yield
        finally:
            with self._lock:
                self._calls.discard(call)

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            with self._lock:
                calls = list(self._calls)
            for call in calls:
                call.cancel_if_stopped()

    def call(self, timeout_s: Optional[float] = None, client_gone: Callable[[], bool] = _never) -> Call:
        return Call(timeout_s, client_gone, self)

    def all_of(self, calls: List[Call]) -> Call:
        """A merged batch's call: stopped only once every request in it is (the others still want its answer)."""
        return Call(None, lambda: all(call.stopped() for call in calls), self)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

