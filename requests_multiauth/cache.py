"""Token caches: where a token lives between requests, and who may share it.

The engine (:mod:`requests_multiauth.renewal`) keeps the current token in memory
for the per-request path and consults a :class:`TokenCache` only when it needs
a new token. The cache decides who shares a token:

* :class:`MemoryTokenCache` (the default): one auth object, or the auths of one
  process that are handed the same instance.
* ``FileTokenCache(path)``: the processes of one machine.
* ``RedisTokenCache(client_or_url)``: the hosts that reach one Redis.

A cache also provides the lock under which the engine checks for a token and
fetches one, so that everyone sharing the cache makes one token call, not one
each. Entries are keyed by :func:`cache_key`, which never contains a secret.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import AbstractContextManager
from typing import Dict, Iterable, Optional, Protocol, Tuple, runtime_checkable

from . import _fork
from .token import Token

__all__ = ["MemoryTokenCache", "TokenCache", "cache_key"]


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


def cache_key(identity: Iterable[Tuple[str, str]]) -> str:
    """A stable key for a grant's public identity (kind, token URL, client id,
    scope, audience): a SHA-256 digest, so nothing of the identity shows."""
    canonical = json.dumps(sorted(identity), separators=(",", ":"))
    return "rma1-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


class MemoryTokenCache:
    """Tokens in this process's memory. Thread-safe.

    Each renewing auth gets its own by default. Hand one instance to several
    auths with the same credentials to make them share one token.
    """

    def __init__(self) -> None:
        self._tokens: Dict[str, Token] = {}
        self._locks: Dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        _fork.register(self)

    def reset_after_fork(self) -> None:
        self._locks = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenCache(entries={len(self._tokens)})"

    def get(self, key: str) -> Optional[Token]:
        return self._tokens.get(key)

    def set(self, key: str, token: Token) -> None:
        self._tokens[key] = token

    def delete(self, key: str) -> None:
        self._tokens.pop(key, None)

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock
