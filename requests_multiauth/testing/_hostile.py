"""Misbehaviours: answers no well-behaved server sends, for testing timeouts and limits.

Each is a :class:`~requests_multiauth.testing.Reply` that writes its own bytes
on the wire. Return one from a :class:`~requests_multiauth.testing.LocalServer`
handler, or queue it on an emulator with ``emulator.inject(...)``::

    from requests_multiauth.testing import LocalProviders, Trickle

    with LocalProviders() as providers:
        cognito = providers["cognito"]
        cognito.inject(Trickle(interval=0.5), times=10)   # the next 10 token calls trickle
        auth = cognito.auth(timeout=(2, 2))
        ...                                              # your code must give up in time

Their settings are given by keyword (``Oversized(size=...)``; the first
positional field of a reply is its status), except the location of a
:class:`Redirect` and the line of a :class:`MalformedStatus`. Every
misbehaviour ends its connection when it is done, and stops at once when its
server stops (a trickle does not outlive the test).
"""

from __future__ import annotations

import io
import json
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional

from ._server import Misbehaviour, Reply

__all__ = [
    "GzipBomb",
    "LongHeader",
    "MalformedStatus",
    "ManyHeaders",
    "Misbehaviour",
    "Oversized",
    "Redirect",
    "Trickle",
    "TrickleHeaders",
    "Truncated",
]

#: The answer a misbehaviour wraps when given none: a token answer, as a token endpoint sends it.
_TOKEN_ANSWER: Dict[str, Any] = {"access_token": "hostile-endpoint-token", "token_type": "Bearer", "expires_in": 3600}

#: Bytes written per write by the large answers: small enough that a client that
#: gave up is noticed soon (the write fails), large enough to be quick.
_WRITE = 64 * 1024


def _head(status: int, headers: Dict[str, str], reason: str = "") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect"}


@dataclass
class Trickle(Misbehaviour):
    """The status line and headers at once, then the body *chunk* bytes every
    *interval* seconds: each read of the client gets something well within its
    read timeout, so only a bound on the whole answer stops it.

    The body (default: a token answer) is announced whole in ``Content-Length``.
    """

    body: Any = field(default_factory=lambda: dict(_TOKEN_ANSWER))
    interval: float = 1.0
    chunk: int = 1

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        data, headers = Reply(self.status, self.body, self.headers).encode()
        headers["Content-Length"] = str(len(data))
        out.write(_head(self.status, headers))
        for start in range(0, len(data), max(self.chunk, 1)):
            if stop.wait(self.interval):
                return
            out.write(data[start : start + max(self.chunk, 1)])


@dataclass
class TrickleHeaders(Misbehaviour):
    """The status line at once, then the headers *chunk* bytes every *interval*
    seconds (a slowloris answer): only a bound on the whole try stops it, since no
    read waits long, and no header line is complete until the end."""

    interval: float = 1.0
    chunk: int = 1
    count: int = 90

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        data = json.dumps(_TOKEN_ANSWER).encode()
        headers = {f"X-Slow-{number}": "x" * 40 for number in range(self.count)}
        headers.update({"Content-Type": "application/json", "Content-Length": str(len(data))})
        head = _head(200, headers)
        status_line_end = head.index(b"\r\n") + 2
        out.write(head[:status_line_end])
        step = max(self.chunk, 1)
        for start in range(status_line_end, len(head), step):
            if stop.wait(self.interval):
                return
            out.write(head[start : start + step])
        out.write(data)


@dataclass
class Oversized(Misbehaviour):
    """A JSON answer of *size* bytes (default 50 MB): a token answer whose
    ``access_token`` is padded out. Made while it is sent, never held whole.
    With *announce_length* the size is in ``Content-Length``; without, the
    answer ends when the connection closes."""

    size: int = 50 * 1000 * 1000
    announce_length: bool = True

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        headers = {"Content-Type": "application/json", **self.headers}
        if self.announce_length:
            headers["Content-Length"] = str(self.size)
        else:
            headers["Connection"] = "close"
        out.write(_head(self.status, headers))
        for piece in _padded_json(self.size):
            if stop.is_set():
                return
            out.write(piece)


def _padded_json(size: int) -> Iterator[bytes]:
    """*size* bytes of ``{"access_token": "xxx...", "expires_in": 3600}``, in pieces."""
    head, tail = b'{"access_token": "', b'", "token_type": "Bearer", "expires_in": 3600}'
    padding = max(size - len(head) - len(tail), 0)
    yield head
    while padding > 0:
        piece = min(padding, _WRITE)
        yield b"x" * piece
        padding -= piece
    yield tail


@dataclass
class GzipBomb(Misbehaviour):
    """A ``Content-Encoding: gzip`` answer that decompresses to *size* bytes
    (default 1 GiB) of a padded JSON token answer, at about 1000 to 1 (a 1 GiB
    bomb is about 1 MB on the wire). Compressed while it is sent; the answer
    ends when the connection closes (no ``Content-Length``)."""

    size: int = 1024 * 1024 * 1024

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Connection": "close"}
        out.write(_head(self.status, {**headers, **self.headers}))
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        pending = b""
        for piece in _padded_json(self.size):
            if stop.is_set():
                return
            pending += compressor.compress(piece)
            if len(pending) >= 1024:
                out.write(pending)
                pending = b""
        out.write(pending + compressor.flush())


@dataclass(init=False)
class MalformedStatus(Misbehaviour):
    """A status line that is not one (default ``HTTP/1.1 2OO OK``, letters O for
    zeros), then a token answer."""

    line: str = "HTTP/1.1 2OO OK"

    def __init__(self, line: str = "HTTP/1.1 2OO OK") -> None:
        super().__init__(200, None, {})
        self.line = line

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        data = json.dumps(_TOKEN_ANSWER).encode()
        out.write(f"{self.line}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode())
        out.write(data)


@dataclass
class ManyHeaders(Misbehaviour):
    """A 200 token answer with *count* headers (default 150; Python's http.client
    reads at most 100)."""

    count: int = 150

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        data = json.dumps(_TOKEN_ANSWER).encode()
        headers = {f"X-Filler-{number}": "x" for number in range(self.count)}
        headers.update({"Content-Type": "application/json", "Content-Length": str(len(data))})
        out.write(_head(200, headers) + data)


@dataclass
class LongHeader(Misbehaviour):
    """A 200 token answer with one header line of *length* characters (default
    70,000; Python's http.client reads lines of at most 65,536 bytes)."""

    length: int = 70_000

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        data = json.dumps(_TOKEN_ANSWER).encode()
        headers = {"X-Long": "x" * max(self.length - len("X-Long: "), 0)}
        headers.update({"Content-Type": "application/json", "Content-Length": str(len(data))})
        out.write(_head(200, headers) + data)


@dataclass
class Truncated(Misbehaviour):
    """A token answer (or *body*) announced whole in ``Content-Length`` and cut off
    after *sent* bytes: the connection closes mid-answer."""

    body: Any = field(default_factory=lambda: dict(_TOKEN_ANSWER))
    sent: int = 20

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        data, headers = Reply(self.status, self.body, self.headers).encode()
        headers["Content-Length"] = str(len(data))
        out.write(_head(self.status, headers) + data[: self.sent])


@dataclass(init=False)
class Redirect(Misbehaviour):
    """A redirect (default 302) to *location*, with an empty body. Token calls
    must not follow it (they would resend the credentials)."""

    location: str = ""

    def __init__(self, location: str, status: int = 302, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(status, None, dict(headers or {}))
        self.location = location

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        out.write(_head(self.status, {"Location": self.location, "Content-Length": "0", **self.headers}))
