"""The renewal engine: reuse, single flight, and renewal ahead of expiry.

:class:`TokenManager` owns one token for one set of credentials. A grant only
knows how to get a *new* token; the manager decides when to ask, and makes
sure that at most one token call is under way, whatever the number of threads
(and, with a shared :class:`~requests_multiauth.caches.base.TokenCache`, processes or
hosts) that need it.

A token goes through three states::

    issued ──── fresh ──── renew_at ──── stale ──── expire_at ──── expired
                (reused)                 (reused; one           (requests wait
                                          request starts a       for one new
                                          background renewal)    token)

``expire_at`` is the token's stated expiry minus the *leeway*; ``renew_at``
comes earlier by a share of the lifetime. While a token is fresh or stale, the
per-request path reads one attribute and compares two floats: no lock, no I/O,
no decoding. Requests only wait when no valid token exists at all. After a failed
token call, :class:`~requests_multiauth.engine.holds.FailureHold` raises its error again
for a while instead of a new call.

The request flow continues in :mod:`requests_multiauth.auth`.

Where the request goes next: the token goes back to the flow (flow.py); a new one comes
from the grant (grants/) through the token endpoint (transport/endpoint.py).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Union

from ..caches.base import TokenCache, lock_or_wait
from ..errors import MultiAuthError, TokenTimeoutError, check_seconds
from ..telemetry import AuthTelemetry, log_fields
from ..token import Token
from ..transport.retry import doubling
from . import fork as _fork
from . import workers as _workers
from .holds import FAILURE_HOLD_MAX, FAILURE_HOLD_MIN, FailureHold

# The failure hold's bounds (holds.py) are settings of the engine too: read here with the others.
__all__ = ["DEFAULT_LEEWAY", "FAILURE_HOLD_MAX", "FAILURE_HOLD_MIN", "Clock", "TokenManager"]

log = logging.getLogger("requests_multiauth")

Clock = Callable[[], float]
Fetch = Callable[[Optional[Token], float], Token]

#: A token counts as expired this many seconds before its stated expiry, to
#: absorb clock differences between us and the server and the time a request
#: spends in flight. (golang.org/x/oauth2 uses 10 s; ours also covers slow APIs.)
DEFAULT_LEEWAY = 30.0

#: The leeway never takes more than this share of a token's lifetime, so that a
#: token living 60 s is still used for 57 s rather than 30.
LEEWAY_SHARE = 0.05

#: Renewal starts this long before a token expires (at most), so that it is
#: done before anyone has to wait for it.
RENEW_AHEAD = 300.0

#: ... or, for short-lived tokens, in the last tenth of the usable lifetime: a
#: token is renewed about once per lifetime, not a quarter more often.
RENEW_AHEAD_SHARE = 0.1

#: ... but never later than this many times the slowest recent token call before
#: expiry (capped at half the usable lifetime), so that a slow endpoint's renewal
#: is done before anyone has to wait for it, however short the token.
RENEW_LATENCY_FACTOR = 4.0

#: A token whose answer states no lifetime (no ``expires_in``, no absolute expiry, not a
#: JWT with ``exp``, no provider default) is renewed ahead, in the background, once it is
#: this old (a day, as RedisTokenCache keeps such entries); until then, and while that
#: renewal fails, it stays in use and a 401 renews it. A day bounds how long a token of
#: unknown life is trusted at one token call a day, where an hour would cost 24.
UNSTATED_LIFETIME_RENEWAL = 24 * 3600.0

#: After a failed renewal ahead of expiry, the next try waits this long, doubling
#: up to RENEW_RETRY_MAX: a broken endpoint is not asked on every request.
RENEW_RETRY_MIN = 1.0
RENEW_RETRY_MAX = 60.0

#: A thread waiting for another thread's token call waits this much longer than
#: that call (and its wait for the cache's lock) can take: the time to hand over
#: the token once the call returns.
WAIT_MARGIN = 1.0


@dataclass(frozen=True)
class _Entry:
    """A token with its two deadlines, computed once when it is adopted."""

    token: Token
    renew_at: float
    expire_at: float


class TokenManager:
    """Keeps one valid token for one set of credentials. Safe for concurrent use.

    Args:
        fetch: gets a new token: ``fetch(previous_token_or_None, now)``.
        key: the cache key of these credentials, or a function that makes it,
            called on the first token call (an API key's digest costs
            milliseconds that building an auth should not).
        cache: where the token is stored, and whose lock makes token calls single-flight.
        leeway: seconds before expiry at which a token counts as expired.
        clock: returns the time in epoch seconds; replaceable in tests.
        name: how logs name the owner (never a secret).
        background: renew ahead of expiry on the process's renewal workers
            (True; see :mod:`requests_multiauth.engine.workers`) or on the request
            thread that notices first (False).
        telemetry: where cache reads, renewals ahead and held failures are
            recorded; default a recorder of its own.
        deadline: the longest one token call takes, in seconds (the endpoint's
            :meth:`~requests_multiauth.RetryPolicy.deadline`). A thread that
            needs a token while another thread's call is under way (and
            :meth:`invalidate`) waits at most this, plus the cache's
            ``lock_timeout`` if it has one, plus :data:`WAIT_MARGIN`; then it
            raises :class:`~requests_multiauth.TokenTimeoutError` naming what
            it waited for. None: wait as long as the other call takes.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        key: Union[str, Callable[[], str]],
        cache: TokenCache,
        leeway: float = DEFAULT_LEEWAY,
        clock: Clock = time.time,
        name: str = "token",
        background: bool = True,
        telemetry: Optional[AuthTelemetry] = None,
        deadline: Optional[float] = None,
    ) -> None:
        check_seconds("leeway", leeway)
        if deadline is not None:
            check_seconds("deadline", deadline)
        self.deadline = deadline
        self._fetch = fetch
        self._key = key if isinstance(key, str) else None
        self._make_key = key
        self.cache = cache
        self.leeway = leeway
        self._clock = clock
        self._name = name
        self._background = background
        self._entry: Optional[_Entry] = None
        self._lock = threading.Lock()  # held by whoever is getting a new token
        self._queued = threading.Lock()  # held while a renewal ahead of expiry is queued or running
        self._renewal: Optional[_workers.Task] = None
        self._renew_failures = 0
        self._renew_retry_at = 0.0
        self._call_seconds = 0.0  # how long the slowest recent token call took (see RENEW_LATENCY_FACTOR)
        self._telemetry = telemetry if telemetry is not None else AuthTelemetry(name)
        self._hold = FailureHold(name=name, clock=clock, telemetry=self._telemetry)
        _fork.register(self)

    def reset_after_fork(self) -> None:
        # The parent's renewal thread does not exist here, and it may have held the lock.
        self._lock = threading.Lock()
        self._queued = threading.Lock()
        self._renewal = None
        self._renew_retry_at = 0.0

    @property
    def key(self) -> str:
        """The cache key of these credentials (made on first use)."""
        key = self._key
        if key is None:
            make = self._make_key
            key = self._key = make if isinstance(make, str) else make()
        return key

    @property
    def current(self) -> Optional[Token]:
        """The token held in memory, valid or not, without any I/O."""
        entry = self._entry
        return entry.token if entry is not None else None

    def state(self) -> str:
        """How the held token stands now, for display: ``"none"`` (none yet),
        ``"fresh"``, ``"stale"`` (in use, due for renewal) or ``"expired"``."""
        entry = self._entry
        if entry is None:
            return "none"
        now = self._clock()
        if now < entry.renew_at:
            return "fresh"
        return "stale" if now < entry.expire_at else "expired"

    @property
    def failure(self) -> Optional[MultiAuthError]:
        """The error of the last token call if it failed and no token came since, else None."""
        return self._hold.error

    def token(self) -> Token:
        """A valid token: the held one if it is, otherwise a new one.

        Fresh and stale tokens return at once (a stale one also starts a
        renewal). Without a valid token, the caller waits for the one token call
        under way, or makes it. Raises the grant's errors when that call fails.
        """
        entry = self._entry
        if entry is not None:
            now = self._clock()
            if now < entry.renew_at:
                return entry.token
            if now < entry.expire_at:
                if now >= self._renew_retry_at:
                    self._renew_ahead()
                return entry.token
        with self._holding("a new token"):
            return self._obtain(rejected=None, fresh=False)

    def token_after_rejection(self, rejected: Token) -> Token:
        """A token other than *rejected*, which a server just answered with 401.

        If another thread already replaced it, that token is returned without a
        call: 32 requests rejected together cause one renewal.
        """
        with self._holding("a token to replace the rejected one"):
            return self._obtain(rejected=rejected.access_token, fresh=False)

    def invalidate(self, token: Optional[Token] = None) -> None:
        """Forget *token* (or, by default, whatever token is held), here and in
        the cache, so that the next request gets a new one. A token other than
        *token* that is already held is kept.

        Waits for a token call under way (at most as :class:`TokenManager`'s
        *deadline* says, then raises :class:`~requests_multiauth.TokenTimeoutError`)."""
        with self._holding("invalidate()"):
            entry = self._entry
            if token is None or (entry is not None and entry.token.access_token == token.access_token):
                self._entry = None
            self._hold.clear()
            with self.cache.lock(self.key):
                cached = self.cache.get(self.key)
                if cached is not None and (token is None or cached.access_token == token.access_token):
                    self.cache.delete(self.key)

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for a renewal running in the background, if any, to finish."""
        renewal = self._renewal
        if renewal is not None:
            renewal.join(timeout)

    def wait_limit(self) -> Optional[float]:
        """The longest a thread waits for another thread's token call, in seconds (None: no limit)."""
        if self.deadline is None:
            return None
        lock_timeout = getattr(self.cache, "lock_timeout", 0.0)
        if not isinstance(lock_timeout, (int, float)) or not math.isfinite(lock_timeout):
            lock_timeout = 0.0
        return self.deadline + max(float(lock_timeout), 0.0) + WAIT_MARGIN

    @contextmanager
    def _holding(self, wanted: str) -> Iterator[None]:
        """Hold self._lock, waiting at most wait_limit() for the thread that holds it."""
        limit = self.wait_limit()
        if limit is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=limit):
            raise TokenTimeoutError(
                f"{self._name}: waited {limit:g} s for another thread's token call to end, for {wanted}, and "
                f"gave up (the call's deadline of {self.deadline:g} s, plus the cache's lock timeout, has "
                "passed). What to do: look for what that call is stuck on: a grant's fetch() that does not "
                "return, or a token cache that does not answer",
                deadline=limit,
                waited_for="another thread's token call",
            )
        try:
            yield
        finally:
            self._lock.release()

    # -- the slow path: the caller holds self._lock ---------------------------------

    def _obtain(self, *, rejected: Optional[str], fresh: bool) -> Token:
        """Return a usable token, fetching one only if neither memory nor the
        cache has one. *fresh* asks for a token not yet due for renewal;
        *rejected* names an access token that must not be returned."""
        now = self._clock()
        entry = self._entry
        if entry is not None and self._usable(entry, rejected, now, fresh):
            return entry.token  # someone else renewed while we waited for the lock
        if not fresh:
            self._hold.raise_if_held(now)

        def accept(token: Token) -> bool:
            return self._usable(self._entry_for(token, now), rejected, self._clock(), fresh)

        with lock_or_wait(self.cache, self.key, accept) as found:
            if found is not None:
                self._entry = self._entry_for(found, now)  # another process fetched it while we waited
                self._telemetry.record_cache_read(hit=True)
                return found
            cached = self.cache.get(self.key)
            if cached is not None:
                cached_entry = self._entry_for(cached, now)
                if self._usable(cached_entry, rejected, now, fresh):
                    self._entry = cached_entry  # another process or host renewed
                    self._telemetry.record_cache_read(hit=True)
                    return cached
            self._telemetry.record_cache_read(hit=False)
            shared = self._hold.check_shared(self.cache, self.key, now, fresh)
            previous = cached if cached is not None else (entry.token if entry is not None else None)
            started = time.monotonic()
            try:
                token = self._fetch(previous, now)
            except MultiAuthError as exc:  # held, unless fresh: a renewal ahead has its own schedule
                self._hold.failed(exc, shared, fresh=fresh, cache=self.cache, key=self.key)
                raise
            # The slowest recent call, forgotten by halves: sets the renewal window's floor.
            self._call_seconds = max(time.monotonic() - started, self._call_seconds * 0.5)
            self._hold.clear()
            self.cache.set(self.key, token)
            if shared is not None:
                self._hold.forget_shared(self.cache, self.key)
        self._entry = self._entry_for(token, now)
        lifetime = token.expires_in(now)
        log.info(
            "%s: new token obtained, %s",
            self._name,
            f"valid for {lifetime:.0f} s" if lifetime is not None else "no expiry stated",
            extra=log_fields("token.obtained", auth=self._telemetry.auth, lifetime=lifetime),
        )
        return token

    def _usable(self, entry: _Entry, rejected: Optional[str], now: float, fresh: bool) -> bool:
        if rejected is not None and entry.token.access_token == rejected:
            return False
        return now < (entry.renew_at if fresh else entry.expire_at)

    def _entry_for(self, token: Token, now: float) -> _Entry:
        issued = token.issued_at if token.issued_at is not None else now
        if token.expires_at is None:  # never expired: renewed ahead after a day, replaced on a 401
            return _Entry(token, issued + UNSTATED_LIFETIME_RENEWAL, math.inf)
        lifetime = max(token.expires_at - issued, 0.0)
        expire_at = token.expires_at - min(self.leeway, lifetime * LEEWAY_SHARE)
        usable = max(expire_at - issued, 0.0)
        window = min(RENEW_AHEAD, usable * RENEW_AHEAD_SHARE)
        window = max(window, min(RENEW_LATENCY_FACTOR * self._call_seconds, usable * 0.5))
        renew_at = expire_at - window
        return _Entry(token, renew_at, expire_at)

    # -- renewal ahead of expiry -------------------------------------------------

    def _renew_ahead(self) -> None:
        """Start renewing a stale token, unless a renewal is already queued or a
        token call is under way.

        In the background (the default) the renewal is queued on the process's
        renewal workers (:mod:`._workers`), earliest expiry first; it takes the
        lock only when it runs, so that a request whose token expired meanwhile
        fetches at once instead of waiting for the queue.
        """
        if not self._background:
            if self._lock.acquire(blocking=False):  # else someone is renewing; keep using the stale token
                self._renew_ahead_locked()
            return
        if not self._queued.acquire(blocking=False):
            return  # a renewal is queued or running already
        try:
            left = self._seconds_left()
            self._renewal = _workers.submit(self._renew_ahead_queued, seconds_left=left, name=self._name)
        except RuntimeError as exc:  # "can't start new thread": report it as what it is
            self._queued.release()
            self._renew_retry_at = self._clock() + RENEW_RETRY_MIN
            log.warning(
                "%s: cannot start a thread to renew the token ahead of expiry (%s): the process is out of "
                "threads; the current token stays in use, and a request renews it when it expires",
                self._name,
                exc,
                extra=log_fields("renewal.no_thread", auth=self._telemetry.auth, error=str(exc)),
            )
        except BaseException:
            self._queued.release()
            raise

    def _seconds_left(self) -> float:
        """How long the held token stays usable (0 when none is held)."""
        entry = self._entry
        return entry.expire_at - self._clock() if entry is not None else 0.0

    def _renew_ahead_queued(self) -> None:
        """Run on a renewal worker: renew unless someone else is getting a token now."""
        try:
            if self._lock.acquire(blocking=False):
                self._renew_ahead_locked()
        finally:
            self._queued.release()

    def _renew_ahead_locked(self) -> None:
        """Get a fresh token while the stale one is still in use; on failure, log
        and schedule the next try instead of raising. Releases self._lock."""
        try:
            self._obtain(rejected=None, fresh=True)
        except Exception as exc:  # noqa: BLE001 - the old token still works; report, don't raise
            self._renew_failures += 1
            delay = doubling(RENEW_RETRY_MIN, RENEW_RETRY_MAX, self._renew_failures)
            self._renew_retry_at = self._clock() + delay
            left = self._seconds_left()
            failed = self._telemetry.record_renewal_ahead(exc, retry_in=delay)
            log.warning(
                "%s: renewing the token ahead of expiry failed (%s); the current token stays in use "
                "for %.0f s more, next try in %.0f s",
                self._name,
                exc,
                left,
                delay,
                extra=failed.log_extra(seconds_left=left),
            )
        else:
            self._renew_failures = 0
            self._renew_retry_at = 0.0
            self._telemetry.record_renewal_ahead()
        finally:
            self._lock.release()
