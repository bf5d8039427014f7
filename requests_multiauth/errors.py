"""Every exception and warning that requests_multiauth raises.

The errors of a request that failed derive from :class:`MultiAuthError`, which
is itself a :class:`requests.RequestException`, so code that already catches
requests' errors keeps working. A misconfiguration is not a failed request: it
is a :class:`ConfigurationError`, a ``ValueError`` raised at construction
wherever the problem can be seen there, which a retry loop that catches
requests' errors does not swallow::

    requests.RequestException
     └── MultiAuthError
          ├── TokenRequestError        the token endpoint refused or failed
          │    ├── InvalidClientError  the credentials were rejected
          │    └── TokenTimeoutError   the token call, or the wait for another's, ran out of its deadline
          ├── TokenResponseError       the token endpoint answered something unusable
          │    ├── AnswerTooLargeError the answer was larger than the cap (max_answer_bytes)
          │    └── MalformedAnswerError the answer broke HTTP (status line, headers, coding)
          ├── TokenExpiredError        a token that cannot be renewed has expired
          ├── InsecureTransportError   a token or secret was about to go over plain HTTP
          └── DiscoveryError           an issuer's metadata could not be had or was refused

    ValueError
     └── ConfigurationError            a setting is missing or invalid (a bad argument, a
                                       missing variable, an unreadable key or CA file,
                                       an unknown provider)

    UserWarning
     └── MultiAuthWarning
          └── TokenExpiryWarning       a token that cannot be renewed expires soon

Messages say what happened and what to do. They never contain a secret or a
token: text that comes from a server is cut short and scrubbed of every secret
the library knows (see :func:`redact`).

In IPython and Jupyter, an error of ours is shown as the caller's own frames
and the message (see ``_ShortTraceback._render_traceback_``), not as pages
of frames inside requests and this package; the whole traceback stays on the
exception (``traceback.print_last()`` prints it). Plain Python, logs and
``traceback`` show everything as usual.

Where the request goes next: an error is raised to the caller (or held by the engine
and raised again to the next callers for a while, engine/manager.py).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import traceback
from typing import Any, Iterable, List, Optional, Tuple, TypeVar
from urllib.parse import parse_qsl

import requests
import urllib3

__all__ = [
    "AnswerTooLargeError",
    "ConfigurationError",
    "DiscoveryError",
    "InsecureTransportError",
    "InvalidClientError",
    "MalformedAnswerError",
    "MultiAuthError",
    "MultiAuthWarning",
    "TokenExpiredError",
    "TokenExpiryWarning",
    "TokenRequestError",
    "TokenResponseError",
    "TokenTimeoutError",
]

#: How much of a server's answer an error message quotes. Enough to recognise
#: an HTML error page or a JSON error object, too little to flood a log.
EXCERPT_LENGTH = 200

#: What stands in for a secret that would otherwise appear in text.
REDACTED = "***"

#: The advice of a certificate that fails verification. (The command line says
#: ``REQUESTS_CA_BUNDLE`` instead: it matches ``TokenRequestError.hint``.)
TLS_HINT = "pass verify= with the CA bundle that signed the server's certificate (or session= with one)"

#: The advice when the token endpoint could not be reached, or kept failing.
UNREACHABLE_HINT = "check that the endpoint is up and reachable, or raise timeout= / retry="

#: The advice when an API key is refused (there is no client id or client_auth to check).
API_KEY_HINT = "check the API key: it may be mistyped, revoked or for another host"

E = TypeVar("E", bound="TokenRequestError")


def _package_directory(module_file: Optional[str]) -> Tuple[str, ...]:
    return (os.path.dirname(os.path.abspath(module_file)) + os.sep,) if module_file else ()


#: Frames in these directories are the libraries' inner workings, not the caller's code.
_LIBRARY_DIRECTORIES = (
    *_package_directory(__file__),
    *_package_directory(requests.__file__),
    *_package_directory(urllib3.__file__),
)


class _ShortTraceback(Exception):
    """How IPython and Jupyter show an error of ours: the caller's frames and the message."""

    def _render_traceback_(self) -> List[str]:
        """The lines IPython and Jupyter show for this error instead of the full traceback.

        The caller's frames (those outside requests, urllib3 and this package),
        then the error and its message, then how to see the rest. Nothing is
        taken off the exception: ``__traceback__``, ``__cause__`` and
        ``__context__`` stay whole for ``traceback.print_last()`` and debuggers.
        """
        frames = traceback.extract_tb(self.__traceback__)
        own = [frame for frame in frames if not os.path.abspath(frame.filename).startswith(_LIBRARY_DIRECTORIES)]
        lines = ["Traceback (most recent call last, frames inside requests and requests_multiauth left out):"]
        lines += [line.rstrip("\n") for line in traceback.format_list(own)]
        lines += [line.rstrip("\n") for line in traceback.format_exception_only(type(self), self)]
        hidden = len(frames) - len(own)
        lines.append(f"({hidden} frames left out; the whole traceback: import traceback; traceback.print_last())")
        return lines


