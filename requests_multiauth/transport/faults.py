"""What went wrong with a try of a token call, named as the error it raises.

:mod:`.endpoint` sends a try and reads its answer; when either fails, it asks
this module which exception the failure is:

* a :class:`~.retry.Transient` (retried by the retry policy): a reset, a
  timeout, a TLS handshake cut short, an answer cut off, 429, 5xx, and
  Cognito's 400 "Rate exceeded";
* a typed error (not retried): running out of file descriptors, memory or
  threads (:func:`resource_limit`), a failed TLS verification, an answer that
  breaks HTTP (:func:`malformed_answer`) or does not fit, a redirect, an OAuth
  refusal, and the error of a call that ran out of tries or of time.

An answer that breaks HTTP (a status line like ``2OO``, more than 100
headers, a 64 KiB header line) is a
:class:`~requests_multiauth.errors.MalformedAnswerError`, not a reset, and is
not retried; an answer cut off before its announced length is retried (a
dropped connection does that; a new one usually gets the whole answer).

Every failure is looked at through the exceptions it wraps
(:func:`wrapped_exceptions`), as requests and urllib3 wrap them.
"""

from __future__ import annotations

import errno
import http.client
import os
import time
from typing import Collection, Iterator, List, Optional, Set

import requests

from ..errors import (
    TLS_HINT,
    UNREACHABLE_HINT,
    AnswerTooLargeError,
    MalformedAnswerError,
    TokenRequestError,
    TokenResponseError,
    TokenTimeoutError,
    answer_excerpt,
    excerpt,
    oauth_error,
    with_what_to_do,
)
from .answer import AnswerFault, error_fields
from .retry import Transient, parse_retry_after
from .urls import safe_url

__all__ = [
    "answer_error",
    "headers_too_slow",
    "malformed_answer",
    "network_failure",
    "out_of_resources",
    "out_of_tries",
    "resource_limit",
    "tls_failure",
    "unread_answer",
    "unusable_answer",
    "wrapped_exceptions",
]

#: How many exceptions a failure is looked through at most (a cycle or a very long chain ends there).
_MOST_WRAPPED = 32


def wrapped_exceptions(exc: BaseException) -> Iterator[BaseException]:
    """*exc*, then each exception it wraps, once: its cause and context, urllib3's
    ``MaxRetryError.reason``, and exceptions among its arguments (as requests
    wraps urllib3's), depth first, at most :data:`_MOST_WRAPPED` of them."""
    seen: Set[int] = set()
    pending: List[BaseException] = [exc]
    while pending and len(seen) < _MOST_WRAPPED:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))


# -- the process ran out of something ---------------------------------------------------

#: OSError numbers that mean the process or the machine ran out of something.
_OUT_OF = {
    errno.EMFILE: "the process is out of file descriptors",
    errno.ENFILE: "the machine is out of file descriptors",
    errno.ENOMEM: "the process is out of memory",
    errno.ENOBUFS: "the machine is out of network buffers",
}


def resource_limit(exc: BaseException) -> Optional[str]:
    """What the process ran out of, if that is what *exc* (or an exception it
    wraps) says; None otherwise."""
    for current in wrapped_exceptions(exc):
        if isinstance(current, MemoryError):
            return "the process is out of memory (MemoryError)"
        if isinstance(current, RuntimeError) and "can't start new thread" in str(current):
            return f"the process is out of threads ({current})"
        if isinstance(current, OSError) and current.errno in _OUT_OF:
            what = _OUT_OF[current.errno]
            if current.errno == errno.EMFILE:
                what += _descriptor_limit()
            return f"{what} ({errno.errorcode[current.errno]}: {os.strerror(current.errno)})"
    return None


def _descriptor_limit() -> str:
    try:
        import resource
    except ImportError:  # Windows
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f": all {soft} allowed are open; raise the limit (ulimit -n) or open fewer connections"


def out_of_resources(exc: BaseException, where: str, attempt: int) -> Optional[TokenRequestError]:
    """The error for running out of descriptors, memory or threads, if *exc* says
    so: reported as that, never as a TLS or network fault (retrying does not help,
    and neither does a CA bundle). None otherwise."""
    limit = resource_limit(exc)
    if limit is None:
        return None
    return TokenRequestError(f"{where} could not be called: {limit}", attempts=attempt)


# -- sending failed -------------------------------------------------------------------


def tls_failure(exc: requests.exceptions.SSLError, where: str, attempt: int) -> Exception:
    """What a TLS error of a try is: out of resources, a handshake cut short
    (transient: an overloaded or restarting server), or a failed verification."""
    limit = out_of_resources(exc, where, attempt)
    if limit is not None:
        return limit
    if "eof" in str(exc).lower():
        return Transient("the connection closed during the TLS handshake")
    return TokenRequestError(
        with_what_to_do(f"{where} failed TLS verification ({type(exc).__name__})", TLS_HINT),
        attempts=attempt,
        hint=TLS_HINT,
    )


def network_failure(exc: requests.RequestException, where: str, attempt: int) -> Exception:
    """What a connection error or timeout of a try is: out of resources, an answer
    that broke HTTP (it will again: not retried), or a transient network fault."""
    limit = out_of_resources(exc, where, attempt)
    if limit is not None:
        return limit
    malformed = malformed_answer(exc)
    if malformed is not None:
        return MalformedAnswerError(
            f"{where} answered with {malformed}, which is not HTTP; not retried. "
            "What to do: check that token_url is the token endpoint and not another service on its port"
        )
    return Transient(_describe_network_error(exc), timed_out=isinstance(exc, requests.Timeout))


