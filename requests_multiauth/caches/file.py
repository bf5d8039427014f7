"""FileTokenCache: the processes of one machine share one token per cache key.

The cache is a directory, private to the user (mode ``0700``), holding two
files per cache key (see :func:`~requests_multiauth.caches.base.cache_key`; file
names never contain a secret):

* ``<key>.json``, the token entry (mode ``0600``). It is replaced atomically: the
  new entry is written to a temporary file in the same directory, flushed to
  disk, then renamed over the old one, so a reader sees the old entry or the
  new one, never half of one.
* ``<key>.lock``, an empty lock file (mode ``0600``) locked with the operating
  system's file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows: what the
  ``filelock`` package does, with nothing to install, so the ``multiauth`` command's
  cache works after a plain install; see :mod:`~requests_multiauth.caches.private_files`,
  which makes the files). The engine holds it
  while it re-reads the entry and, finding no valid token, fetches one: the
  processes sharing the directory make one token call, not one each. The
  operating system releases the lock when its holder dies, even by SIGKILL.
  A process that finds the lock taken does not queue for it: it watches the
  entry (a ``stat`` every few milliseconds, a read when the file changed) and
  takes the token as soon as the holder has stored it, or the lock once it is
  free (:meth:`FileTokenCache.lock_or_wait`).

and, after a failed token call, ``<key>.failure`` (mode ``0600``): the failure,
without any secret, held for every process sharing the directory (see
:class:`~requests_multiauth.caches.base.SharedFailure`); removed by the next token
call that succeeds.

What can go wrong is logged as a warning on the ``requests_multiauth`` logger,
like every other operational problem in this package, and never stops
requests: a damaged or unreadable entry counts as missing (the next token
replaces it), a failed write leaves the token in memory only, and a lock not
taken within *lock_timeout* seconds (a holder stuck in a token call) is given
up: this process then fetches its own token rather than hang.

Needs the ``file`` extra: ``pip install 'requests-multiauth[file]'``.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple, Union

from ..engine import fork as _fork
from ..errors import ConfigurationError, check_seconds
from ..telemetry import log_fields
from ..token import Token
from ..transport.retry import jitter
from .base import KeyedLocks, SharedFailure
from .format import MAX_ENTRY_SIZE, DamagedEntry, decode_entry, decode_failure, encode_entry, encode_failure
from .private_files import DIRECTORY_MODE, OsFileLock, create_private, make_directories, replace_file

__all__ = ["LOCK_TIMEOUT", "FileTokenCache", "default_directory"]

log = logging.getLogger("requests_multiauth")

#: How long a process waits for another one's token call before fetching its
#: own, in seconds. Longer than a slow token call (the default read timeout is
#: 10 s), short enough that a holder stuck in a call stalls requests only briefly.
#: A holder that dies releases the lock at once, so this bounds only live ones.
LOCK_TIMEOUT = 20.0

#: A process waiting for another one's token call looks at the entry this often
#: (seconds), then less often: a ``stat`` each time, a read only when it changed.
WAIT_POLL_MIN = 0.005
WAIT_POLL_MAX = 0.05

#: While the lock is taken, another try comes this often (seconds) when waiting is all
#: there is to do (``lock()``; ``lock_or_wait()`` watches the entry meanwhile).
LOCK_POLL = 0.05


class _LockTimeout(Exception):
    """The lock file stayed locked by another process until the deadline."""


def default_directory() -> Path:
    """Where :class:`FileTokenCache` keeps tokens when given no path: the
    user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows), then
    ``requests_multiauth/tokens``."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "requests_multiauth" / "tokens"


