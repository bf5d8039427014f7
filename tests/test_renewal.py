"""The renewal engine (requests_multiauth/renewal.py): reuse, single flight, renewal ahead of expiry,
rejection, and the failure hold, driven by a fake clock and a fake fetch. Every wait is bounded."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest

from requests_multiauth import (
    ConfigurationError,
    InvalidClientError,
    MemoryTokenCache,
    Token,
    TokenRequestError,
)
from requests_multiauth.caches.base import SharedFailure
from requests_multiauth.engine.manager import FAILURE_HOLD_MAX, FAILURE_HOLD_MIN, RENEW_RETRY_MIN, TokenManager
from requests_multiauth.errors import MultiAuthError

NOW = 1_800_000_000.0
LIFETIME = 3600.0
LEEWAY = 30.0
#: With LIFETIME and LEEWAY: the token counts as expired 30 s early, and renewal
#: starts in the last fifth of the usable lifetime (RENEW_AHEAD caps it at 300 s).
EXPIRE_AT = LIFETIME - LEEWAY  # 3570 s after issue
STALE = EXPIRE_AT - 200  # inside the renewal window [3270, 3570)

#: The longest any test waits for a thread or an event: far above what the work
#: needs, so only a hang reaches it.
WAIT = 10.0

THREADS = 32


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set(self, offset: float) -> None:
        self.now = NOW + offset


class FakeFetch:
    """A fetch that counts its calls and returns ``token-1``, ``token-2``, ...

    Calls numbered in *fail* raise *error*; calls numbered from *block_from* on
    wait for :attr:`gate` first (bounded by WAIT).
    """

    def __init__(
        self,
        lifetime: Optional[float] = LIFETIME,
        *,
        block_from: Optional[int] = None,
        fail: Optional[Set[int]] = None,
        error: Optional[MultiAuthError] = None,
    ) -> None:
        self.lifetime = lifetime
        self.block_from = block_from
        self.fail = fail if fail is not None else set()
        self.error = error or TokenRequestError("the token endpoint failed: HTTP 503", status_code=503)
        self.gate = threading.Event()
        self.calls = 0
        self.inside = 0  # calls under way right now
        self.previous: List[Optional[Token]] = []
        self.started = threading.Condition()

    def __call__(self, previous: Optional[Token], now: float) -> Token:
        with self.started:
            self.calls += 1
            self.inside += 1
            number = self.calls
            self.previous.append(previous)
            self.started.notify_all()
        try:
            if self.block_from is not None and number >= self.block_from and not self.gate.wait(WAIT):
                raise RuntimeError("the test never opened the gate")
            if number in self.fail:
                raise self.error
            expires_at = now + self.lifetime if self.lifetime is not None else None
            return Token(f"token-{number}", expires_at=expires_at, issued_at=now)
        finally:
            with self.started:
                self.inside -= 1

    def wait_for_call(self, number: int) -> None:
        with self.started:
            assert self.started.wait_for(lambda: self.calls >= number, WAIT), f"call {number} never started"


def make_manager(
    fetch: FakeFetch, clock: FakeClock, *, cache: Optional[MemoryTokenCache] = None, **options: Any
) -> TokenManager:
    options.setdefault("leeway", LEEWAY)
    return TokenManager(fetch, key="rma1-test", cache=cache or MemoryTokenCache(), clock=clock, name="test", **options)


def run_together(count: int, target: Callable[[], Any]) -> Tuple[List[Any], List[BaseException]]:
    """Run *target* on *count* threads released together; return results and errors."""
    barrier = threading.Barrier(count, timeout=WAIT)
    results: List[Any] = []
    errors: List[BaseException] = []
    guard = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            value = target()
        except BaseException as exc:
            with guard:
                errors.append(exc)
        else:
            with guard:
                results.append(value)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, errors


# -- reuse and leeway -------------------------------------------------------------------


def test_a_valid_token_is_reused_without_token_calls() -> None:
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock)
    first = manager.token()
    for offset in range(0, int(STALE) - 300, 60):  # the whole fresh part of its life
        clock.set(offset)
        assert manager.token() is first
    assert fetch.calls == 1
    assert fetch.previous == [None]


@pytest.mark.parametrize(
    ("lifetime", "leeway", "offset", "renewed"),
    [
        (3600, 30, 3569.9, False),  # the leeway: counted as expired 30 s early ...
        (3600, 30, 3570.1, True),
        (3600, 0, 3599.9, False),  # ... and not at all without it
        (3600, 0, 3600.1, True),
        (60, 30, 56.9, False),  # capped at a twentieth of a 60 s lifetime: 3 s, not 30
        (60, 30, 57.1, True),
        (10, 300, 9.4, False),  # a leeway longer than the lifetime still leaves 95% of it
        (10, 300, 9.6, True),
    ],
)
def test_leeway_counts_a_token_as_expired_early_but_never_more_than_a_twentieth_of_its_lifetime(
    lifetime: float, leeway: float, offset: float, renewed: bool
) -> None:
    clock, fetch = FakeClock(), FakeFetch(lifetime)
    manager = make_manager(fetch, clock, leeway=leeway)
    first = manager.token()
    clock.set(offset)
    got = manager.token()  # a stale token comes back at once; an expired one is replaced first
    manager.join(WAIT)
    assert (got is not first) is renewed
    if renewed:
        assert got.access_token == "token-2"
        assert fetch.previous[1] is first  # handed over, so a refresh token can be used


@pytest.mark.parametrize("leeway", [-1.0, float("inf"), float("nan")])
def test_an_invalid_leeway_is_a_configuration_error(leeway: float) -> None:
    with pytest.raises(ConfigurationError, match="leeway"):
        make_manager(FakeFetch(), FakeClock(), leeway=leeway)


def test_a_token_without_expiry_never_expires_and_is_renewed_ahead_once_a_day_old() -> None:
    clock, fetch = FakeClock(), FakeFetch(lifetime=None)
    manager = make_manager(fetch, clock)
    first = manager.token()
    clock.set(23 * 3600)
    assert manager.token() is first
    assert fetch.calls == 1
    clock.set(10 * 365 * 86400)
    assert manager.token() is first  # never expired: returned at once, renewed in the background
    manager.join(WAIT)
    assert fetch.calls == 2
    assert manager.token().access_token == "token-2"
    manager.invalidate()
    assert manager.token().access_token == "token-3"


# -- renewal ahead of expiry ---------------------------------------------------------------


def test_a_stale_token_is_returned_at_once_while_one_background_renewal_runs() -> None:
    clock, fetch = FakeClock(), FakeFetch(block_from=2)
    manager = make_manager(fetch, clock)
    first = manager.token()
    clock.set(STALE)

    assert manager.token() is first  # starts the renewal, which now blocks in the fetch
    fetch.wait_for_call(2)

    # Requests arriving while the renewal is stuck neither wait for it nor start another.
    results, errors = run_together(8, manager.token)
    assert errors == []
    assert results == [first] * 8
    assert fetch.inside == 1  # proof that nobody waited: they all returned while the renewal is blocked
    assert fetch.calls == 2

    fetch.gate.set()
    manager.join(WAIT)
    renewed = manager.token()
    assert renewed.access_token == "token-2"
    assert fetch.previous[1] is first
    assert fetch.calls == 2


def test_a_valid_token_is_returned_while_another_thread_waits_on_a_token_call() -> None:
    # The per-request path takes no lock: a renewal after a 401 that hangs on the
    # token endpoint does not hold up requests that still have a valid token.
    clock, fetch = FakeClock(), FakeFetch(block_from=2)
    manager = make_manager(fetch, clock)
    first = manager.token()
    rejecting = threading.Thread(target=manager.token_after_rejection, args=(first,), daemon=True)
    rejecting.start()
    fetch.wait_for_call(2)

    results, errors = run_together(THREADS, manager.token)
    assert errors == []
    assert results == [first] * THREADS
    assert fetch.inside == 1  # they all returned while the token call is still blocked
    assert rejecting.is_alive()

    fetch.gate.set()
    rejecting.join(WAIT)
    assert manager.token().access_token == "token-2"


def test_without_a_background_thread_the_noticing_request_renews_and_still_gets_the_stale_token() -> None:
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock, background=False)
    first = manager.token()
    clock.set(STALE)
    assert manager.token() is first
    assert fetch.calls == 2  # renewed on this thread, before it returned
    assert manager.token().access_token == "token-2"


def test_a_failed_early_renewal_is_logged_not_raised_and_retried_only_after_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, fetch = FakeClock(), FakeFetch(fail={2, 3})
    manager = make_manager(fetch, clock)
    first = manager.token()

    def token_now() -> Token:
        token = manager.token()
        manager.join(WAIT)
        return token

    caplog.set_level(logging.WARNING, logger="requests_multiauth")
    clock.set(STALE)
    assert token_now() is first  # the renewal fails in the background ...
    assert fetch.calls == 2
    warnings = [r for r in caplog.records if "renewing the token ahead of expiry failed" in r.getMessage()]
    assert len(warnings) == 1  # ... and is logged
    assert warnings[0].levelno == logging.WARNING

    for _ in range(5):  # within the backoff nobody retries
        assert token_now() is first
    assert fetch.calls == 2

    clock.set(STALE + RENEW_RETRY_MIN + 0.01)
    assert token_now() is first
    assert fetch.calls == 3  # the second try, failing too: the backoff doubles
    clock.set(STALE + RENEW_RETRY_MIN + 1.5)
    assert token_now() is first
    assert fetch.calls == 3
    clock.set(STALE + RENEW_RETRY_MIN + 2 * RENEW_RETRY_MIN + 0.02)
    assert token_now() is first
    assert fetch.calls == 4  # this one succeeds
    assert manager.token().access_token == "token-4"


def test_a_failed_early_renewal_does_not_hold_back_the_token_call_after_the_hold() -> None:
    clock, fetch = FakeClock(), FakeFetch(fail={2})
    manager = make_manager(fetch, clock)
    manager.token()
    clock.set(STALE)
    manager.token()
    manager.join(WAIT)
    clock.set(EXPIRE_AT + 10)  # expired, long after the failure: a new call, not the old error
    assert manager.token().access_token == "token-3"


def test_a_token_expiring_right_after_a_failed_early_renewal_is_fetched_at_once_not_refused_from_memory() -> None:
    clock, fetch = FakeClock(), FakeFetch(fail={2})
    manager = make_manager(fetch, clock)
    manager.token()
    clock.set(EXPIRE_AT - 0.5)  # the last moment of the renewal window: the early renewal fails ...
    manager.token()
    manager.join(WAIT)
    assert fetch.calls == 2
    clock.set(EXPIRE_AT + 0.1)  # ... and the token expires well within FAILURE_HOLD_MIN of that failure
    assert manager.token().access_token == "token-3"  # asked again, not answered with the held error


# -- single flight -----------------------------------------------------------------------


@pytest.mark.parametrize("held", ["none", "expired"])
def test_32_threads_needing_a_token_at_once_cause_exactly_one_token_call(held: str) -> None:
    clock = FakeClock()
    fetch = FakeFetch(block_from=1 if held == "none" else 2)
    manager = make_manager(fetch, clock)
    if held == "expired":
        fetch.gate.set()
        manager.token()
        fetch.gate.clear()
        clock.set(LIFETIME + 1)

    entered = threading.Semaphore(0)

    def need_token() -> Token:
        entered.release()
        return manager.token()

    call = 1 if held == "none" else 2
    opener = threading.Thread(target=_open_gate_when_all_entered, args=(fetch, call, entered, THREADS), daemon=True)
    opener.start()
    results, errors = run_together(THREADS, need_token)
    opener.join(WAIT)
    assert errors == []
    assert [token.access_token for token in results] == [f"token-{call}"] * THREADS
    assert fetch.calls == call


def _open_gate_when_all_entered(fetch: FakeFetch, call: int, entered: threading.Semaphore, count: int) -> None:
    """Open the fetch's gate once every thread is inside token() and the fetch has started,
    so that all of them are queued behind the one token call."""
    for _ in range(count):
        entered.acquire(timeout=WAIT)
    fetch.wait_for_call(call)
    threading.Event().wait(0.05)  # let the last arrivals reach the lock (not an assertion)
    fetch.gate.set()


def test_32_threads_rejected_with_the_same_token_cause_one_renewal() -> None:
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock)
    rejected = manager.token()

    results, errors = run_together(THREADS, lambda: manager.token_after_rejection(rejected))
    assert errors == []
    assert {token.access_token for token in results} == {"token-2"}
    assert fetch.calls == 2
    assert fetch.previous[1] is rejected


def test_a_rejection_of_an_already_replaced_token_fetches_nothing() -> None:
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock)
    old = manager.token()
    new = manager.token_after_rejection(old)
    assert manager.token_after_rejection(old) is new  # a late 401 for the old token
    assert manager.token() is new
    assert fetch.calls == 2


def test_a_rejected_token_is_not_taken_back_from_the_cache() -> None:
    cache = MemoryTokenCache()
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock, cache=cache)
    rejected = manager.token()
    assert cache.get("rma1-test") is rejected
    renewed = manager.token_after_rejection(rejected)
    assert renewed.access_token == "token-2"
    assert cache.get("rma1-test") is renewed


def test_managers_sharing_a_cache_share_one_token() -> None:
    cache = MemoryTokenCache()
    clock, fetch = FakeClock(), FakeFetch()
    first, second = make_manager(fetch, clock, cache=cache), make_manager(fetch, clock, cache=cache)
    shared = first.token()
    assert second.token() is shared
    assert fetch.calls == 1
    renewed = first.token_after_rejection(shared)
    assert second.token_after_rejection(shared) is renewed  # the other one already renewed it
    assert fetch.calls == 2


# -- invalidate ------------------------------------------------------------------------------


def test_invalidate_forgets_the_token_here_and_in_the_cache() -> None:
    cache = MemoryTokenCache()
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock, cache=cache)
    manager.token()
    manager.invalidate()
    assert manager.current is None
    assert cache.get("rma1-test") is None
    assert manager.token().access_token == "token-2"
    assert fetch.calls == 2


def test_invalidating_an_old_token_keeps_the_newer_one() -> None:
    cache = MemoryTokenCache()
    clock, fetch = FakeClock(), FakeFetch()
    manager = make_manager(fetch, clock, cache=cache)
    old = manager.token()
    new = manager.token_after_rejection(old)
    manager.invalidate(old)
    assert manager.token() is new
    assert cache.get("rma1-test") is new
    assert fetch.calls == 2


# -- the failure hold ---------------------------------------------------------------------------


def test_a_refused_token_call_is_not_repeated_by_every_caller_within_the_hold() -> None:
    refused = InvalidClientError("the token endpoint refused the token request (HTTP 401)", status_code=401)
    clock, fetch = FakeClock(), FakeFetch(fail={1, 2, 3}, error=refused)
    manager = make_manager(fetch, clock)

    with pytest.raises(InvalidClientError) as first_error:
        manager.token()
    assert fetch.calls == 1
    for _ in range(5):
        with pytest.raises(InvalidClientError) as held:
            manager.token()
        assert str(held.value) == str(first_error.value)
        assert held.value.status_code == 401
    assert fetch.calls == 1

    clock.set(FAILURE_HOLD_MIN + 0.01)  # the hold is over: one new try, failing again
    with pytest.raises(InvalidClientError):
        manager.token()
    assert fetch.calls == 2
    clock.set(FAILURE_HOLD_MIN + 1.5)  # the hold has doubled
    with pytest.raises(InvalidClientError):
        manager.token()
    assert fetch.calls == 2
    clock.set(FAILURE_HOLD_MIN + 2 * FAILURE_HOLD_MIN + 0.02)
    with pytest.raises(InvalidClientError):
        manager.token()
    assert fetch.calls == 3
    clock.set(60)
    assert manager.token().access_token == "token-4"  # success ends the hold
    assert fetch.calls == 4


def test_32_threads_meeting_a_refused_token_call_make_one_call_and_all_get_the_error() -> None:
    refused = InvalidClientError("the token endpoint refused the token request (HTTP 400 invalid_client)")
    clock, fetch = FakeClock(), FakeFetch(fail={1}, error=refused)
    manager = make_manager(fetch, clock)
    results, errors = run_together(THREADS, manager.token)
    assert results == []
    assert len(errors) == THREADS
    assert all(isinstance(error, InvalidClientError) for error in errors)
    assert fetch.calls == 1


def test_invalidate_ends_the_failure_hold() -> None:
    clock, fetch = FakeClock(), FakeFetch(fail={1})
    manager = make_manager(fetch, clock)
    with pytest.raises(TokenRequestError):
        manager.token()
    manager.invalidate()
    assert manager.token().access_token == "token-2"


# -- the failure hold shared through the cache -------------------------------------------------


class FailureSharingCache(MemoryTokenCache):
    """A MemoryTokenCache that also keeps failure records: what two managers on it
    see is what two processes on a FileTokenCache or RedisTokenCache see."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: Dict[str, SharedFailure] = {}

    def get_failure(self, key: str) -> Optional[SharedFailure]:
        return self.failures.get(key)

    def set_failure(self, key: str, failure: SharedFailure, ttl: float) -> None:
        self.failures[key] = failure

    def delete_failure(self, key: str) -> None:
        self.failures.pop(key, None)


