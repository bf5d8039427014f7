"""Token caches: where a token lives between requests, and who may share it.

The engine (:mod:`requests_multiauth.engine.manager`) keeps the current token in memory
for the per-request path and consults a :class:`TokenCache` only when it needs
a new token. The cache decides who shares a token:

* :class:`MemoryTokenCache` (the default): one auth object, or the auths of one
  process that are handed the same instance.
* ``FileTokenCache(path)``: the processes of one machine.
* ``RedisTokenCache(client_or_url)``: the hosts that reach one Redis.

A cache also provides the lock under which the engine checks for a token and
fetches one, so that everyone sharing the cache makes one token call, not one
each. Entries are keyed by :func:`cache_key`, which never contains a secret;
:class:`KeyedLocks` holds the per-key thread locks of the caches in this package.

Two optional capabilities make a shared cache serve a fleet better; the engine
uses them when a cache has them, and caches without them work as before:

* :class:`WaitingTokenCache`: ``lock_or_wait(key, accept)``, the lock, unless the
  token someone else is fetching shows up in the cache first. Waiters then learn
  of the new token as soon as it is stored, instead of taking the lock in turn.
* :class:`FailureSharingTokenCache`: ``get_failure`` / ``set_failure`` /
  ``delete_failure``, a :class:`SharedFailure` beside the token entry, so that
  a refused or failed token call is held for the whole fleet, not per process.

Where the request goes next: the engine (engine/manager.py) uses the token found, or
makes the one token call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Protocol, Tuple, Type, runtime_checkable

from ..engine import fork as _fork
from ..errors import (
    InsecureTransportError,
    InvalidClientError,
    MultiAuthError,
    TokenExpiredError,
    TokenRequestError,
    TokenResponseError,
)
from ..token import Token

__all__ = [
    "FailureSharingTokenCache",
    "KeyedLocks",
    "MemoryTokenCache",
    "SharedFailure",
    "TokenCache",
    "WaitingTokenCache",
    "cache_key",
    "lock_or_wait",
]


@runtime_checkable
class TokenCache(Protocol):
    """What the engine needs from a token store. Implementations must be thread-safe.

    ``lock(key)`` returns a context manager held while the engine looks for a
    valid token and, finding none, fetches one and stores it. For a cache shared
    between processes or hosts it must exclude all of them, and it must not wait
    forever: when the lock cannot be had in bounded time, the implementation
    warns and lets the caller proceed without it.

    ``get`` returns None for a missing or unreadable entry; it never raises for
    a damaged store. ``set`` and ``delete`` may drop the write when the store is
    unavailable, with a warning; requests go on with the token in memory.
    """

    def get(self, key: str) -> Optional[Token]: ...

    def set(self, key: str, token: Token) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> AbstractContextManager[object]: ...


@runtime_checkable
class WaitingTokenCache(TokenCache, Protocol):
    """A shared cache whose waiters do not queue on the lock (optional capability).

    ``lock_or_wait(key, accept)`` returns a context manager like ``lock(key)``,
    except that while another process holds the lock, the cache watches the
    entry of *key*, and as soon as it holds a token that *accept* approves of,
    gives up waiting and yields that token: the lock is then *not* held.
    Otherwise it yields None with the lock held (or given up after the lock
    timeout, with a warning, as ``lock`` does). Reading the entry while waiting
    must not warn about a damaged entry: whoever reads it under the lock does.
    """

    def lock_or_wait(self, key: str, accept: Callable[[Token], bool]) -> AbstractContextManager[Optional[Token]]: ...


@runtime_checkable
class FailureSharingTokenCache(TokenCache, Protocol):
    """A shared cache that keeps the last failed token call of a key (optional capability).

    ``get_failure`` returns the record stored by ``set_failure`` (None when there
    is none, it has outlived *ttl*, or it cannot be read; never raising);
    ``delete_failure`` removes it. The engine calls them under ``lock(key)``.
    """

    def get_failure(self, key: str) -> Optional[SharedFailure]: ...

    def set_failure(self, key: str, failure: SharedFailure, ttl: float) -> None: ...

    def delete_failure(self, key: str) -> None: ...


@contextmanager
def lock_or_wait(cache: TokenCache, key: str, accept: Callable[[Token], bool]) -> Iterator[Optional[Token]]:
    """``cache.lock_or_wait(key, accept)`` where the cache has it, else ``cache.lock(key)``
    yielding None: the engine's one way into the shared lock."""
    if isinstance(cache, WaitingTokenCache):
        with cache.lock_or_wait(key, accept) as found:
            yield found
    else:
        with cache.lock(key):
            yield None


#: The error classes a shared failure is raised as in other processes; a
#: subclass not listed here is raised as the nearest listed class it derives from.
_FAILURE_KINDS: Dict[str, Type[MultiAuthError]] = {
    cls.__name__: cls
    for cls in (
        InvalidClientError,
        TokenRequestError,
        TokenResponseError,
        TokenExpiredError,
        InsecureTransportError,
        MultiAuthError,
    )
}

