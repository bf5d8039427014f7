"""Renewals ahead of expiry share a bounded set of worker threads (_workers.py).

The managers here get tokens from a function that waits a little, like a token
endpoint; their clock is a number the test sets, so a token is made stale without
sleeping. Every wait is bounded.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import List, Optional

import pytest

from requests_multiauth import MemoryTokenCache, Token
from requests_multiauth.engine import workers as _workers
from requests_multiauth.engine.manager import TokenManager

NOW = 1_800_000_000.0
LIFETIME = 3600.0
STALE = NOW + 3300.0  # inside the renewal window of a 3600 s token, still valid
WAIT = 20.0
MANAGERS = 120
CALL = 0.02  # seconds each token call takes


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class SlowFetch:
    """A token call that takes CALL seconds (the first one none) and counts how many run at once."""

    def __init__(self, name: str, counter: Counter) -> None:
        self.name = name
        self.counter = counter
        self.calls = 0

    def __call__(self, previous: Optional[Token], now: float) -> Token:
        self.calls += 1
        self.counter.enter()
        try:
            time.sleep(CALL if self.calls > 1 else 0.0)
        finally:
            self.counter.leave()
        return Token(access_token=f"{self.name}-{self.calls}", expires_at=now + LIFETIME, issued_at=now)


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1


def renewal_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "requests_multiauth renewal")


def test_many_stale_tokens_are_renewed_on_a_bounded_number_of_threads() -> None:
    clock = Clock()
    counter = Counter()
    fetches = [SlowFetch(f"t{i}", counter) for i in range(MANAGERS)]
    managers = [TokenManager(f, key=f"rma1-{i}", cache=MemoryTokenCache(), clock=clock) for i, f in enumerate(fetches)]
    for manager in managers:
        manager.token()
    clock.now = STALE

    threads_seen = 0
    for manager in managers:  # every token falls due at once: each request starts a renewal
        assert manager.token().access_token.endswith("-1")  # the stale token, at once
        threads_seen = max(threads_seen, renewal_threads())
    deadline = time.monotonic() + WAIT
    for manager in managers:
        manager.join(max(deadline - time.monotonic(), 0.0))
        threads_seen = max(threads_seen, renewal_threads())

    assert [m.current.access_token if m.current else None for m in managers] == [f"t{i}-2" for i in range(MANAGERS)]
    assert threads_seen <= _workers.RENEWAL_WORKERS
    assert counter.most <= _workers.RENEWAL_WORKERS  # and so at most that many token calls at once


def test_renewals_run_earliest_expiry_first() -> None:
    workers = _workers._Workers(1)
    release = threading.Event()
    order: List[str] = []
    blocker = workers.submit(lambda: release.wait(WAIT) and None, seconds_left=1000.0, name="blocker")
    time.sleep(0.05)  # let the one worker take the blocker (bounded: the test only needs it queued after)
    tasks = [
        workers.submit(lambda n=name: order.append(n), seconds_left=left, name=name)
        for name, left in (("in 30 s", 30.0), ("in 10 s", 10.0), ("in 20 s", 20.0))
    ]
    release.set()
    for task in [blocker, *tasks]:
        task.join(WAIT)

    assert order == ["in 10 s", "in 20 s", "in 30 s"]


def test_a_warning_says_when_renewals_cannot_keep_up(caplog: pytest.LogCaptureFixture) -> None:
    workers = _workers._Workers(1)
    workers._pace = 1.0  # as measured: each renewal takes a second
    release = threading.Event()
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        tasks = [
            workers.submit(lambda: release.wait(WAIT) and None, seconds_left=2.5, name=f"tenant-{i}") for i in range(4)
        ]
        release.set()
        for task in tasks:
            task.join(WAIT)

    warnings = [r.getMessage() for r in caplog.records if "falling behind" in r.getMessage()]
    assert len(warnings) == 1  # said once, not for every renewal
    # The third waits 2 s for the one thread, and would end 3 s from now: past the 2.5 s left.
    assert re.search(r"tenant-\d's renewal waits about 2.00 s for a thread", warnings[0])
    assert "too slow for this many tokens" in warnings[0]


def test_the_line_is_blamed_only_when_it_makes_a_renewal_late() -> None:
    # 3 queued, 8 threads, nothing running: a thread is free, so no wait, whatever is left.
    assert _workers.late_in_line(ahead=2, busy=0, size=8, pace=0.5, seconds_left=0.1) is None
    # Late whatever the line (0.1 s left, 0.5 s per call): not the line's doing.
    assert _workers.late_in_line(ahead=20, busy=8, size=8, pace=0.5, seconds_left=0.1) is None
    # 8 running, 0 ahead: one round of waiting (0.5 s) then its own 0.5 s: 1.0 s > 0.8 s left.
    assert _workers.late_in_line(ahead=0, busy=8, size=8, pace=0.5, seconds_left=0.8) == 0.5
    # 8 running, 16 ahead: three rounds before it starts.
    assert _workers.late_in_line(ahead=16, busy=8, size=8, pace=0.5, seconds_left=1.9) == 1.5
    # ... which still leaves time when 2.5 s are left.
    assert _workers.late_in_line(ahead=16, busy=8, size=8, pace=0.5, seconds_left=2.5) is None


def _behind_warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if "falling behind" in r.getMessage()]


def _busy_workers(size: int) -> tuple[_workers._Workers, threading.Event, List[_workers.Task]]:
    """*size* workers, each running a renewal that waits for the event returned (bounded)."""
    workers = _workers._Workers(size)
    release = threading.Event()
    started = threading.Semaphore(0)

    def blocked() -> None:
        started.release()
        release.wait(WAIT)

    tasks = [workers.submit(blocked, seconds_left=1000.0, name=f"long-{i}") for i in range(size)]
    for _ in range(size):
        assert started.acquire(timeout=WAIT)
    return workers, release, tasks


def test_no_behind_warning_for_a_renewal_that_no_line_made_late(caplog: pytest.LogCaptureFixture) -> None:
    workers, release, tasks = _busy_workers(1)
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        # Noticed 0.3 s before expiry with 0.5 s calls: late even if it started now.
        tasks.append(workers.submit(lambda: None, seconds_left=0.3, name="short"))
        release.set()
        for task in tasks:
            task.join(WAIT)
    assert _behind_warnings(caplog) == []


def test_a_behind_warning_counts_what_it_waits_for(caplog: pytest.LogCaptureFixture) -> None:
    workers, release, tasks = _busy_workers(1)
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        # 0.8 s left: in time if it started now (0.5 s), late after the running one (0.5 + 0.5 s).
        tasks.append(workers.submit(lambda: None, seconds_left=0.8, name="waiting"))
        release.set()
        for task in tasks:
            task.join(WAIT)
    (warning,) = _behind_warnings(caplog)
    assert "waiting's renewal waits about 0.50 s for a thread (0 renewals ahead of it, 1 running)" in warning
    assert "1 renewals are queued and 1 running on 1 renewal threads" in warning


def test_out_of_threads_keeps_the_stale_token_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    fetch = SlowFetch("t", Counter())
    manager = TokenManager(fetch, key="rma1-threads", cache=MemoryTokenCache(), clock=clock)
    manager.token()
    clock.now = STALE
    monkeypatch.setattr(_workers, "_workers", _workers._Workers(2))

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        assert manager.token().access_token == "t-1"

    assert "out of threads" in caplog.text
    assert "can't start new thread" in caplog.text
    monkeypatch.undo()  # threads again: after the retry pause, the next request renews
    clock.now = STALE + 2.0
    monkeypatch.setattr(_workers, "_workers", _workers._Workers(2))
    manager.token()
    manager.join(WAIT)
    assert manager.current is not None
    assert manager.current.access_token == "t-2"


def test_workers_end_when_idle_and_a_later_task_keeps_one_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_workers, "WORKER_IDLE", 0.05)
    workers = _workers._Workers(3)
    ran = threading.Event()
    workers.call_later(0.2, ran.set)
    assert ran.wait(WAIT)
    deadline = time.monotonic() + WAIT
    while workers.threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert workers.threads == 0
