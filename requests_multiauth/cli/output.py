"""What the command writes, and where: standard output that tells a closed pipe
(``multiauth demo | head -1``) apart from any other error, and the library's log
records and warnings as one line each on standard error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import IO, Any, Iterable, Iterator, Optional

from .status import PROG

__all__ = ["Output", "OutputClosed", "logging_to", "one_line", "stop_writing_to_stdout", "write_warnings"]


def one_line(text: str) -> str:
    """*text* on one line: every run of white space (line breaks too) a single space."""
    return " ".join(str(text).split())


class _LogHandler(logging.Handler):
    """A log record as ``multiauth: LEVEL: message``, on one line."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(f"{PROG}: {record.levelname.lower()}: {one_line(record.getMessage())}\n")
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def logging_to(stream: Optional[IO[str]], *, verbose: bool) -> Iterator[None]:
    """Show the library's log records (warnings; everything with *verbose*) as one line each."""
    if stream is None:
        yield
        return
    logger = logging.getLogger("requests_multiauth")
    handler = _LogHandler(stream)
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


class OutputClosed(Exception):
    """Standard output's reader went away (``multiauth demo | head -1``)."""


class Output:
    """Standard output, telling a closed pipe apart from every other OSError."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise OutputClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def stop_writing_to_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit does not
    report the closed pipe on stderr (the recipe of the ``signal`` module's docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured in tests)
        pass


def write_warnings(caught: Iterable[warnings.WarningMessage], stream: IO[str]) -> None:
    """Each warning *caught* (a broken plug-in, a deprecated option) as one line on *stream*."""
    for warning in caught:
        stream.write(f"{PROG}: warning: {one_line(str(warning.message))}\n")