class MultiAuthError(_ShortTraceback, requests.RequestException):
    """Base class of the errors of a request that failed (a token call, a
    discovery, an expired or insecure token); see :class:`ConfigurationError`
    for a misconfiguration."""


class TokenRequestError(MultiAuthError):
    """The token endpoint refused the request or could not be reached.

    Raised once the retries of transient faults (connection errors, timeouts,
    408/425/429/5xx, as :class:`~requests_multiauth.RetryPolicy` says) are spent,
    or at once for a refusal, which is never retried.

    Attributes:
        status_code: the HTTP status of the last answer, or None when no answer
            arrived (connection refused, timeout).
        error: the OAuth 2.0 ``error`` code of the answer (``invalid_scope``), if any.
        error_description: the server's ``error_description``, redacted, if any.
        attempts: how many times the request was sent before giving up.
        hint: what to do, as the message's "What to do: ..." part says it (None
            if the message gives no advice). Programs that word advice their own
            way (the command line) compare it and use :meth:`with_hint`.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        error: Optional[str] = None,
        error_description: Optional[str] = None,
        attempts: int = 1,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        self.attempts = attempts
        self.hint = hint

    def with_hint(self: E, hint: str) -> E:
        """A copy of this error whose message gives *hint* as what to do instead
        (same class, attributes and cause; the traceback is not copied)."""
        if self.hint is None or f"What to do: {self.hint}" not in str(self):
            return self
        changed = copy.copy(self)
        changed.args = (str(self).replace(f"What to do: {self.hint}", f"What to do: {hint}", 1),)
        changed.hint = hint
        return changed.with_traceback(None)


class InvalidClientError(TokenRequestError):
    """The token endpoint rejected the client credentials (or the API key).

    Raised for an OAuth ``invalid_client`` answer and for a 401 from a token
    endpoint. Never retried: the same credentials would be rejected again.
    """


class TokenResponseError(MultiAuthError):
    """The token endpoint answered, but not with a token this library can use.

    Never retried: asking again would get the same answer.

    The message names what is missing or wrong (``no access_token``, ``expires_in
    is negative``) and quotes a short, redacted excerpt of the answer.
    """


class TokenTimeoutError(TokenRequestError):
    """A token call ran out of its deadline, or a wait for another thread's or
    process's token call did.

    The deadline of a token call covers connecting, sending, the answer's
    headers and body, and every retry with the waits between them (see
    :meth:`~requests_multiauth.RetryPolicy.deadline`). A thread that waits for
    the token call of another thread (or process) waits at most as long.

    Attributes:
        deadline: the deadline that was hit, in seconds.
        waited_for: what the caller was waiting for when it was another's token
            call (``"another thread's token call"``), or None when the caller's
            own token call ran out of time.
    """

    def __init__(self, message: str, *, deadline: float = 0.0, waited_for: Optional[str] = None, **fields: Any) -> None:
        # Defaults only so that copy and pickle, which call the class with the message alone, work.
        super().__init__(message, **fields)
        self.deadline = deadline
        self.waited_for = waited_for


class AnswerTooLargeError(TokenResponseError):
    """The answer was larger than the cap on answers (``RetryPolicy.max_answer_bytes``,
    1 MiB by default), counted in decoded bytes: a compressed answer is stopped
    where its decompression passes the cap. Never retried.

    Attributes:
        limit: the cap that was passed, in bytes.
    """

    def __init__(self, message: str, *, limit: int = 0) -> None:  # a default for copy and pickle
        super().__init__(message)
        self.limit = limit


class MalformedAnswerError(TokenResponseError):
    """The server's answer broke HTTP: a status line that is not one (``HTTP/1.1 2OO``),
    more headers than a client reads (100), a header line longer than 64 KiB, a
    malformed chunked body, or a content coding that was not asked for.

    Never retried: a server that answers so does it again (a connection closed
    before any answer, or cut off mid-body, is a network fault instead, and
    retried).
    """


class TokenExpiredError(MultiAuthError):
    """A token that this library cannot renew has expired.

    Raised instead of sending the expired token; the message says when it expired
    and where a new one is made.
    """


class InsecureTransportError(MultiAuthError):
    """A token or secret was about to be sent over plain HTTP.

    Raised before any connection is opened. Use an ``https://`` URL; tests that
    run a server on loopback can pass ``allow_insecure_loopback=True``.
    """


class DiscoveryError(MultiAuthError):
    """An issuer's metadata could not be fetched, was not a usable document, or
    was refused (another issuer's, redirected off the issuer's origin, no HTTPS
    token endpoint). Raised before any token call."""


class ConfigurationError(_ShortTraceback, ValueError):
    """A required setting is missing or invalid: a bad argument, an environment
    variable read by ``from_env()``, an unreadable key, CA bundle or certificate
    file, an unknown provider. The message names the setting (and the path).

    A ``ValueError``, deliberately outside the ``requests.RequestException`` tree:
    a misconfiguration is not a failed request, so a retry loop that catches
    requests' errors must not swallow it."""


def check_seconds(name: str, value: float) -> None:
    """Raise :class:`ConfigurationError` unless *value*, the duration setting *name*, is a
    finite number of seconds, zero or more (the one rule of every such setting)."""
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigurationError(f"{name} must be a finite number of seconds, zero or more")


