"""Reading an answer within bounds (a deadline and a size cap, decompression
included), and decoding what it says.

A token endpoint, a discovery document and a metadata server all answer a few
kilobytes. Whatever the server does instead, the answer is read here, in
chunks (``stream=True``), and abandoned:

* at the *deadline*: every read of the socket waits at most until then, so a
  server that sends one byte a second (each within the read timeout) is cut
  off at the deadline, not when it stops;
* at *limit* bytes of decoded body (:data:`DEFAULT_MAX_ANSWER_BYTES`):
  ``gzip`` and ``deflate`` are decoded here with ``zlib``'s ``max_length``, so
  a 1 MB answer that expands to 1 GB stops at the cap with the cap's memory,
  not the gigabyte's.

Callers ask for ``Accept-Encoding:`` :data:`ACCEPT_ENCODING` only; an answer in
another coding is refused (:class:`AnswerFault` with ``kind="encoding"``).

What was read, and what went wrong, is told to the caller as an
:class:`AnswerFault`; the caller (:mod:`.endpoint` through :mod:`.faults`,
:mod:`~requests_multiauth.discovery`) turns it into its own typed error.

What a token answer says is decoded here too: its text in the charset it names
(:func:`charset`), the OAuth error fields of a refusal (:func:`error_fields`), and
a 2xx as JSON or a form (:func:`decode_success`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import zlib
from typing import Any, Callable, Iterable, Mapping, Optional, Tuple
from urllib.parse import parse_qsl

import requests
import urllib3
import urllib3.response

from ..errors import TokenResponseError, excerpt

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_ANSWER_BYTES",
    "AnswerFault",
    "charset",
    "decode_success",
    "error_fields",
    "keep_body",
    "read_body",
    "set_read_timeout",
]

#: The largest decoded answer read, in bytes (1 MiB). A token answer is a few
#: kilobytes (a JWT access token with its ID token: under 16 KB), a discovery
#: document a few more; anything near a megabyte is not an answer to our question.
DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024

#: The content codings asked for: the two that ``zlib`` decodes within a bound.
#: (requests would also ask for ``br`` and ``zstd`` when their packages are
#: installed; their decoders here would not be bounded the same way.)
ACCEPT_ENCODING = "gzip, deflate"

#: Bytes asked of the socket per read: large enough for a token answer in one read.
CHUNK = 16 * 1024

#: Compressed bytes beyond the decoded cap that are still read: a gzip header
#: and trailer, or an uncompressible answer, are slightly larger than what they decode to.
_ENCODED_SLACK = 4096


class AnswerFault(Exception):
    """An answer that was not read whole.

    Attributes:
        kind: ``"deadline"`` (the deadline passed mid-answer), ``"size"`` (more
            than *limit* decoded bytes), ``"truncated"`` (the connection closed
            before the length the answer announced), ``"encoding"`` (a content
            coding not asked for, or not decodable), ``"chunking"`` (malformed
            chunked transfer coding).
        received: bytes read off the connection before giving up.
        limit: the size cap, for ``"size"``.
    """

    def __init__(self, kind: str, message: str, *, received: int = 0, limit: Optional[int] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.received = received
        self.limit = limit


def set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Make each further read of *response*'s socket wait at most *seconds*
    (best effort: a connection without a reachable socket keeps its timeout)."""
    raw = response.raw
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:  # urllib3 1.26: the socket behind http.client's reader
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    settimeout = getattr(sock, "settimeout", None)
    if settimeout is not None:
        with contextlib.suppress(OSError):  # closed meanwhile: the next read says so
            settimeout(max(seconds, 0.001))


