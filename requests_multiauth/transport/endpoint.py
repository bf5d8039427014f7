"""The one place that talks to a token endpoint.

:class:`TokenEndpoint` POSTs a token request on a plain ``requests.Session`` of
its own (never the session being authenticated, so a token call can never pass
through our own auth), retries transient faults with backoff, and turns every
failure into a typed error:

* connection errors, timeouts, a reset mid-answer, 429, 5xx, and Cognito's
  400 "Rate exceeded" are retried per :class:`RetryPolicy`, honouring
  ``Retry-After`` up to a cap, within a total time budget;
* an OAuth refusal (``invalid_client``, ``invalid_scope`` ...) or any other 4xx is
  raised at once as :class:`~requests_multiauth.errors.TokenRequestError` (or
  :class:`~requests_multiauth.errors.InvalidClientError`);
* a 2xx whose body is not JSON raises
  :class:`~requests_multiauth.errors.TokenResponseError`.

Every token call is bounded in time and memory, whatever the endpoint does
(see :meth:`RetryPolicy.deadline` for the rule): one deadline for the whole
call, tries included; each try within its connect + read timeout in all, the
answer read by chunks (:mod:`.answer`) and abandoned at the deadline or at
``RetryPolicy.max_answer_bytes`` of decoded body. An answer that breaks HTTP
(a status line like ``2OO``, more than 100 headers, a 64 KiB header line) is a
:class:`~requests_multiauth.errors.MalformedAnswerError`, not a reset, and is
not retried; an answer cut off before its announced length is retried (a
dropped connection does that; a new one usually gets the whole answer).

The decoded answer then goes to :func:`~requests_multiauth.token.parse_token_response`.

Where the request goes next: the answer goes to the grant's parser (token.py) and the
Token to the engine (engine/manager.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    NoReturn,
    Optional,
    Protocol,
    Set,
    Tuple,
    Union,
)
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from ..engine import fork as _fork
from ..errors import (
    TLS_HINT,
    UNREACHABLE_HINT,
    AnswerTooLargeError,
    ConfigurationError,
    MalformedAnswerError,
    TokenRequestError,
    TokenResponseError,
    TokenTimeoutError,
    answer_excerpt,
    excerpt,
    oauth_error,
    with_what_to_do,
)
from ..telemetry import AuthTelemetry, log_fields
from . import pool as _pool
from .answer import ACCEPT_ENCODING, AnswerFault, keep_body, malformed_answer, read_body
from .retry import DEFAULT_RETRY, RetryPolicy, Transient, parse_retry_after, retrying, timeouts
from .tls import call_verify
from .urls import check_transport, proxies_for, safe_url
from .watchdog import watching

if TYPE_CHECKING:
    from ..grants.base import GrantRequest

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_TOKEN_TIMEOUT",
    "AttemptExtras",
    "ClientCert",
    "RetryPolicy",
    "TokenEndpoint",
    "TryHook",
    "parse_retry_after",
]

log = logging.getLogger("requests_multiauth")

Timeout = Union[float, Tuple[float, float]]

#: A token request body: form fields (a mapping or already encoded) or a JSON object.
_Form = Optional[Union[str, Mapping[str, str]]]
_Json = Optional[Mapping[str, Any]]

#: A client certificate as requests takes it: the path of a PEM file holding the
#: certificate (and its key), or a (certificate path, key path) pair.
ClientCert = Union[str, Tuple[str, str]]

#: Connect and read timeout of a token request, in seconds. Token endpoints
#: answer in well under a second; a read that takes 10 s has failed, and the
#: retry that follows is more likely to succeed than further waiting.
DEFAULT_TOKEN_TIMEOUT: Timeout = (3.05, 10.0)


@dataclass(frozen=True)
class AttemptExtras:
    """What one try of a token request adds to it, made anew for every try.

    A client assertion (RFC 7523) must be fresh for each request, retries
    included (a server refuses a replayed ``jti``), so it cannot be part of the
    body built once: :meth:`TokenEndpoint.post` calls its *prepare* before each
    try and merges what it returns.

    Attributes:
        fields: form (or JSON) fields appended to the body.
        headers: headers added to (and overriding) the request's.
        secrets: strings of this try to scrub from messages (the assertion).
    """

    fields: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: Tuple[str, ...] = ()


class TryHook(Protocol):
    """What an auth adds to every try of its token calls, and how it reads each answer.

    The endpoint calls it without knowing what it is: with ``dpop=``, the auth's
    :class:`~requests_multiauth.dpop.DPoPProofs` (a proof on every try, the
    nonces its answers carry, one immediate resend for ``use_dpop_nonce``).
    """

    def headers(self, method: str, url: str) -> Mapping[str, str]:
        """Headers this try of a *method* request to *url* adds."""
        ...

    def observe(self, response: requests.Response) -> None:
        """Called with every answer of the token endpoint."""
        ...

    def send_again(self, response: requests.Response) -> Optional[str]:
        """Why the server wants the try that got *response* sent again at once
        (not a retry of the retry policy), or None."""
        ...


class _SendAgain(TokenRequestError):
    """The server asked for this try to be sent again at once (see TryHook.send_again).
    Never leaves the endpoint; a TokenRequestError so that telemetry counts the answer as a refusal."""


class TokenEndpoint:
    """A token endpoint URL and how to reach it. Safe for concurrent use.

    Args:
        url: the endpoint; must be ``https://`` unless *allow_insecure_loopback*
            and the host is loopback.
        session: the ``requests.Session`` for token calls (proxies, CA bundle,
            client certificates); it stays the caller's. Its ``verify`` is passed
            on each token call, so that a CA bundle set on it wins over
            ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``. Default: the process's
            shared token-call session (:mod:`._pool`): one bounded connection
            pool per origin and TLS settings, one SSL context per CA bundle and
            client certificate, idle connections closed after a few seconds.
        verify: the CA bundle (a path) or ``False`` for the token calls when
            given no *session*; it too wins over those variables.
        timeout: connect/read timeout of each try.
        retry: the retry policy for transient faults.
        allow_insecure_loopback: accept ``http://`` to loopback, for tests.
        secrets: strings that must never appear in an error message.
        telemetry: where each token call (HTTP attempt) is recorded; default a
            recorder of its own, named ``TokenEndpoint``.
        sleep: waits between tries; replaceable in tests.
        monotonic: the clock the deadline of a token call (its tries and waits) is
            measured on; replaceable in tests. Reads wait on ``time.monotonic``.
        try_hook: what the auth adds to every try and reads of every answer
            (:class:`TryHook`). With ``dpop=``: a new ``DPoP`` proof on every
            try, and a 400 ``use_dpop_nonce`` answer is sent again once, at
            once, with the nonce it gives (not a retry of the retry policy).
        cert: a client certificate presented in the TLS handshake of every
            token call (RFC 8705 mutual TLS), as requests takes it: a PEM path
            or a (certificate path, key path) pair.
        plain_http_hosts: ``host:port`` of cloud metadata endpoints that may be
            called over plain HTTP (see :func:`~.urls.check_transport`).

    After ``os.fork()`` the child never sends on the pooled connections it
    inherited (a TLS stream used by two processes breaks for both): it opens its own.
    """

    def __init__(
        self,
        url: str,
        *,
        session: Optional[requests.Session] = None,
        verify: Union[bool, str, None] = None,
        timeout: Timeout = DEFAULT_TOKEN_TIMEOUT,
        retry: Optional[RetryPolicy] = None,
        allow_insecure_loopback: bool = False,
        secrets: Iterable[Optional[str]] = (),
        telemetry: Optional[AuthTelemetry] = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        try_hook: Optional[TryHook] = None,
        cert: Optional[ClientCert] = None,
        plain_http_hosts: Iterable[str] = (),
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ConfigurationError("the token URL is missing: pass token_url='https://...'")
        self.allow_insecure_loopback = allow_insecure_loopback
        self.plain_http_hosts = tuple(plain_http_hosts)
        check_transport(
            url,
            allow_insecure_loopback=allow_insecure_loopback,
            plain_http_hosts=self.plain_http_hosts,
            what="client credentials",
        )
        self.url = url
        self.timeout = timeout
        self.retry = retry or DEFAULT_RETRY
        if session is not None and verify is not None:
            raise ConfigurationError("pass verify= or session=, not both: set the session's verify instead")
        self._verify = verify
        self._own_session = session  # None: the process's shared session (_pool)
        self._secrets: List[Optional[str]] = [s for s in secrets if s]
        self._sleep = sleep
        self._monotonic = monotonic
        self.try_hook = try_hook
        self.cert = cert
        self.telemetry = telemetry if telemetry is not None else AuthTelemetry(type(self).__name__)
        _fork.register(self)

    @property
    def _session(self) -> requests.Session:
        """The session token calls go through: the caller's, or the process's shared one."""
        return self._own_session if self._own_session is not None else _pool.shared_session()

    def reset_after_fork(self) -> None:
        # The shared session is replaced in the child by _pool, without touching
        # the parent's connections; a caller's session is emptied.
        if self._own_session is not None:
            for adapter in self._own_session.adapters.values():
                adapter.close()

    def __repr__(self) -> str:
        return f"TokenEndpoint({safe_url(self.url)!r})"

    def close(self) -> None:
        """Nothing to close: the caller's session stays the caller's, and the shared
        session's idle connections close by themselves (see :mod:`._pool`)."""

    def call(
        self,
        make: Callable[[], GrantRequest],
        *,
        parse: Optional[Callable[[Any], Any]] = None,
        grant: str = "unknown",
        read: Optional[Callable[[requests.Response, str], Any]] = None,
    ) -> Any:
        """Send the request *make* returns, retrying transient faults, and return
        the decoded answer of a 2xx (or what *parse* makes of it).

        *read*, if given, decodes a 2xx answer instead of the default (JSON, or a
        form): it gets the response and its text, and returns the answer *parse*
        gets or raises ``TokenResponseError``. A metadata server's plain-text ID
        token needs it, and so does a header the answer must carry.

        *make* is called before every try, retries included, so that what must be
        fresh (a signed assertion, a subject token read anew) is. Its
        :class:`~requests_multiauth.GrantRequest` names the method, body, headers and
        URL (default: this endpoint's); every URL passes the transport rules.
        *grant* names what is asked (``client_credentials``, ``refresh_token`` ...)
        in the telemetry of each try. A ``TokenResponseError`` raised by *parse* is
        re-raised with the answer's status, content type and a short redacted
        excerpt. What *make* raises ends the call.

        Raises:
            TokenRequestError: refused, or still failing after the retries.
            InvalidClientError: the credentials were rejected.
            TokenResponseError: a 2xx whose body is not a token answer.
        """
        where = f"the token endpoint {safe_url(self.url)}"

        def on_retry(fault: Transient, wait: float, attempt: int) -> None:
            log.warning(
                "%s: %s; retrying in %.1f s (attempt %d of %d)",
                where,
                fault.reason,
                wait,
                attempt,
                self.retry.attempts,
                extra=log_fields(
                    "token.retry", url=safe_url(self.url), reason=fault.reason, wait=wait, attempt=attempt
                ),
            )

        deadline = self.retry.deadline(self.timeout)

        def give_up(fault: Transient, attempts: int, spent: Optional[float]) -> NoReturn:
            if spent is not None:
                log.warning(
                    "%s: %s; giving up, the deadline of %g s is spent",
                    where,
                    fault.reason,
                    spent,
                    extra=log_fields("token.give_up", url=safe_url(self.url), reason=fault.reason, attempts=attempts),
                )
            timed_out = spent is not None or fault.timed_out
            self._give_up(where, fault, attempts, deadline=deadline if timed_out else None, budget=self.retry.budget)

        started = self._monotonic()

        def attempt(number: int) -> Any:
            # This try's share of the deadline, on the real clock its reads wait on.
            left = deadline - (self._monotonic() - started)
            until = time.monotonic() + min(left, sum(timeouts(self.timeout)))
            return self._attempt(make, grant, number, parse, until, read)

        return retrying(
            self.retry,
            attempt,
            on_retry=on_retry,
            give_up=give_up,
            sleep=self._sleep,
            monotonic=self._monotonic,
            deadline=deadline,
        )

    def _attempt(
        self,
        make: Callable[[], GrantRequest],
        grant: str,
        attempt: int,
        parse: Optional[Callable[[Any], Any]],
        until: float,
        read: Optional[Callable[[requests.Response, str], Any]] = None,
    ) -> Any:
        """One try, over by *until* (on time.monotonic), with what *make* makes for it,
        and what the auth's hook adds (a DPoP proof). A server that asks for the try
        again at once (a DPoP nonce) gets it once, made anew (with a new assertion too)."""
        sending = self._prepare(make())
        hook = self.try_hook
        if hook is None:
            with self.telemetry.token_request(grant, sending.url, attempt):  # logs the attempt, times and counts it
                return self._try(sending, attempt, parse, until, decode=read)
        try:
            with self.telemetry.token_request(grant, sending.url, attempt):
                return self._try(_with_hook(hook, sending), attempt, parse, until, decode=read)
        except _SendAgain as again:
            log.debug(
                "%s asked for %s; sending the token request again with it",
                sending.where,
                again,
                extra=log_fields("token.dpop_nonce", url=safe_url(sending.url), attempt=attempt),
            )
        sending = self._prepare(make())
        with self.telemetry.token_request(grant, sending.url, attempt):
            return self._try(_with_hook(hook, sending), attempt, parse, until, send_again=False, decode=read)

    def _prepare(self, request: GrantRequest) -> _Sending:
        """What one try sends: *request* with its URL checked and its headers complete."""
        url = request.url or self.url
        if request.url is not None and request.url != self.url:
            check_transport(
                url,
                allow_insecure_loopback=self.allow_insecure_loopback,
                plain_http_hosts=self.plain_http_hosts,
                what="a token request",
            )
        if request.query:
            url += ("&" if urlsplit(url).query else "?") + urlencode(list(request.query.items()))
        # requests' defaults otherwise: what the providers' examples send. Only the codings
        # whose decompression is bounded (see .answer) are asked for.
        headers: Dict[str, str] = {"Accept-Encoding": ACCEPT_ENCODING}
        if request.form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers.update(request.headers)
        secrets = [*self._secrets, *request.secrets]
        return _Sending(
            method=request.method,
            url=url,
            form=request.form,
            json=request.json,
            headers=headers,
            secrets=secrets,
            where=f"the token endpoint {safe_url(url)}",
        )

    def _try(
        self,
        sending: _Sending,
        attempt: int,
        parse: Optional[Callable[[Any], Any]],
        until: float,
        *,
        send_again: bool = True,
        decode: Optional[Callable[[requests.Response, str], Any]] = None,
    ) -> Any:
        """Send one try and read its answer, all of it by *until* (on time.monotonic)."""
        where, secrets = sending.where, sending.secrets
        session = self._session
        # The session's own CA bundle, or this endpoint's verify= for the shared session, wins over the environment's.
        verify_now = call_verify(session.verify) if self._own_session is not None else self._verify
        connect, read = timeouts(self.timeout)
        share = until - time.monotonic()
        if share <= 0:
            raise Transient("no time was left for this try", timed_out=True)
        try:
            response = self._send(session, sending, verify_now, until, connect, read, share)
            text = self._read(response, until, read, share, where)
        except requests.exceptions.SSLError as exc:
            _raise_if_out_of_resources(exc, where, attempt)
            if "eof" in str(exc).lower():  # closed during the handshake: an overloaded or restarting server
                raise Transient("the connection closed during the TLS handshake") from None
            raise TokenRequestError(
                with_what_to_do(f"{where} failed TLS verification ({type(exc).__name__})", TLS_HINT),
                attempts=attempt,
                hint=TLS_HINT,
            ) from None
        except requests.exceptions.InvalidURL as exc:
            raise ConfigurationError(f"{where} is not a valid URL: {exc}") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            _raise_if_out_of_resources(exc, where, attempt)
            malformed = malformed_answer(exc)
            if malformed is not None:  # the server broke HTTP: it will again; not a reset
                raise MalformedAnswerError(
                    f"{where} answered with {malformed}, which is not HTTP; not retried. "
                    "What to do: check that token_url is the token endpoint and not another service on its port"
                ) from None
            raise Transient(_describe_network_error(exc), timed_out=isinstance(exc, requests.Timeout)) from None
        except (OSError, MemoryError, RuntimeError) as exc:  # not wrapped by requests (loading the CA bundle)
            _raise_if_out_of_resources(exc, where, attempt)
            raise

        status = response.status_code
        hook = self.try_hook
        if hook is not None:
            hook.observe(response)
            reason = hook.send_again(response) if send_again else None
            if reason is not None:
                error, _description = _error_fields(_json_object(text))
                raise _SendAgain(reason, status_code=status, error=error)
        if 200 <= status < 300:
            answer = _decode_success(response, text, where, secrets) if decode is None else decode(response, text)
            if parse is None:
                return answer
            try:
                return parse(answer)
            except TokenResponseError as exc:
                content_type = response.headers.get("Content-Type", "no content type")
                raise TokenResponseError(
                    f"{where} answered HTTP {status} ({content_type}) without a usable token: {exc}. "
                    f"The answer: {answer_excerpt(text, secrets)}"
                ) from None
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise TokenRequestError(
                f"{where} answered HTTP {status}, a redirect to {safe_url(location) if location else 'nowhere'}; "
                "token requests are not redirected (that would resend the credentials): "
                "use the final URL as token_url",
                status_code=status,
                attempts=attempt,
            )
        fields = _json_object(text)
        error, description = _error_fields(fields)
        if status in self.retry.statuses or (status == 400 and _is_throttling(text)):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
            raise Transient(f"HTTP {status}" + (f" {error}" if error else ""), status, retry_after)
        if description is None and error is None:
            description = excerpt(text, secrets) if text.strip() else None
        raise oauth_error(
            status_code=status,
            error=error,
            description=description,
            secrets=secrets,
            where=where,
            attempts=attempt,
        )

    def _send(
        self,
        session: requests.Session,
        sending: _Sending,
        verify: Union[bool, str, None],
        until: float,
        connect: float,
        read: float,
        share: float,
    ) -> requests.Response:
        """Send *sending* and return its answer once the headers are in (the body is read by _read).

        Through the shared session, the connection is shut down at *until* if the
        headers are not in by then (:mod:`.watchdog`); through a caller's session,
        each read waits at most the read timeout."""
        watch = watching(until) if self._own_session is None else contextlib.nullcontext(None)
        with watch as watched:
            try:
                response = session.request(
                    sending.method,
                    sending.url,
                    data=sending.form,
                    json=sending.json,
                    headers=sending.headers,
                    timeout=(min(connect, share), min(read, share)),
                    allow_redirects=False,
                    cert=self.cert,  # None: the session's own, if any
                    verify=verify,
                    stream=True,  # the body is read by _read, by chunks, within bounds
                    proxies=proxies_for(sending.url),  # loopback: never through a proxy
                )
            except requests.RequestException:
                if watched is not None and watched.expired:
                    raise _headers_too_slow(share) from None
                raise
        if watched is not None and watched.expired:  # headers cut short by the shutdown parse as ended
            response.close()
            raise _headers_too_slow(share)
        return response

    def _read(self, response: requests.Response, until: float, read: float, share: float, where: str) -> str:
        """The whole answer of *response* as text, read within the try's bounds."""
        try:
            body = read_body(response, deadline=until, limit=self.retry.max_answer_bytes, read_timeout=read)
        except AnswerFault as fault:
            if fault.kind == "size":
                raise AnswerTooLargeError(
                    f"{where} answered HTTP {response.status_code}, but {fault}; a token answer is a few "
                    "kilobytes, so it was abandoned there. What to do: check "
                    "token_url, or raise RetryPolicy(max_answer_bytes=...) if the answer is really this large",
                    limit=fault.limit or self.retry.max_answer_bytes,
                ) from None
            if fault.kind == "deadline":
                raise Transient(
                    f"the answer did not arrive whole within the try's {share:.3g} s ({fault.received} bytes came)",
                    timed_out=True,
                ) from None
            if fault.kind == "truncated":
                raise Transient(str(fault)) from None
            raise MalformedAnswerError(
                f"{where} answered HTTP {response.status_code}, but {fault}; not retried"
            ) from None
        keep_body(response, body)
        return body.decode(_charset(response), errors="replace")

    def _give_up(
        self,
        where: str,
        last: Transient,
        attempts: int,
        *,
        deadline: Optional[float] = None,
        budget: Optional[float] = None,
    ) -> NoReturn:
        """Raise the error of a call that ran out of tries (or, with *deadline*, of time)."""
        tries = "once" if attempts == 1 else f"{attempts} times"
        if deadline is None:
            raise TokenRequestError(
                with_what_to_do(f"{where} failed: {last.reason} (tried {tries})", UNREACHABLE_HINT),
                status_code=last.status_code,
                attempts=attempts,
                hint=UNREACHABLE_HINT,
            )
        which = f"the time budget of {budget:g} s" if budget is not None and budget <= deadline else f"{deadline:g} s"
        raise TokenTimeoutError(
            with_what_to_do(
                f"{where} failed: {last.reason} (tried {tries}; the token call's deadline of {which} is spent)",
                UNREACHABLE_HINT,
            ),
            deadline=deadline,
            status_code=last.status_code,
            attempts=attempts,
            hint=UNREACHABLE_HINT,
        )