class FileTokenCache:
    """Tokens in files that every process of the user on this machine shares.
    Safe for concurrent use by threads and processes, and across ``os.fork()``.

    Pass one to every auth that should share a token (gunicorn or Celery
    workers, notebooks side by side)::

        cache = FileTokenCache()            # or FileTokenCache("/run/myapp/tokens")
        session.auth = CognitoAuth(client_id, client_secret, token_url, cache=cache)

    Auths with different credentials may share one cache: each set of
    credentials has its own entry.

    Args:
        path: the directory for the token files; created (with its missing
            parents, all ``0700``) if missing. Default: :func:`default_directory`.
        lock_timeout: seconds to wait for another process's token call before
            fetching without the lock, with a warning.

    Raises:
        ConfigurationError: the directory cannot be created, is not a
            directory, or belongs to another user. A directory of ours that
            others may read is made private (``0700``).
    """

    def __init__(self, path: Union[str, os.PathLike[str], None] = None, *, lock_timeout: float = LOCK_TIMEOUT):
        check_seconds("lock_timeout", lock_timeout)
        self.path = Path(path).expanduser() if path is not None else default_directory()
        self.lock_timeout = lock_timeout
        self._thread_locks = KeyedLocks()  # threads of this process queue here rather than poll the lock file
        self._prepare_directory()
        _fork.register(self)

    def reset_after_fork(self) -> None:
        # A parent's thread may have held one of these at the fork; it does not exist here.
        self._thread_locks = KeyedLocks()

    def __reduce__(self) -> Tuple[Any, ...]:
        # Sent to another process (pickle, copy.deepcopy) it travels as its directory and
        # settings, with locks of its own there: the processes share the tokens on disk.
        return (functools.partial(type(self), lock_timeout=self.lock_timeout), (self.path,))

    def __repr__(self) -> str:
        return f"FileTokenCache({str(self.path)!r})"

    # -- the TokenCache protocol ----------------------------------------------------

    def get(self, key: str) -> Optional[Token]:
        """The token stored under *key*, or None when there is none or it cannot be
        read (logged as a warning)."""
        return self._read_token(self._entry_path(key), warn=True)

    def set(self, key: str, token: Token) -> None:
        """Store *token* under *key*, atomically. A failed write is logged as a
        warning and dropped: the token stays in this process's memory."""
        path = self._entry_path(key)
        try:
            data = encode_entry(token)
        except DamagedEntry as exc:
            text = "not storing %s: %s; the token is kept in this process only"
            self._report(logging.WARNING, "cache.write_failed", text, path, str(exc))
            return
        self._write(path, key, data, "cannot write %s (%s); the token is kept in this process only")

    def delete(self, key: str) -> None:
        """Remove the entry for *key*, if any; a failure is logged as a warning."""
        self._remove(self._entry_path(key))

    # -- the failure shared by the processes (FailureSharingTokenCache) --------------------

    def get_failure(self, key: str) -> Optional[SharedFailure]:
        """The last failed token call of *key* recorded by any process, or None.
        An unreadable or damaged record counts as none (logged at DEBUG: it only
        costs a token call)."""
        path = self._failure_path(key)
        try:
            return decode_failure(_read(path))
        except FileNotFoundError:
            return None
        except (OSError, DamagedEntry) as exc:
            self._report(logging.DEBUG, "cache.failure_ignored", "ignoring %s (%s)", path, str(exc))
            return None

    def set_failure(self, key: str, failure: SharedFailure, ttl: float) -> None:
        """Record *failure* for the other processes, atomically. The engine
        ignores a record *ttl* seconds past its hold, so it is not removed here."""
        failed = "cannot write %s (%s); the failure is held in this process only"
        self._write(self._failure_path(key), key, encode_failure(failure), failed)

    def delete_failure(self, key: str) -> None:
        """Remove the failure record of *key*, if any."""
        self._remove(self._failure_path(key))

    # -- entries ------------------------------------------------------------------------

    def _read_token(self, path: Path, *, warn: bool) -> Optional[Token]:
        """The token of the entry at *path*; None when missing, unreadable or
        damaged, with a warning only if *warn* (a waiter's look does not warn:
        whoever then reads it under the lock does)."""
        try:
            data = _read(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if warn:
                self._report(
                    logging.WARNING, "cache.read_failed", "cannot read %s (%s); fetching a new token", path, _why(exc)
                )
            return None
        try:
            return decode_entry(data)
        except DamagedEntry as exc:
            if warn:
                text = "%s is damaged: %s; treating it as empty, a new token will replace it"
                self._report(logging.WARNING, "cache.damaged", text, path, str(exc))
            return None

    def _write(self, path: Path, key: str, data: bytes, failed: str) -> None:
        """Replace *path* with *data*: a private temporary file, flushed, renamed over it.
        A failure is logged as a warning, *failed* naming the file and the reason."""
        try:
            self._ensure_directory()
            replace_file(path, data, prefix=f".{key}.")
        except OSError as exc:
            self._report(logging.WARNING, "cache.write_failed", failed, path, _why(exc))

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._report(logging.WARNING, "cache.delete_failed", "cannot remove %s (%s)", path, _why(exc))

    def _report(self, level: int, event: str, text: str, path: Path, reason: str) -> None:
        """Log a problem with the file at *path*: *text* names the file and the reason."""
        log.log(
            level,
            "token cache %s: " + text,
            self.path,
            path.name,
            reason,
            extra=log_fields(event, cache=str(self.path), entry=path.name, reason=reason),
        )

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the lock of *key* against every thread and process using this
        directory, for at most :attr:`lock_timeout` seconds of waiting; after
        that, or if the lock file cannot be opened, log a warning and go on
        without it."""
        with self._locked(key, None):
            yield

    @contextmanager
    def lock_or_wait(self, key: str, accept: Callable[[Token], bool]) -> Iterator[Optional[Token]]:
        """Like :meth:`lock`, but while another process holds the lock, watch the
        entry of *key*: as soon as it holds a token that *accept* approves of,
        yield that token without taking the lock. Otherwise yield None, with
        the lock held (or given up after :attr:`lock_timeout`, with a warning)."""
        with self._locked(key, accept) as found:
            yield found

    # -- the lock -----------------------------------------------------------------

    @contextmanager
    def _locked(self, key: str, accept: Optional[Callable[[Token], bool]]) -> Iterator[Optional[Token]]:
        deadline = time.monotonic() + self.lock_timeout
        thread_lock = self._thread_locks[key]
        if not thread_lock.acquire(timeout=self.lock_timeout):
            self._warn_unlocked(key, f"another thread of this process held it for {self.lock_timeout:g} s")
            yield None
            return
        try:
            file_lock, found = self._take_file_lock(key, deadline, accept)
            try:
                yield found
            finally:
                if file_lock is not None:
                    file_lock.release()
        finally:
            thread_lock.release()

    def _take_file_lock(
        self, key: str, deadline: float, accept: Optional[Callable[[Token], bool]]
    ) -> Tuple[Optional[OsFileLock], Optional[Token]]:
        """The file lock of *key*, taken, and no token; or, with *accept*, no lock
        and the token the entry got while we waited, if *accept* approves of it.
        (None, None), after a warning, if the lock was not taken in time or cannot
        be taken at all. A new lock object each time, so that none is ever carried
        across a fork."""
        path = self.path / f"{key}.lock"
        try:
            self._ensure_directory()
            create_private(path)
            file_lock = OsFileLock(path)
            if accept is None:
                _wait_for(file_lock, deadline)
                return file_lock, None
            # The lock first: without contention, that is all. Then the entry before
            # each further try of the lock: once the holder has stored the token,
            # waiters take it from there rather than the lock it has just released.
            if file_lock.try_acquire():
                return file_lock, None
            watch = _EntryWatch(self, self._entry_path(key), accept)
            pause = WAIT_POLL_MIN
            while True:
                token = watch.look()
                if token is not None:
                    return None, token
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _LockTimeout(str(path))
                # Jitter: a fleet that started waiting together would otherwise wake in step.
                time.sleep(min(jitter(pause), left))
                pause = min(pause * 1.5, WAIT_POLL_MAX)
                token = watch.look()
                if token is not None:
                    return None, token
                if file_lock.try_acquire():
                    return file_lock, None
        except _LockTimeout:
            self._warn_unlocked(key, f"another process held it for {self.lock_timeout:g} s")
            return None, None
        except OSError as exc:
            self._warn_unlocked(key, f"the lock file cannot be used: {_why(exc)}")
            return None, None

    def _warn_unlocked(self, key: str, reason: str) -> None:
        log.warning(
            "token cache %s: could not take the lock of %s (%s); fetching a token without it, "
            "other processes may fetch one too",
            self.path,
            key,
            reason,
            extra=log_fields("cache.unlocked", cache=str(self.path), key=key, reason=reason),
        )

    # -- files ------------------------------------------------------------------------

    def _entry_path(self, key: str) -> Path:
        if not key or os.sep in key or (os.altsep and os.altsep in key) or key.startswith("."):
            raise ValueError(f"not a cache key: {key!r}")  # keys come from cache_key(); this guards the path
        return self.path / f"{key}.json"

    def _failure_path(self, key: str) -> Path:
        return self._entry_path(key).with_suffix(".failure")

    def _prepare_directory(self) -> None:
        """Create the directory private, or check that an existing one is ours and private."""
        try:
            make_directories(self.path)
            status = self.path.stat()
        except OSError as exc:
            raise ConfigurationError(
                f"the token cache directory {self.path} cannot be created ({_why(exc)}): "
                "pass FileTokenCache a directory you can write"
            ) from None
        if not stat.S_ISDIR(status.st_mode):
            raise ConfigurationError(f"the token cache path {self.path} is not a directory")
        if not hasattr(os, "geteuid"):
            return  # Windows: the directory inherits the ACL of the user's profile
        if status.st_uid != os.geteuid():
            raise ConfigurationError(
                f"the token cache directory {self.path} belongs to another user; "
                "tokens must live in a directory of your own"
            )
        if stat.S_IMODE(status.st_mode) != DIRECTORY_MODE:
            os.chmod(self.path, DIRECTORY_MODE)

    def _ensure_directory(self) -> None:
        if not self.path.is_dir():  # removed since, by a cache cleaner say
            make_directories(self.path)


def _wait_for(file_lock: OsFileLock, deadline: float) -> None:
    """Take *file_lock*, trying again every LOCK_POLL seconds; raise _LockTimeout at *deadline*."""
    while not file_lock.try_acquire():
        left = deadline - time.monotonic()
        if left <= 0:
            raise _LockTimeout(str(file_lock.path))
        time.sleep(min(LOCK_POLL, left))


def _read(path: Path) -> bytes:
    """The bytes of the entry or record at *path*, one more than an entry may hold at most."""
    with open(path, "rb") as file:
        return file.read(MAX_ENTRY_SIZE + 1)


class _EntryWatch:
    """What a waiter sees of an entry: a ``stat`` per look, a read only when the
    file was replaced since the last look (each write renames a new file over it)."""

    def __init__(self, cache: FileTokenCache, path: Path, accept: Callable[[Token], bool]) -> None:
        self._cache = cache
        self._path = path
        self._accept = accept
        self._seen: Optional[Tuple[int, int, int]] = None

    def look(self) -> Optional[Token]:
        """The entry's token if it is new and accepted, else None."""
        try:
            status = os.stat(self._path)
        except OSError:
            return None
        version = (status.st_ino, status.st_mtime_ns, status.st_size)
        if version == self._seen:
            return None
        self._seen = version
        token = self._cache._read_token(self._path, warn=False)  # noqa: SLF001 - its own module's cache
        return token if token is not None and self._accept(token) else None


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
