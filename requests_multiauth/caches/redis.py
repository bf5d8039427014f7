"""RedisTokenCache: the hosts that reach one Redis share one token per cache key.

Up to three Redis keys per cache key (see :func:`~requests_multiauth.caches.base.cache_key`;
keys never contain a secret), all in one Redis Cluster hash slot (the cache key is
a ``{hash tag}``), so that the scripts below work on a cluster as on one server:

* ``<prefix>{<key>}``, the token entry (JSON), set to expire when the token does,
  so Redis drops dead tokens by itself;
* ``<prefix>{<key>}:lock``, a lock taken with ``SET NX PX`` and a random owner
  value, released only by its owner (a compare-and-delete script). It expires
  after *lock_ttl* seconds, so a holder that crashed mid-fetch blocks the fleet
  for that long at most; then one waiter takes over. A process that finds it
  taken does not queue for it: each try of the lock (one script) also returns
  the entry, and the waiter takes the token as soon as the holder has stored it
  (:meth:`RedisTokenCache.lock_or_wait`);
* ``<prefix>{<key>}:failure``, after a failed token call: the failure, without
  any secret, held for every process (see
  :class:`~requests_multiauth.caches.base.SharedFailure`); it expires by itself and is
  removed by the next token call that succeeds.

The client may be a ``redis.Redis`` (one server, or a Sentinel-managed primary
from ``Sentinel(...).master_for(name)``) or a ``redis.cluster.RedisCluster``; one
built from a URL, and how a cache travels to another process, come from
:mod:`~requests_multiauth.caches.redis_connection`.

Redis is a help, never a dependency: when it cannot be reached (or answers with
an error), the cache logs a warning on the ``requests_multiauth`` logger and
steps aside: reads find nothing, writes are dropped and the lock is skipped, so
each process fetches and keeps its own token and requests keep working. It
tries Redis again after a pause that doubles with each failed try (from
*reconnect_after* up to :data:`RECONNECT_MAX` seconds), so a dead Redis costs
one timeout per pause rather than one per call, and logs (at INFO) when Redis
is back.

Needs the ``redis`` extra: ``pip install 'requests-multiauth[redis]'``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional, Tuple, Type, TypeVar, Union

from ..engine import fork as _fork
from ..errors import ConfigurationError, check_seconds, excerpt
from ..telemetry import log_fields
from ..token import Token
from ..transport.retry import doubling, jitter
from .base import SharedFailure
from .format import DamagedEntry, decode_entry, decode_failure, encode_entry, encode_failure
from .redis_connection import cache_over_pool, client_from_url, describe, import_redis, travelling_settings

if TYPE_CHECKING:
    import redis

__all__ = [
    "LOCK_TIMEOUT",
    "LOCK_TTL",
    "PREFIX",
    "RECONNECT_AFTER",
    "RECONNECT_MAX",
    "RedisTokenCache",
]

log = logging.getLogger("requests_multiauth")

T = TypeVar("T")

#: Namespaces our keys in a Redis shared with other uses.
PREFIX = "requests_multiauth:"

#: The lock's lifetime in Redis, in seconds: the longest a crashed holder can
#: block the others. Long enough for a slow token call (the default read timeout
#: is 10 s); a call that outlives it lets one more host fetch, nothing worse.
LOCK_TTL = 15.0

#: How long a process waits for the lock before fetching without it, in
#: seconds. Longer than LOCK_TTL, so that waiters outlast a crashed holder's
#: lock and one of them takes over, instead of all fetching at once.
LOCK_TIMEOUT = LOCK_TTL + 5.0

#: Waiting for the lock polls Redis, first this often, then less often (seconds,
#: before jitter): waiters learn within a tenth of a second that the lock is free.
LOCK_POLL_MIN = 0.02
LOCK_POLL_MAX = 0.1

#: After Redis fails, it is left alone this long (seconds), doubling with each
#: failed try up to RECONNECT_MAX: a dead Redis is not asked on every call.
RECONNECT_AFTER = 2.0
RECONNECT_MAX = 60.0

#: A token with no stated expiry is kept this long (a day), so that the entries
#: of credentials no longer used do not stay forever.
NO_EXPIRY_TTL = 24 * 3600.0

#: Deletes the lock only if it still holds our owner value: a lock that expired
#: and was taken by another process is not ours to release.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

#: One try of a waiter, in one round trip: answers the entry (KEYS[2]) if it
#: changed since the waiter last saw it (ARGV[3]: its SHA-1, "-" for none seen,
#: "" to skip this on the first try), so that once the holder has stored the token
#: waiters take it rather than the lock just released; otherwise takes the lock
#: (KEYS[1], owner ARGV[1], ARGV[2] ms) and answers 1 if it was free, or answers
#: the entry (or nil).
_TRY_LOCK = """
local entry = redis.call('get', KEYS[2])
if ARGV[3] ~= '' and entry and redis.sha1hex(entry) ~= ARGV[3] then return entry end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return entry
"""


class RedisTokenCache:
    """Tokens in Redis, shared by every process and host that uses the same
    Redis and prefix. Safe for concurrent use, and across ``os.fork()``.

    ::

        cache = RedisTokenCache("redis://tokens.internal:6379/0")
        session.auth = DataloyAuth(client_id, client_secret, token_url, cache=cache)

    Anyone who can read the Redis keys can read the tokens: use a Redis that
    only your services reach, with a password or ACL, over TLS (``rediss://``)
    across networks.

    Args:
        client_or_url: a client (``redis.Redis``; a Sentinel-managed primary,
            ``Sentinel(...).master_for(name)``; a ``redis.cluster.RedisCluster``),
            or a URL from which one is built with short socket timeouts and a
            single retry: ``redis://``, ``rediss://``, ``unix://``;
            ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]``
            (the password is the primary's; the sentinels are asked without one);
            ``redis+cluster://[user:password@]host:port[,host:port...]``; and
            ``rediss+sentinel://``, ``rediss+cluster://`` for TLS.
        prefix: put before every key.
        lock_ttl: seconds after which a lock held by a crashed process expires.
        lock_timeout: seconds to wait for the lock before fetching without it,
            with a warning.
        reconnect_after: seconds to leave Redis alone after a failure; doubles
            with each further failure, up to :data:`RECONNECT_MAX`.

    Raises:
        ImportError: the ``redis`` package is missing (the ``redis`` extra).
        ConfigurationError: a duration is negative or not finite.
    """

    def __init__(
        self,
        client_or_url: Union[str, redis.Redis],
        *,
        prefix: str = PREFIX,
        lock_ttl: float = LOCK_TTL,
        lock_timeout: float = LOCK_TIMEOUT,
        reconnect_after: float = RECONNECT_AFTER,
    ) -> None:
        module = import_redis()
        check_seconds("lock_ttl", lock_ttl)
        check_seconds("lock_timeout", lock_timeout)
        check_seconds("reconnect_after", reconnect_after)
        if lock_ttl < 0.001:
            raise ConfigurationError("lock_ttl must be at least a millisecond")
        if isinstance(client_or_url, str):
            self._url: Optional[str] = client_or_url
            self.client: redis.Redis = client_from_url(module, client_or_url)
        else:
            self._url = None  # a client given is not ours to close
            self.client = client_or_url
        self.prefix = prefix
        self.lock_ttl = lock_ttl
        self.lock_timeout = lock_timeout
        self.reconnect_after = reconnect_after
        # A cluster client raises RedisClusterException (not a RedisError) when no node answers.
        self._errors: Tuple[Type[BaseException], ...] = (
            module.RedisError,
            module.exceptions.RedisClusterException,
            OSError,
        )
        self._where = describe(self.client)
        self._state = threading.Lock()  # guards the outage bookkeeping below
        self._failures = 0  # failed tries in a row
        self._skip_until = 0.0  # time.monotonic() before which Redis is left alone
        _fork.register(self)

    def reset_after_fork(self) -> None:
        # redis-py's connection pool resets itself in a new process; our own lock must too.
        self._state = threading.Lock()

    def __reduce__(self) -> Tuple[Any, ...]:
        """Sent to another process (pickle, copy.deepcopy), the cache travels as its URL, or,
        for a client given, as that client's connection settings: the new process connects
        on its own. A cluster or Sentinel client given as an object cannot travel: give
        the cache its ``redis+cluster://`` / ``redis+sentinel://`` URL instead."""
        options: Dict[str, Any] = {
            "prefix": self.prefix,
            "lock_ttl": self.lock_ttl,
            "lock_timeout": self.lock_timeout,
            "reconnect_after": self.reconnect_after,
        }
        if self._url is not None:
            return (functools.partial(type(self), **options), (self._url,))
        settings = travelling_settings(self.client)
        if settings is None:
            raise TypeError(
                f"RedisTokenCache({self._where!r}) was given a {type(self.client).__name__} client, which cannot be "
                "sent to another process: build the cache from its URL (RedisTokenCache('redis://...'), "
                "'redis+cluster://...', 'redis+sentinel://...') to share it between processes"
            )
        return (cache_over_pool, (type(self), *settings, options))

    def __repr__(self) -> str:
        return f"RedisTokenCache({self._where!r}, prefix={self.prefix!r})"

    def close(self) -> None:
        """Close the client if this cache built it from a URL."""
        if self._url is not None:
            self.client.close()

    # -- the TokenCache protocol ----------------------------------------------------

    def get(self, key: str) -> Optional[Token]:
        """The token stored under *key*, or None when there is none, it is
        damaged, or Redis is unavailable (each logged as a warning)."""
        data = self._ask("reading a token", lambda: self.client.get(self._name(key)))
        if data is None:
            return None
        try:
            return decode_entry(data)
        except DamagedEntry as exc:
            text = "the entry %s is damaged: %s; treating it as empty, a new token will replace it"
            self._report(logging.WARNING, "cache.damaged", text, key, exc)
            return None

    def set(self, key: str, token: Token) -> None:
        """Store *token* under *key*, expiring with it. Dropped, with a warning,
        while Redis is unavailable; an already expired token is not stored."""
        ttl = NO_EXPIRY_TTL if token.expires_at is None else token.expires_at - time.time()
        if ttl <= 0 or not self._available():
            return
        try:
            entry = encode_entry(token)
        except DamagedEntry as exc:
            text = "not storing %s: %s; the token is kept in this process only"
            self._report(logging.WARNING, "cache.write_failed", text, key, exc)
            return
        self._send("storing a token", lambda: self.client.set(self._name(key), entry, px=_milliseconds(ttl)))

    def delete(self, key: str) -> None:
        """Remove the entry for *key*; skipped while Redis is unavailable."""
        self._ask("removing a token", lambda: self.client.delete(self._name(key)))

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the Redis lock of *key*, waiting at most :attr:`lock_timeout`
        seconds for it; after that, or while Redis is unavailable, go on
        without it (with a warning)."""
        with self.lock_or_wait(key, None):
            yield

    @contextmanager
    def lock_or_wait(self, key: str, accept: Optional[Callable[[Token], bool]]) -> Iterator[Optional[Token]]:
        """Like :meth:`lock`, but while another process holds the lock, watch the
        entry of *key* (each try of the lock returns it): as soon as it holds a
        token that *accept* approves of, yield that token without the lock.
        Otherwise yield None, with the lock held (or given up, with a warning)."""
        name = self._name(key) + ":lock"
        owner, found = self._acquire(name, self._name(key), accept)
        try:
            yield found
        finally:
            if owner is not None:
                self._release(name, owner)

    # -- the failure shared by the processes (FailureSharingTokenCache) --------------------

    def get_failure(self, key: str) -> Optional[SharedFailure]:
        """The last failed token call of *key* recorded by any process, or None
        (also when Redis is unavailable, or the record is damaged: logged at DEBUG,
        it only costs a token call)."""
        data = self._ask("reading a failure", lambda: self.client.get(self._name(key) + ":failure"))
        if data is None:
            return None
        try:
            return decode_failure(data)
        except DamagedEntry as exc:
            self._report(logging.DEBUG, "cache.failure_ignored", "ignoring the failure record %s (%s)", key, exc)
            return None

    def set_failure(self, key: str, failure: SharedFailure, ttl: float) -> None:
        """Record *failure* for the other processes; Redis drops it after *ttl* seconds."""
        name = self._name(key) + ":failure"
        self._ask("storing a failure", lambda: self.client.set(name, encode_failure(failure), px=_milliseconds(ttl)))

    def delete_failure(self, key: str) -> None:
        """Remove the failure record of *key*, if any."""
        self._ask("removing a failure", lambda: self.client.delete(self._name(key) + ":failure"))

    # -- the lock -----------------------------------------------------------------

    def _name(self, key: str) -> str:
        """The Redis key of an entry: the cache key is the hash tag, so that the
        entry, its lock and its failure share a Redis Cluster slot."""
        return f"{self.prefix}{{{key}}}"

    def _acquire(
        self, name: str, entry: str, accept: Optional[Callable[[Token], bool]]
    ) -> Tuple[Optional[str], Optional[Token]]:
        """Take the lock *name*: returns our owner value and no token; or, with
        *accept*, no owner and the token *entry* got while we waited, if *accept*
        approves of it; (None, None) if we go on without the lock."""
        if not self._available():
            return None, None  # the outage was reported when it began
        owner = secrets.token_hex(16)  # who holds the lock; uuid would import platform, slowly
        deadline = time.monotonic() + self.lock_timeout
        pause = LOCK_POLL_MIN
        seen: Optional[str] = None if accept is None else ""  # the lock first: without contention, that is all
        while True:
            try_once = functools.partial(self._try_lock, name, entry, owner, seen)
            answered, answer = self._send("taking the lock", try_once)
            if not answered:
                return None, None
            if isinstance(answer, int):
                return owner, None
            if accept is not None:
                digest = "-" if answer is None else _sha1(answer)
                if answer is not None and digest != seen:  # new to us (the first try's: the entry as we found it)
                    token = _peek(answer)
                    if token is not None and accept(token):
                        return None, token
                seen = digest
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "token cache %s: could not take the lock %s within %g s (its holder is slow or stuck); "
                    "fetching a token without it, other hosts may fetch one too",
                    self._where,
                    name,
                    self.lock_timeout,
                    extra=log_fields("cache.unlocked", cache=self._where, key=name, reason="timeout"),
                )
                return None, None
            # Jitter: waiters that started together would otherwise poll in step, and all
            # but one would miss the lock on every round, queueing one poll interval each.
            time.sleep(min(jitter(pause), left))
            pause = min(pause * 1.5, LOCK_POLL_MAX)

    def _try_lock(self, name: str, entry: str, owner: str, seen: Optional[str]) -> Any:
        """One try of the lock *name* for *owner*: 1 if taken. A plain lock (*seen* None)
        answers None otherwise; a waiter's try answers as :data:`_TRY_LOCK` does."""
        if seen is None:
            return 1 if self.client.set(name, owner, nx=True, px=_milliseconds(self.lock_ttl)) else None
        return self.client.eval(_TRY_LOCK, 2, name, entry, owner, _milliseconds(self.lock_ttl), seen)

    def _release(self, name: str, owner: str) -> None:
        # Not skipped during an outage: if it fails, the lock expires by itself.
        answered, released = self._send("releasing the lock", lambda: self.client.eval(_RELEASE, 1, name, owner))
        if answered and not released:
            log.debug(
                "token cache %s: the lock %s had expired before the token call ended",
                self._where,
                name,
                extra=log_fields("cache.lock_expired", cache=self._where, key=name),
            )

    # -- talking to Redis, and its outages -------------------------------------------

    def _ask(self, what: str, request: Callable[[], T]) -> Optional[T]:
        """*request*'s answer, or None when Redis is left alone after a failure or fails now."""
        if not self._available():
            return None  # the outage was reported when it began
        return self._send(what, request)[1]

    def _send(self, what: str, request: Callable[[], T]) -> Tuple[bool, Optional[T]]:
        """Run *request* on Redis: (True, its answer); or (False, None) when it fails, which
        is logged as *what* failing and leaves Redis alone for a while (see _failed)."""
        try:
            answer = request()
        except self._errors as exc:
            self._failed(what, exc)
            return False, None
        self._succeeded()
        return True, answer

    def _report(self, level: int, event: str, text: str, key: str, exc: Exception) -> None:
        """Log a problem with the entry of *key*: *text* names its Redis key and the reason."""
        name = self._name(key)
        log.log(
            level,
            "token cache %s: " + text,
            self._where,
            name,
            exc,
            extra=log_fields(event, cache=self._where, key=name, reason=str(exc)),
        )

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._state:
            self._failures += 1
            cap = max(RECONNECT_MAX, self.reconnect_after)
            pause = doubling(self.reconnect_after, cap, self._failures)
            self._skip_until = time.monotonic() + pause
        log.warning(
            "token cache %s: %s failed (%s: %s); tokens are fetched and kept in each process until Redis "
            "answers again (next try in %.1f s)",
            self._where,
            what,
            type(exc).__name__,
            excerpt(str(exc)),
            pause,
            extra=log_fields(
                "cache.unavailable", cache=self._where, operation=what, error=type(exc).__name__, retry_in=pause
            ),
        )

    def _succeeded(self) -> None:
        if not self._failures:
            return
        with self._state:
            recovered, self._failures, self._skip_until = self._failures > 0, 0, 0.0
        if recovered:
            log.info(
                "token cache %s: Redis answers again; tokens are shared again",
                self._where,
                extra=log_fields("cache.available", cache=self._where),
            )


def _milliseconds(seconds: float) -> int:
    """A duration as Redis's ``PX`` takes it: whole milliseconds, at least one."""
    return max(int(seconds * 1000), 1)


def _sha1(data: Union[bytes, str]) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha1(raw).hexdigest()  # noqa: S324 - tells versions of an entry apart, as Redis's sha1hex does


def _peek(data: Any) -> Optional[Token]:
    """The token of an entry seen while waiting for the lock, or None. A damaged
    entry is not reported here: whoever reads it under the lock warns."""
    try:
        return decode_entry(data)
    except DamagedEntry:
        return None