class _Decoder:
    """A ``gzip`` / ``deflate`` decoder that never produces more than it is allowed."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._first = True
        self._zlib = self._new()

    def _new(self) -> Any:
        if self._coding == "deflate":
            return zlib.decompressobj()  # RFC 9110 "deflate" is zlib-wrapped; some servers send it raw (below)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes, allowed: int) -> bytes:
        """The bytes *data* decodes to, at most *allowed* + 1 of them: more than
        *allowed* says "too large" without decoding the rest."""
        try:
            out: bytes = self._zlib.decompress(data, allowed + 1)
        except zlib.error:
            if not (self._first and self._coding == "deflate"):
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as urllib3 also accepts
            out = self._zlib.decompress(data, allowed + 1)
        self._first = False
        if len(out) <= allowed and self._zlib.eof and self._zlib.unused_data and self._coding == "gzip":
            rest = self._zlib.unused_data  # a further gzip member (RFC 1952 allows several)
            self._zlib = self._new()
            out += self.decode(rest, allowed - len(out))
        return out


def _coding(response: requests.Response) -> Optional[str]:
    value = response.headers.get("Content-Encoding", "").strip().lower()
    if value in ("", "identity"):
        return None
    if value in ("gzip", "x-gzip"):
        return "gzip"
    if value == "deflate":
        return "deflate"
    raise AnswerFault("encoding", f"the answer is in the content coding {value[:40]!r}, which was not asked for")


def read_body(
    response: requests.Response,
    *,
    deadline: float,
    limit: int = DEFAULT_MAX_ANSWER_BYTES,
    read_timeout: Optional[float] = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> bytes:
    """The decoded body of *response* (sent with ``stream=True``), read by chunks
    until the end, *deadline* (on *monotonic*) or *limit* decoded bytes.

    Each read waits at most *read_timeout* (the caller's read timeout) or until
    the deadline, whichever is sooner. On success the connection goes back to
    its pool; on any fault it is closed (it still holds unread data).

    Raises:
        AnswerFault: the deadline passed, the answer was larger than *limit*,
            cut off, or in a coding not asked for.
        requests.Timeout: one read waited *read_timeout* with nothing arriving
            (before the deadline): the caller's usual read timeout.
    """
    raw = response.raw
    received = 0
    body = bytearray()
    try:
        decoder = _Decoder(coding) if (coding := _coding(response)) is not None else None
        declared = _declared_length(response)
        if declared is not None and declared > limit + _ENCODED_SLACK:
            raise AnswerFault(
                "size", f"the answer announced {declared} bytes, more than the {limit} allowed", received=0, limit=limit
            )
        while True:
            left = deadline - monotonic()
            if left <= 0:
                raise AnswerFault("deadline", _past_deadline(received), received=received)
            set_read_timeout(response, left if read_timeout is None else min(left, read_timeout))
            chunk = _read_once(raw, received, declared, deadline, monotonic)
            if not chunk:
                break
            received += len(chunk)
            if decoder is None:
                if len(body) + len(chunk) > limit:
                    raise AnswerFault(
                        "size", f"the answer is longer than the {limit} bytes allowed", received=received, limit=limit
                    )
                body += chunk
                continue
            if received > limit + _ENCODED_SLACK:
                raise AnswerFault(
                    "size",
                    f"the compressed answer is longer than the {limit} bytes allowed",
                    received=received,
                    limit=limit,
                )
            try:
                decoded = decoder.decode(chunk, limit - len(body))
            except zlib.error:
                raise AnswerFault("encoding", "the compressed answer cannot be decoded", received=received) from None
            if len(body) + len(decoded) > limit:
                raise AnswerFault(
                    "size",
                    f"the answer decompresses to more than the {limit} bytes allowed",
                    received=received,
                    limit=limit,
                )
            body += decoded
        if declared is not None and received < declared:
            raise AnswerFault("truncated", _truncated(received, declared), received=received)
    except BaseException:
        response.close()  # unread data on it: never back to the pool
        raise
    release = getattr(raw, "release_conn", None)
    if release is not None:
        release()  # read to the end: the connection may serve the next call (urllib3 did it already at EOF)
    return bytes(body)


def _read_once(
    raw: Any, received: int, declared: Optional[int], deadline: float, monotonic: Callable[[], float]
) -> bytes:
    """At most CHUNK raw bytes from one read of the socket (b"" at the end)."""
    try:
        if not isinstance(raw, urllib3.response.HTTPResponse):  # an adapter's own raw (a file, in tests)
            return bytes(raw.read(CHUNK) or b"")
        read1 = getattr(raw, "read1", None)
        if read1 is not None:  # urllib3 2
            return bytes(read1(CHUNK, decode_content=False))
        fp: Any = getattr(raw, "_fp", None)  # urllib3 1.26 has no public one-read method: http.client's
        return bytes(fp.read1(CHUNK)) if fp is not None else b""
    except (socket.timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
        if monotonic() >= deadline:
            raise AnswerFault("deadline", _past_deadline(received), received=received) from None
        raise requests.exceptions.ReadTimeout(f"no more of the answer within the read timeout: {exc}") from None
    except (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead):
        raise AnswerFault("truncated", _truncated(received, declared), received=received) from None
    except urllib3.exceptions.ProtocolError as exc:
        said = str(exc).lower()
        if "incomplete" in said:
            raise AnswerFault("truncated", _truncated(received, declared), received=received) from None
        if "chunk" in said:
            raise AnswerFault("chunking", "the answer's chunked coding is malformed", received=received) from None
        # The connection broke mid-answer (a reset, an abort): cut off, like an early close,
        # and as transient. Whether the peer's close arrives as EOF or as a reset is a race.
        raise AnswerFault("truncated", _truncated(received, declared), received=received) from exc


def _past_deadline(received: int) -> str:
    return f"the deadline passed after {received} bytes of the answer"


def _declared_length(response: requests.Response) -> Optional[int]:
    if response.headers.get("Transfer-Encoding"):
        return None
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _truncated(received: int, declared: Optional[int]) -> str:
    if declared is None:
        return f"the answer was cut off after {received} bytes"
    return f"the answer was cut off after {received} of the {declared} bytes it announced"


def keep_body(response: requests.Response, body: bytes) -> None:
    """Make *body* the content of *response* (sent with ``stream=True``, read by
    :func:`read_body`), so that ``.content``, ``.text`` and ``.json()`` give it."""
    response._content = body  # noqa: SLF001 - what requests fills in itself when it reads a body
    response._content_consumed = True  # noqa: SLF001


# -- what the answer says -------------------------------------------------------------


def charset(response: requests.Response) -> str:
    """The charset the answer names, else UTF-8 (JSON's, RFC 8259 §8.1); never guessed from
    the bytes (requests' guess reads the whole body again, slowly for a large one)."""
    content_type = response.headers.get("Content-Type", "")
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            named = value.strip().strip('"')
            try:
                "".encode(named)
            except LookupError:
                break
            return named
    return "utf-8"


def error_fields(text: str) -> Tuple[Optional[str], Optional[str]]:
    """The OAuth ``error`` code and description of an error answer's *text*, if it is
    a JSON object that has them."""
    fields = _json_object(text)
    if fields is None:
        return None, None
    error = fields.get("error")
    description = fields.get("error_description")
    if isinstance(error, Mapping):  # {"error": {"code": ..., "message": ...}}
        description = description or error.get("message")
        error = error.get("code")
    if description is None:
        description = fields.get("message")  # Dataloy and many gateways say "message"
    return (
        str(error) if error not in (None, "") else None,
        str(description) if description not in (None, "") else None,
    )


def _json_object(text: str) -> Optional[Mapping[str, Any]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None
    return value if isinstance(value, Mapping) else None


def decode_success(response: requests.Response, text: str, where: str, secrets: Iterable[Optional[str]]) -> Any:
    """A 2xx token answer's *text* decoded: JSON, or a form with an ``access_token``.

    Raises:
        TokenResponseError: the body is empty, or neither.
    """
    content_type = response.headers.get("Content-Type", "no content type")
    if not text.strip():
        raise TokenResponseError(
            f"{where} answered HTTP {response.status_code} with an empty body ({content_type}); expected a JSON token"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    # Some old servers answer form-encoded (RFC 6749 says JSON; oauthlib accepts both).
    try:
        form = dict(parse_qsl(text.strip(), keep_blank_values=True, strict_parsing=True))
    except ValueError:
        form = {}
    if "access_token" in form:
        return form
    raise TokenResponseError(
        f"{where} answered HTTP {response.status_code} with {content_type}, not JSON: {excerpt(text, secrets)}"
    )