def test_a_failure_is_held_for_every_manager_on_the_cache_and_the_hold_grows_to_its_bound() -> None:
    clock, cache = FakeClock(), FailureSharingCache()
    error = InvalidClientError("the token endpoint refused the token request (HTTP 401)", status_code=401)
    fetches = [FakeFetch(fail=set(range(1, 100)), error=error) for _ in range(3)]
    managers = [make_manager(fetch, clock, cache=cache) for fetch in fetches]
    calls_at: List[float] = []

    offset = 0.0
    for _ in range(400):  # every manager asks every 0.25 s for 100 s of fake time
        for manager in managers:
            before = sum(f.calls for f in fetches)
            with pytest.raises(InvalidClientError) as raised:
                manager.token()
            if sum(f.calls for f in fetches) > before:
                calls_at.append(offset)
            assert (raised.value.status_code, str(raised.value)) == (401, str(error))
        offset += 0.25
        clock.set(offset)

    gaps = [b - a for a, b in zip(calls_at, calls_at[1:])]
    # One call per hold for the three of them: 1, 2, 4, 8, 16 s, then 30 s at most.
    assert gaps[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert all(gap == FAILURE_HOLD_MAX for gap in gaps[5:])
    assert len(calls_at) == 8  # 0, 1, 3, 7, 15, 31, 61, 91 s: not 3 x 8

    for fetch in fetches:
        fetch.fail = set()
    clock.set(offset + FAILURE_HOLD_MAX)
    assert managers[0].token().access_token.startswith("token-")  # the hold is over: success ...
    assert cache.failures == {}  # ... removes the record
    assert managers[1].token() == managers[0].token()  # and the others share the token


def test_a_shared_failure_record_long_past_its_hold_is_forgotten() -> None:
    clock, cache = FakeClock(), FailureSharingCache()
    stale = SharedFailure("InvalidClientError", "refused", until=NOW - 2 * FAILURE_HOLD_MAX, failures=9)
    cache.set_failure("rma1-test", stale, FAILURE_HOLD_MAX)
    fetch = FakeFetch(fail={1})
    manager = make_manager(fetch, clock, cache=cache)
    with pytest.raises(TokenRequestError):
        manager.token()
    assert cache.failures["rma1-test"].failures == 1  # the count started over: held 1 s, not 30
    assert cache.failures["rma1-test"].until == NOW + FAILURE_HOLD_MIN


HUGE = b"9" * 400


@pytest.mark.parametrize(
    "record",
    [
        b'{"format":1,"failure":{"kind":"InvalidClientError","message":"x","until":1e999,"failures":1}}',
        b'{"format":1,"failure":{"kind":"InvalidClientError","message":"x","until":1.0,"failures":' + HUGE + b"}}",
        b'{"format":1,"failure":{"kind":"InvalidClientError","message":"x","until":"soon"}}',
        b'{"format":1,"failure":{"kind":null,"message":"x","until":1.0}}',
        b'{"format":1,"token":{"access_token":"tok-not-a-failure"}}',
    ],
)
def test_a_damaged_failure_record_is_refused_without_quoting_it(record: bytes) -> None:
    from requests_multiauth.caches.format import DamagedEntry, decode_failure

    # Refused, not computed with: a hold grown from a count of 10**400 would never end.
    with pytest.raises(DamagedEntry) as refused:
        decode_failure(record)
    assert "tok-" not in str(refused.value)
    assert "999" not in str(refused.value)


def test_a_slow_token_endpoint_widens_the_renewal_window_of_a_short_token() -> None:
    clock = FakeClock()
    quick = make_manager(FakeFetch(20), clock, leeway=0)
    quick.token()
    slow_fetch = FakeFetch(20)

    def slow(previous: Optional[Token], now: float) -> Token:
        time.sleep(0.75)  # a token call that takes three quarters of a second
        return slow_fetch(previous, now)

    slow_manager = TokenManager(slow, key="rma1-slow", cache=MemoryTokenCache(), clock=clock, name="slow", leeway=0)
    slow_manager.token()
    # Quick calls: renewal in the last tenth of a 20 s lifetime (2 s); a call that took 0.75 s
    # moves it to at least four times that (3 s), so the renewal ends before expiry.
    assert quick._entry is not None
    assert slow_manager._entry is not None
    quick_window = quick._entry.expire_at - quick._entry.renew_at
    slow_window = slow_manager._entry.expire_at - slow_manager._entry.renew_at
    assert quick_window == pytest.approx(2.0, abs=0.05)
    assert slow_window >= 3.0
    assert slow_window <= 20.0 / 2  # never more than half the usable lifetime


# -- a token whose answer states no lifetime ----------------------------------------------------


def test_a_token_without_a_stated_lifetime_is_renewed_ahead_after_a_day_and_never_expires_meanwhile(
    serve: Callable[..., Any],
) -> None:
    from requests_multiauth import ClientCredentialsAuth, RetryPolicy
    from requests_multiauth.engine.manager import UNSTATED_LIFETIME_RENEWAL
    from requests_multiauth.testing import ManualClock, Reply

    issued: List[str] = []

    def no_lifetime(request: Any) -> Reply:
        issued.append(f"opaque-{len(issued) + 1}")
        return Reply(200, {"access_token": issued[-1], "token_type": "Bearer"})  # no expires_in, not a JWT

    server = serve(no_lifetime)
    clock = ManualClock()
    auth = ClientCredentialsAuth(
        "client-a", "secret-a", server.url + "/token", session=server.session(), clock=clock,
        retry=RetryPolicy(attempts=1),
    )  # fmt: skip
    assert auth.get_token().access_token == "opaque-1"
    clock.advance(UNSTATED_LIFETIME_RENEWAL - 60)
    assert auth.get_token().access_token == "opaque-1"  # still in use, no call
    assert issued == ["opaque-1"]
    clock.advance(120)
    assert auth.get_token().access_token == "opaque-1"  # due: renewed in the background, never waited for
    auth._manager.join(10.0)
    assert auth.get_token().access_token == "opaque-2"
    assert issued == ["opaque-1", "opaque-2"]