def _headers_too_slow(share: float) -> Transient:
    return Transient(f"the status line and headers did not arrive within the try's {share:.3g} s", timed_out=True)


def _with_hook(hook: TryHook, sending: _Sending) -> _Sending:
    """*sending* with the headers *hook* adds to this try (a new DPoP proof for its method and URL)."""
    return dataclasses.replace(sending, headers={**sending.headers, **hook.headers(sending.method, sending.url)})


@dataclass(frozen=True)
class _Sending:
    """One try as it goes on the wire: a GrantRequest with its URL and headers complete."""

    method: str
    url: str
    form: Optional[Union[str, Mapping[str, str]]]
    json: Optional[Mapping[str, Any]]
    headers: Mapping[str, str]
    secrets: List[Optional[str]]
    where: str


#: OSError numbers that mean the process or the machine ran out of something.
_OUT_OF = {
    errno.EMFILE: "the process is out of file descriptors",
    errno.ENFILE: "the machine is out of file descriptors",
    errno.ENOMEM: "the process is out of memory",
    errno.ENOBUFS: "the machine is out of network buffers",
}


def _resource_limit(exc: BaseException) -> Optional[str]:
    """What the process ran out of, if that is what *exc* (or an exception it
    wraps, as requests and urllib3 wrap them) says; None otherwise."""
    seen: Set[int] = set()
    pending: List[BaseException] = [exc]
    while pending and len(seen) < 32:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return "the process is out of memory (MemoryError)"
        if isinstance(current, RuntimeError) and "can't start new thread" in str(current):
            return f"the process is out of threads ({current})"
        if isinstance(current, OSError) and current.errno in _OUT_OF:
            what = _OUT_OF[current.errno]
            if current.errno == errno.EMFILE:
                what += _descriptor_limit()
            return f"{what} ({errno.errorcode[current.errno]}: {os.strerror(current.errno)})"
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return None