class MultiAuthWarning(UserWarning):
    """Base class of the warnings issued by requests_multiauth."""


class TokenExpiryWarning(MultiAuthWarning):
    """A token that cannot be renewed automatically expires soon."""


def redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    """Return *text* with every non-empty secret in *secrets* replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def excerpt(text: str, secrets: Iterable[Optional[str]] = ()) -> str:
    """A short, single-line, redacted quote of a server's answer for an error message."""
    flat = " ".join(redact(text, secrets).split())
    if len(flat) > EXCERPT_LENGTH:
        flat = flat[:EXCERPT_LENGTH] + "..."
    return flat or "(empty body)"


#: What to do about each RFC 6749 §5.2 error code, for error messages.
_OAUTH_HINTS = {
    "invalid_client": (
        "check the client id and secret (or key, assertion, certificate), and that client_auth is the method "
        "the client is registered with"
    ),
    "unauthorized_client": "this client may not use this grant type: allow it for the client at the provider",
    "invalid_scope": "the scope is unknown or not allowed for this client: check the scope argument",
    "invalid_grant": "the grant (for example a refresh token) is invalid, expired or revoked",
    "access_denied": "the provider denied access to this client",
    "invalid_request": "the provider found the token request malformed: check the extra parameters",
    "unsupported_grant_type": "the token endpoint does not support this grant type: check the token URL",
}

#: Field names whose values are credentials (``access_token``, ``client_secret``,
#: ``apiKey`` ...): an excerpt of an answer shows ``***`` in their place.
_CREDENTIAL_FIELD = re.compile(r"token|secret|password|passwd|api_?key|assertion|credential", re.IGNORECASE)

#: ... except these, which describe a token and are what a reader needs to see.
_DESCRIPTIVE_FIELD = re.compile(r"type|expir|scope", re.IGNORECASE)

#: How deep :func:`scrub_credentials` looks into nested answers; deeper levels are elided.
_SCRUB_DEPTH = 8


def scrub_credentials(value: Any, _depth: int = 0) -> Any:
    """A copy of a decoded JSON answer with every credential field's value replaced by ``***``.

    For quoting an answer in a message: a token the library could not use is
    still a token, and must not reach a log.
    """
    if _depth >= _SCRUB_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {
            str(key): (
                REDACTED
                if _CREDENTIAL_FIELD.search(str(key)) and not _DESCRIPTIVE_FIELD.search(str(key))
                else scrub_credentials(item, _depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub_credentials(item, _depth + 1) for item in value]
    return value


def answer_excerpt(text: str, secrets: Iterable[Optional[str]] = ()) -> str:
    """Like :func:`excerpt`, for a token endpoint's answer: a JSON or form-encoded
    answer is quoted with its credential fields scrubbed (see :func:`scrub_credentials`)."""
    if not text.strip():
        return excerpt(text)
    try:
        decoded: Any = json.loads(text)
    except (ValueError, RecursionError):
        try:
            decoded = dict(parse_qsl(text.strip(), keep_blank_values=True, strict_parsing=True))
        except ValueError:
            return excerpt(text, secrets)
    return excerpt(json.dumps(scrub_credentials(decoded), default=str), secrets)


#: OAuth error codes that no retry can fix.
PERMANENT_OAUTH_ERRORS = frozenset(_OAUTH_HINTS)


def oauth_error(
    *,
    status_code: Optional[int],
    error: Optional[str],
    description: Optional[str],
    secrets: Iterable[Optional[str]] = (),
    where: str = "the token endpoint",
    attempts: int = 1,
) -> TokenRequestError:
    """The typed error for a refusal by a token endpoint.

    ``invalid_client``, and any 401, become :class:`InvalidClientError`; every
    other refusal a :class:`TokenRequestError`.
    The message carries the status, the OAuth code, the server's description
    (redacted) and a hint.
    """
    secrets = list(secrets)
    description = excerpt(description, secrets) if description else None
    code = excerpt(error, secrets) if error else None
    status = f"HTTP {status_code}" if status_code is not None else "no HTTP status"
    summary = f"{status} {code}" if code else status
    message = f"{where} refused the token request ({summary})"
    if description:
        message += f": {description}"
    # RFC 6749 §5.2 answers 401 only to a failed client authentication; Auth0-style
    # servers (Dataloy's) word it "access_denied".
    client_rejected = code == "invalid_client" or status_code == 401
    if client_rejected and code in (None, "access_denied"):
        hint = _OAUTH_HINTS["invalid_client"]
    elif code in _OAUTH_HINTS:
        hint = _OAUTH_HINTS[code]
    else:
        hint = "see the provider's documentation of its token endpoint"
    message += f". What to do: {hint}."
    if attempts > 1:
        message += f" (tried {attempts} times)"
    cls = InvalidClientError if client_rejected else TokenRequestError
    return cls(
        message, status_code=status_code, error=code, error_description=description, attempts=attempts, hint=hint
    )


def with_what_to_do(message: str, hint: str) -> str:
    """*message* followed by its advice, as every message with a ``hint`` ends."""
    return f"{message}. What to do: {hint}"
