"""The files FileTokenCache is built on: private to the user, replaced atomically, locked by the OS.

:class:`~requests_multiauth.caches.file.FileTokenCache` owns what its files mean
(entries, failure records, waiting for another process's token call); this module
owns how they are made on disk, the same way on every operating system:

* directories and files readable and writable by their owner only (:data:`DIRECTORY_MODE`,
  :data:`FILE_MODE`), whatever the umask says (:func:`make_directories`,
  :func:`create_private`);
* a file replaced atomically (:func:`replace_file`): written to a temporary file
  beside it, flushed to disk, renamed over it, so a reader sees the old content
  or the new, never half;
* an exclusive lock on a lock file that the operating system releases when its
  holder dies, even by SIGKILL (:class:`OsFileLock`): ``fcntl.flock`` on POSIX,
  ``msvcrt.locking`` on Windows (what the ``filelock`` package does, with nothing
  to install).

Where the request goes next: nowhere; the cache reads and waits on the files made here.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Optional

__all__ = ["DIRECTORY_MODE", "FILE_MODE", "OsFileLock", "create_private", "make_directories", "replace_file"]

#: Token files are the user's secrets: readable and writable by the owner only,
#: whatever the umask says; the directory is the owner's only, so that no one
#: else can plant, swap or list entries.
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


class OsFileLock:
    """An exclusive lock on a lock file that the operating system releases when its
    holder dies, even by SIGKILL: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
    Windows. Not reentrant, not for threads (the cache's thread locks come first).
    A new object for each taking, so that none is ever carried across a fork."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: Optional[int] = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another holder has it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            _lock_fd(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
                return False
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock_fd(fd)
        finally:
            os.close(fd)


if sys.platform == "win32":

    def _lock_fd(fd: int) -> None:
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock_fd(fd: int) -> None:
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:

    def _lock_fd(fd: int) -> None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def replace_file(path: Path, data: bytes, *, prefix: str) -> None:
    """Replace *path* with *data*: a private temporary file (named *prefix*...``.tmp``,
    in the same directory), flushed, renamed over it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            _make_private(file.fileno())
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def make_directories(path: Path) -> None:
    """Create *path* and its missing parents, each private to the user
    (``mkdir``'s own mode is filtered by the umask, hence the chmod)."""
    missing = []
    while not path.exists() and path.parent != path:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        if hasattr(os, "geteuid"):
            os.chmod(directory, DIRECTORY_MODE)


def create_private(path: Path) -> None:
    """Create *path* as an empty owner-only file if it does not exist."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    handle = os.open(path, flags, FILE_MODE)
    try:
        _make_private(handle)
    finally:
        os.close(handle)


def _make_private(handle: int) -> None:
    # os.open's mode is filtered by the umask; fchmod sets exactly what we mean.
    if hasattr(os, "fchmod"):
        os.fchmod(handle, FILE_MODE)
