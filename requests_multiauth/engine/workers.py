"""The background threads of the process: renewals ahead of expiry, and housekeeping.

Every auth of the process renews its stale token here (see
:meth:`~requests_multiauth.engine.manager.TokenManager._renew_ahead`), on at most
:data:`RENEWAL_WORKERS` threads, instead of on a thread of its own: when a
thousand tokens fall due together, a thousand threads would fight over the
interpreter lock with the requests they are meant to spare, and a thousand
token calls would hit one endpoint at once.

* Renewals run earliest deadline first (the deadline is when the stale token
  expires), so a short-lived token is not stuck behind long-lived ones.
* When the renewals cannot keep up (the token endpoint is too slow for the
  number of tokens), a warning says so: a renewal that must wait for a thread
  and would, at the measured pace, end after its token expires though it would
  have ended in time had it started at once (see :func:`late_in_line`), or that
  waited in line past its token's expiry. Such a token's requests then wait for
  a new token, as they would without renewal ahead. A renewal that is late
  whatever the line (its token was noticed stale just before expiry) is not
  blamed on the line.
* A thread with nothing to do for :data:`WORKER_IDLE` seconds ends: an idle
  process holds no renewal thread.
* :func:`call_later` runs housekeeping (closing idle token connections, see
  :mod:`._pool`) on the same threads.

After ``os.fork()`` the child has none of the parent's threads and none of its
queued work (the renewals queued in the parent belong to the parent's locks);
threads are started anew on the child's first renewal.

Where the request goes next: a renewal ahead calls the engine (manager.py), which calls
the grant and the token endpoint; the requests themselves never wait on these threads.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
import time
from typing import Callable, List, Optional, Tuple

from ..telemetry import log_fields
from . import fork as _fork

__all__ = ["RENEWAL_WORKERS", "WORKER_IDLE", "Task", "call_later", "late_in_line", "submit"]

log = logging.getLogger("requests_multiauth")

#: Renewal threads of the process at most. A renewal mostly waits on the token
#: endpoint (its CPU cost is a few milliseconds), so 8 threads renew about 40
#: tokens a second from an endpoint answering in 0.2 s, i.e. 12,000 in the
#: 300 s renewal window of an hour-long token, while leaving the interpreter
#: lock to the requests of the process.
RENEWAL_WORKERS = 8

#: Seconds a worker thread waits for work before it ends.
WORKER_IDLE = 10.0

#: The "renewals fall behind" warning is logged at most this often, in seconds.
BEHIND_WARNING_INTERVAL = 60.0

#: The pace assumed before any renewal has been measured, in seconds per token call.
ASSUMED_CALL_TIME = 0.5


def late_in_line(*, ahead: int, busy: int, size: int, pace: float, seconds_left: float) -> Optional[float]:
    """How long a renewal would wait for a thread, if that wait makes it end after its
    token expires though starting at once it would not; else None.

    Args:
        ahead: renewals queued before it (earlier expiry first), itself not counted.
        busy: renewals running now.
        size: the most threads that run renewals.
        pace: seconds a renewal takes (the measured average).
        seconds_left: until its token expires.
    """
    in_line = ahead + busy  # the renewals a thread must finish before this one starts
    if in_line < size:
        return None  # a thread is free (or can be started): no wait for the line
    wait = pace * ((in_line - size) // size + 1)
    if pace <= seconds_left < wait + pace:
        return wait
    return None


class Task:
    """A renewal queued or running on the workers; :meth:`join` waits for it."""

    __slots__ = ("_done", "deadline", "fn", "name", "queued_at")

    def __init__(self, fn: Callable[[], None], deadline: float, name: str) -> None:
        self.fn = fn
        self.deadline = deadline  # on time.monotonic()
        self.name = name
        self.queued_at = time.monotonic()
        self._done = threading.Event()

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait until the task has run (or was dropped), at most *timeout* seconds."""
        self._done.wait(timeout)

    def done(self) -> bool:
        return self._done.is_set()

    def finish(self) -> None:
        """Mark the task run (or dropped): wake whoever joins it."""
        self._done.set()