#: A shared failure's message is cut to this length: the record stays small.
_FAILURE_MESSAGE_LENGTH = 2000


@dataclass(frozen=True)
class SharedFailure:
    """A failed token call as the processes sharing a cache see it: what it raised,
    and until when the others raise the same instead of calling.

    Holds no secret: it keeps the error's class, message, HTTP status, OAuth
    code and description, which this package's errors never fill with one (they
    are redacted where they are made, see :mod:`requests_multiauth.errors`).

    Attributes:
        kind: the error's class name (``InvalidClientError`` ...).
        message: the error's message.
        until: epoch seconds until which the failure is held.
        failures: token calls failed in a row, from which the next hold grows.
        status_code, error, error_description, attempts: those of a
            :class:`~requests_multiauth.errors.TokenRequestError`.
    """

    kind: str
    message: str
    until: float
    failures: int = 1
    status_code: Optional[int] = None
    error: Optional[str] = None
    error_description: Optional[str] = None
    attempts: int = 1

    @classmethod
    def of(cls, exc: MultiAuthError, *, until: float, failures: int) -> SharedFailure:
        """The record of *exc*, held until *until* (epoch seconds), the *failures*-th in a row."""
        kind = next(k.__name__ for k in type(exc).__mro__ if _FAILURE_KINDS.get(k.__name__) is k)
        fields: Dict[str, Any] = {}
        if isinstance(exc, TokenRequestError):
            fields = {
                "status_code": exc.status_code,
                "error": exc.error,
                "error_description": exc.error_description,
                "attempts": exc.attempts,
            }
        return cls(kind, str(exc)[:_FAILURE_MESSAGE_LENGTH], until, failures, **fields)

    def to_error(self) -> MultiAuthError:
        """The error this failure stands for, made anew (it has no traceback)."""
        cls = _FAILURE_KINDS.get(self.kind, TokenRequestError)
        if issubclass(cls, TokenRequestError):
            return cls(
                self.message,
                status_code=self.status_code,
                error=self.error,
                error_description=self.error_description,
                attempts=self.attempts,
            )
        return cls(self.message)

    def to_dict(self) -> Dict[str, Any]:
        """The record as JSON-ready fields (every one a str, a number or None), for a cache to store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SharedFailure:
        """Raises ValueError (without quoting *data*) for anything but a record of :meth:`to_dict`."""

        def text(name: str, optional: bool = True) -> Optional[str]:
            value = data.get(name)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise ValueError(f"{name} is not text")
            return value

        def number(name: str) -> float:
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} is not a number")
            try:
                result = float(value)
            except OverflowError:
                result = math.inf
            if not math.isfinite(result):
                raise ValueError(f"{name} is not a finite number")
            return result

        status = data.get("status_code")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise ValueError("status_code is not a number")
        return cls(
            kind=text("kind", optional=False) or "",
            message=text("message", optional=False) or "",
            until=number("until"),
            failures=min(max(int(number("failures")), 1), 1000),  # a count, not a number to compute with
            status_code=status,
            error=text("error"),
            error_description=text("error_description"),
            attempts=min(max(int(number("attempts")), 1), 1000),
        )


def cache_key(identity: Iterable[Tuple[str, str]]) -> str:
    """A stable key for a grant's public identity (kind, token URL, client id,
    scope, audience): a SHA-256 digest, so nothing of the identity shows."""
    canonical = json.dumps(sorted(identity), separators=(",", ":"))
    return "rma1-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


class KeyedLocks:
    """One ``threading.Lock`` per cache key, made on first use; thread-safe. A cache
    makes a new one after a fork: a parent's thread may have held one of the locks."""

    def __init__(self) -> None:
        self._locks: Dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __getitem__(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock


class MemoryTokenCache:
    """Tokens in this process's memory. Thread-safe.

    Each renewing auth gets its own by default. Hand one instance to several
    auths with the same credentials to make them share one token.
    """

    def __init__(self) -> None:
        self._tokens: Dict[str, Token] = {}
        self._locks = KeyedLocks()
        _fork.register(self)

    def reset_after_fork(self) -> None:
        self._locks = KeyedLocks()

    def __reduce__(self) -> Tuple[Any, ...]:
        # Sent to another process (pickle, copy.deepcopy) it arrives empty: a memory
        # cache is shared by the auths of one process only, and tokens do not travel.
        return (type(self), ())

    def __repr__(self) -> str:
        return f"MemoryTokenCache(entries={len(self._tokens)})"

    def get(self, key: str) -> Optional[Token]:
        return self._tokens.get(key)

    def set(self, key: str, token: Token) -> None:
        self._tokens[key] = token

    def delete(self, key: str) -> None:
        self._tokens.pop(key, None)

    def lock(self, key: str) -> threading.Lock:
        return self._locks[key]