def _descriptor_limit() -> str:
    try:
        import resource
    except ImportError:  # Windows
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f": all {soft} allowed are open; raise the limit (ulimit -n) or open fewer connections"


def _raise_if_out_of_resources(exc: BaseException, where: str, attempt: int) -> None:
    """Report running out of descriptors, memory or threads as that, never as a
    TLS or network fault: retrying does not help, and neither does a CA bundle."""
    limit = _resource_limit(exc)
    if limit is not None:
        raise TokenRequestError(f"{where} could not be called: {limit}", attempts=attempt) from None


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


def _charset(response: requests.Response) -> str:
    """The charset the answer names, else UTF-8 (JSON's, RFC 8259 §8.1); never guessed from
    the bytes (requests' guess reads the whole body again, slowly for a large one)."""
    content_type = response.headers.get("Content-Type", "")
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
            try:
                "".encode(charset)
            except LookupError:
                break
            return charset
    return "utf-8"


def _is_throttling(text: str) -> bool:
    """True for AWS Cognito's throttling answer: HTTP 400 saying "Rate exceeded"
    (as plain text, ``{"message": ...}`` or ``{"code": "TooManyRequestsException"}``)."""
    lowered = text.lower()
    return "rate exceeded" in lowered or "toomanyrequestsexception" in lowered


def _json_object(text: str) -> Optional[Mapping[str, Any]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None
    return value if isinstance(value, Mapping) else None


def _error_fields(fields: Optional[Mapping[str, Any]]) -> Tuple[Optional[str], Optional[str]]:
    """The OAuth ``error`` code and description of an error answer, if any."""
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


def _decode_success(response: requests.Response, text: str, where: str, secrets: List[Optional[str]]) -> Any:
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