def _describe_network_error(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connecting timed out"
    if isinstance(exc, requests.Timeout):
        return "no answer within the read timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke while the answer was read"
    if "refused" in str(exc).lower():
        return "connection refused"
    if "reset" in str(exc).lower() or "aborted" in str(exc).lower():
        return "the connection was reset"
    return "the connection failed"


def headers_too_slow(share: float) -> Transient:
    """The fault of a try whose status line and headers did not come within its *share* of seconds."""
    return Transient(f"the status line and headers did not arrive within the try's {share:.3g} s", timed_out=True)


def malformed_answer(exc: BaseException) -> Optional[str]:
    """What was wrong with an answer that broke HTTP, if that is what *exc* (or an
    exception it wraps) says; None for a network fault (a reset, a connection
    closed before any answer: http.client's RemoteDisconnected, which is transient)."""
    for current in wrapped_exceptions(exc):
        if isinstance(current, (http.client.RemoteDisconnected, ConnectionError)):
            return None
        if isinstance(current, http.client.LineTooLong):
            return f"an overlong line ({current.args[0] if current.args else 'header line'})"
        if isinstance(current, http.client.UnknownProtocol):
            return "an unknown protocol version"
        if isinstance(current, http.client.BadStatusLine):
            return f"a malformed status line {_quote(str(current.args[0]) if current.args else '')!r}"
        if isinstance(current, http.client.HTTPException) and "headers" in str(current):
            return f"too many headers ({current})"
    return None


def _quote(line: str) -> str:
    """A short quote of a server's line for a message (it may be 64 KiB long)."""
    flat = " ".join(line.split())
    return flat[:80] + "..." if len(flat) > 80 else flat


# -- the answer -------------------------------------------------------------------------


def unread_answer(fault: AnswerFault, where: str, status: int, share: float, limit: int) -> Exception:
    """What an answer that was not read whole (:class:`~.answer.AnswerFault`) is:
    too large, over the try's *share* of seconds or cut off (transient), or broken."""
    if fault.kind == "size":
        return AnswerTooLargeError(
            f"{where} answered HTTP {status}, but {fault}; a token answer is a few "
            "kilobytes, so it was abandoned there. What to do: check "
            "token_url, or raise RetryPolicy(max_answer_bytes=...) if the answer is really this large",
            limit=fault.limit or limit,
        )
    if fault.kind == "deadline":
        return Transient(
            f"the answer did not arrive whole within the try's {share:.3g} s ({fault.received} bytes came)",
            timed_out=True,
        )
    if fault.kind == "truncated":
        return Transient(str(fault))
    return MalformedAnswerError(f"{where} answered HTTP {status}, but {fault}; not retried")


def answer_error(
    response: requests.Response,
    text: str,
    *,
    where: str,
    secrets: List[Optional[str]],
    attempt: int,
    retried: Collection[int],
) -> Exception:
    """What a non-2xx answer (*text* its body) is: a redirect (never followed: it would
    resend the credentials), a status in *retried* or Cognito's throttling 400
    (transient, with its ``Retry-After``), or an OAuth refusal."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        return TokenRequestError(
            f"{where} answered HTTP {status}, a redirect to {safe_url(location) if location else 'nowhere'}; "
            "token requests are not redirected (that would resend the credentials): "
            "use the final URL as token_url",
            status_code=status,
            attempts=attempt,
        )
    error, description = error_fields(text)
    if status in retried or (status == 400 and _is_throttling(text)):
        retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
        return Transient(f"HTTP {status}" + (f" {error}" if error else ""), status, retry_after)
    if description is None and error is None:
        description = excerpt(text, secrets) if text.strip() else None
    return oauth_error(
        status_code=status,
        error=error,
        description=description,
        secrets=secrets,
        where=where,
        attempts=attempt,
    )


def _is_throttling(text: str) -> bool:
    """True for AWS Cognito's throttling answer: HTTP 400 saying "Rate exceeded"
    (as plain text, ``{"message": ...}`` or ``{"code": "TooManyRequestsException"}``)."""
    lowered = text.lower()
    return "rate exceeded" in lowered or "toomanyrequestsexception" in lowered


def unusable_answer(
    exc: TokenResponseError, response: requests.Response, text: str, *, where: str, secrets: List[Optional[str]]
) -> TokenResponseError:
    """*exc*, raised by the grant's parser, told again with the answer's status, content
    type and a short redacted excerpt of its *text*."""
    content_type = response.headers.get("Content-Type", "no content type")
    return TokenResponseError(
        f"{where} answered HTTP {response.status_code} ({content_type}) without a usable token: {exc}. "
        f"The answer: {answer_excerpt(text, secrets)}"
    )


# -- the call ---------------------------------------------------------------------------


def out_of_tries(
    where: str,
    last: Transient,
    attempts: int,
    *,
    deadline: Optional[float] = None,
    budget: Optional[float] = None,
) -> TokenRequestError:
    """The error of a call that ran out of tries (or, with *deadline*, of time), *last* its last fault."""
    tries = "once" if attempts == 1 else f"{attempts} times"
    if deadline is None:
        return TokenRequestError(
            with_what_to_do(f"{where} failed: {last.reason} (tried {tries})", UNREACHABLE_HINT),
            status_code=last.status_code,
            attempts=attempts,
            hint=UNREACHABLE_HINT,
        )
    which = f"the time budget of {budget:g} s" if budget is not None and budget <= deadline else f"{deadline:g} s"
    return TokenTimeoutError(
        with_what_to_do(
            f"{where} failed: {last.reason} (tried {tries}; the token call's deadline of {which} is spent)",
            UNREACHABLE_HINT,
        ),
        deadline=deadline,
        status_code=last.status_code,
        attempts=attempts,
        hint=UNREACHABLE_HINT,
    )