class _Workers:
    """A bounded set of daemon threads taking tasks earliest deadline first. Thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._reset()
        _fork.register(self)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: List[Tuple[float, int, Task]] = []
        self._later: List[Tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._threads = 0
        self._idle = 0
        self._busy = 0  # renewals running now
        self._pace = ASSUMED_CALL_TIME  # a moving average of a renewal's duration
        self._warned_at = -BEHIND_WARNING_INTERVAL

    def reset_after_fork(self) -> None:
        dropped = [task for _, _, task in self._queue]
        self._reset()
        for task in dropped:  # their locks were replaced in the child; nobody should wait on them
            task.finish()

    @property
    def threads(self) -> int:
        """Worker threads alive now."""
        return self._threads

    def submit(self, fn: Callable[[], None], *, seconds_left: float, name: str) -> Task:
        """Queue *fn* to run on a worker; *seconds_left* is how long until its
        token expires. Raises RuntimeError when no worker runs and none can be
        started (the process is out of threads)."""
        now = time.monotonic()
        task = Task(fn, now + seconds_left, name)
        entry = (task.deadline, next(self._order), task)
        with self._cond:
            heapq.heappush(self._queue, entry)
            try:
                self._start_worker_if_needed()
            except BaseException:
                self._queue.remove(entry)  # nobody would ever run it
                heapq.heapify(self._queue)
                raise
            self._cond.notify()
            wait = None
            if len(self._queue) - 1 + self._busy >= self.size:  # no free thread: count exactly
                ahead = sum(1 for deadline, _, _ in self._queue if deadline <= task.deadline) - 1
                wait = late_in_line(
                    ahead=ahead, busy=self._busy, size=self.size, pace=self._pace, seconds_left=seconds_left
                )
            if wait is not None:
                self._warn_behind_locked(
                    f"{name}'s renewal waits about {wait:.2f} s for a thread ({ahead} renewals ahead of it, "
                    f"{self._busy} running) and its token expires in {seconds_left:.2f} s"
                )
        return task

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run *fn* on a worker in *delay* seconds (about). Raises RuntimeError
        when no worker runs and none can be started."""
        entry = (time.monotonic() + delay, next(self._order), fn)
        with self._cond:
            heapq.heappush(self._later, entry)
            try:
                self._start_worker_if_needed()
            except BaseException:
                self._later.remove(entry)
                heapq.heapify(self._later)
                raise
            self._cond.notify()

    def _start_worker_if_needed(self) -> None:
        # Called with self._cond held. Idle workers take the work first; one more
        # is started only while there is more work waiting than idle workers.
        if len(self._queue) + len(self._later) <= self._idle or self._threads >= self.size:
            return
        thread = threading.Thread(target=self._work, name="requests_multiauth renewal", daemon=True)
        self._threads += 1
        try:
            thread.start()
        except RuntimeError:  # "can't start new thread": the process is at its limit
            self._threads -= 1
            if self._threads == 0:
                raise
            # Some workers run: they will get to the queue, only with fewer hands.

    def _next(self) -> Optional[Callable[[], None]]:
        """The next thing to run, or None when this worker should end. Waits."""
        idle_since = time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                if self._later and self._later[0][0] <= now:
                    return heapq.heappop(self._later)[2]
                if self._queue:
                    task = heapq.heappop(self._queue)[2]
                    if now > task.deadline and task.deadline - task.queued_at >= self._pace:
                        # Started at once it would have been in time: the line made it late.
                        self._warn_behind_locked(
                            f"{task.name}'s token expired while its renewal waited {now - task.queued_at:.2f} s "
                            "for a thread"
                        )
                    self._busy += 1
                    return functools.partial(self._run, task)
                waited = now - idle_since
                if waited >= WORKER_IDLE and (not self._later or self._threads > 1):
                    self._threads -= 1
                    return None
                timeout = WORKER_IDLE - waited if waited < WORKER_IDLE else WORKER_IDLE
                if self._later:
                    timeout = min(timeout, max(self._later[0][0] - now, 0.0))
                self._idle += 1
                try:
                    self._cond.wait(timeout)
                finally:
                    self._idle -= 1

    def _work(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                job()
            except Exception:  # a task's own errors are its to report; never lose the worker
                log.exception("a background task of requests_multiauth failed", extra=log_fields("worker.task_failed"))

    def _run(self, task: Task) -> None:
        started = time.monotonic()
        try:
            task.fn()
        finally:
            task.finish()
            took = time.monotonic() - started
            with self._cond:
                self._busy -= 1
                self._pace = 0.8 * self._pace + 0.2 * took

    def _warn_behind_locked(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned_at < BEHIND_WARNING_INTERVAL:
            return
        self._warned_at = now
        log.warning(
            "renewals ahead of expiry are falling behind: %s; %d renewals are queued and %d running on %d "
            "renewal threads at most, and a renewal takes %.2f s. Tokens whose renewal comes too late expire "
            "first, and their requests wait for a new token: the token endpoint is too slow for this many tokens",
            what,
            len(self._queue),
            self._busy,
            self.size,
            self._pace,
            extra=log_fields(
                "renewal.behind", queued=len(self._queue), running=self._busy, workers=self.size, call_time=self._pace
            ),
        )


_workers = _Workers(RENEWAL_WORKERS)


def submit(fn: Callable[[], None], *, seconds_left: float, name: str) -> Task:
    """Queue a renewal on the process's workers (see :meth:`_Workers.submit`)."""
    return _workers.submit(fn, seconds_left=seconds_left, name=name)


def call_later(delay: float, fn: Callable[[], None]) -> None:
    """Run housekeeping *fn* on the process's workers in *delay* seconds."""
    _workers.call_later(delay, fn)


def threads() -> int:
    """How many worker threads are alive now."""
    return _workers.threads
