"""The deadline of a try while its status line and headers arrive.

A read timeout bounds each read of the socket, not the answer: a server that
sends its headers a byte a second is never timed out. Once the headers are in,
:mod:`.answer` bounds the body itself; until then, this module does: a try
sent through the process's shared token-call session (:mod:`.pool`) is
watched (:func:`watching`), and if its headers have not arrived by its
deadline, its connection is shut down, which ends the blocked read at once.

One daemon thread watches every try of the process (a heap of deadlines), so
a watch costs no thread of its own, and it is never busy with anything else
(the renewal workers may all be stuck in the very calls it must end). A
session given with ``session=`` is the caller's: its tries are bounded per read
only while the headers arrive.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

from ..engine import fork as _fork

__all__ = ["Watch", "attach", "watching"]


class Watch:
    """One try under watch: the connection it uses (attached by the pool when it
    hands one out), and whether its deadline passed before it was done."""

    __slots__ = ("_lock", "conn", "done", "expired")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.conn: Any = None
        self.done = False
        self.expired = False

    def expire(self) -> None:
        """The deadline passed: shut the connection down, unless the try is done."""
        with self._lock:
            if self.done:
                return
            self.expired = True
            sock = getattr(self.conn, "sock", None)
        if sock is not None:
            # The plain socket's shutdown (for TLS too): the blocked read returns at
            # once, and no TLS close_notify is written from this thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self.done = True


class _Watchdog:
    """The process's one watching thread, started on first use."""

    def __init__(self) -> None:
        self._reset()
        _fork.register(self)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: List[Tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def reset_after_fork(self) -> None:
        self._reset()  # the parent's thread does not exist here; the child's tries start a new one

    def add(self, when: float, watch: Watch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="requests_multiauth watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    if self._heap:
                        self._cond.wait(self._heap[0][0] - time.monotonic())
                    else:
                        self._cond.wait()
                _, _, watch = heapq.heappop(self._heap)
            if not watch.done:
                watch.expire()


_watchdog = _Watchdog()
_current = threading.local()


@contextmanager
def watching(until: float) -> Iterator[Watch]:
    """Watch the try this thread sends now: its connection is shut down at *until*
    (on ``time.monotonic``) if the block has not ended by then."""
    watch = Watch()
    _current.watch = watch
    _watchdog.add(until, watch)
    try:
        yield watch
    finally:
        _current.watch = None
        watch.finish()


def attach(conn: Any) -> None:
    """Called by the pool with the connection it hands this thread: the one to shut
    down if this thread's watched try runs out of time."""
    watch: Optional[Watch] = getattr(_current, "watch", None)
    if watch is not None:
        watch.conn = conn
