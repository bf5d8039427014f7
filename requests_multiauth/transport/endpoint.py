"""The one place that talks to a token endpoint.

:class:`TokenEndpoint` POSTs a token request on a plain ``requests.Session`` of
its own (never the session being authenticated, so a token call can never pass
through our own auth), one try after another: what each try sends (the grant's
request, the auth's :class:`TryHook` headers), its sending and reading within
bounds, and its retries per :class:`RetryPolicy` (honouring ``Retry-After`` up
to a cap, within a total time budget). Which failure is retried and which is
raised as what typed error is decided in :mod:`.faults` (connection errors,
timeouts, 429, 5xx are retried; an OAuth refusal or other 4xx is raised at once).

Every token call is bounded in time and memory, whatever the endpoint does
(see :meth:`RetryPolicy.deadline` for the rule): one deadline for the whole
call, tries included; each try within its connect + read timeout in all, the
answer read by chunks (:mod:`.answer`) and abandoned at the deadline or at
``RetryPolicy.max_answer_bytes`` of decoded body.

Where the request goes next: the decoded answer goes to the grant's parser
(:func:`~requests_multiauth.token.parse_token_response`) and the Token to the
engine (engine/manager.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
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
    Tuple,
    Union,
)
from urllib.parse import urlencode, urlsplit

import requests

from ..engine import fork as _fork
from ..errors import ConfigurationError, TokenRequestError, TokenResponseError
from ..telemetry import AuthTelemetry, log_fields
from . import pool as _pool
from .answer import ACCEPT_ENCODING, AnswerFault, charset, decode_success, error_fields, keep_body, read_body
from .faults import (
    answer_error,
    headers_too_slow,
    network_failure,
    out_of_resources,
    out_of_tries,
    tls_failure,
    unread_answer,
    unusable_answer,
)
from .retry import DEFAULT_RETRY, RetryPolicy, Timeout, Transient, parse_retry_after, retrying, timeouts
from .tls import ClientCert, Verify, call_verify
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
    "Timeout",
    "TokenEndpoint",
    "TryHook",
    "parse_retry_after",
]

log = logging.getLogger("requests_multiauth")

#: A token request body: form fields (a mapping or already encoded) or a JSON object.
_Form = Optional[Union[str, Mapping[str, str]]]
_Json = Optional[Mapping[str, Any]]

#: Connect and read timeout of a token request, in seconds. Token endpoints
#: answer in well under a second; a read that takes 10 s has failed, and the
#: retry that follows is more likely to succeed than further waiting.
DEFAULT_TOKEN_TIMEOUT: Timeout = (3.05, 10.0)


@dataclass(frozen=True)
class AttemptExtras:
    """What one try of a token request adds to it, made anew for every try.

    A client assertion (RFC 7523) must be fresh for each request, retries
    included (a server refuses a replayed ``jti``), so it cannot be part of the
    body built once: the grant calls its *prepare* each time the endpoint asks
    for the request (the *make* of :meth:`TokenEndpoint.call`, before every try)
    and merges what it returns.

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
        verify: Verify = None,
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
            raise out_of_tries(
                where, fault, attempts, deadline=deadline if timed_out else None, budget=self.retry.budget
            )

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
        try:
            with self.telemetry.token_request(grant, sending.url, attempt):  # logs the attempt, times and counts it
                return self._try(sending, attempt, parse, until, decode=read)
        except _SendAgain as again:  # only with a hook: it said why
            log.debug(
                "%s asked for %s; sending the token request again with it",
                sending.where,
                again,
                extra=log_fields("token.dpop_nonce", url=safe_url(sending.url), attempt=attempt),
            )
        sending = self._prepare(make())
        with self.telemetry.token_request(grant, sending.url, attempt):
            return self._try(sending, attempt, parse, until, send_again=False, decode=read)

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
        """Send one try, with what the auth's hook adds, and read its answer, all of it by
        *until* (on time.monotonic)."""
        hook = self.try_hook
        if hook is not None:
            sending = _with_hook(hook, sending)
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
            raise tls_failure(exc, where, attempt) from None
        except requests.exceptions.InvalidURL as exc:
            raise ConfigurationError(f"{where} is not a valid URL: {exc}") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise network_failure(exc, where, attempt) from None
        except (OSError, MemoryError, RuntimeError) as exc:  # not wrapped by requests (loading the CA bundle)
            limit = out_of_resources(exc, where, attempt)
            if limit is not None:
                raise limit from None
            raise

        status = response.status_code
        if hook is not None:
            hook.observe(response)
            reason = hook.send_again(response) if send_again else None
            if reason is not None:
                error, _description = error_fields(text)
                raise _SendAgain(reason, status_code=status, error=error)
        if 200 <= status < 300:
            answer = decode_success(response, text, where, secrets) if decode is None else decode(response, text)
            if parse is None:
                return answer
            try:
                return parse(answer)
            except TokenResponseError as exc:
                raise unusable_answer(exc, response, text, where=where, secrets=secrets) from None
        raise answer_error(response, text, where=where, secrets=secrets, attempt=attempt, retried=self.retry.statuses)

    def _send(
        self,
        session: requests.Session,
        sending: _Sending,
        verify: Verify,
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
                    raise headers_too_slow(share) from None
                raise
        if watched is not None and watched.expired:  # headers cut short by the shutdown parse as ended
            response.close()
            raise headers_too_slow(share)
        return response

    def _read(self, response: requests.Response, until: float, read: float, share: float, where: str) -> str:
        """The whole answer of *response* as text, read within the try's bounds."""
        limit = self.retry.max_answer_bytes
        try:
            body = read_body(response, deadline=until, limit=limit, read_timeout=read)
        except AnswerFault as fault:
            raise unread_answer(fault, where, response.status_code, share, limit) from None
        keep_body(response, body)
        return body.decode(charset(response), errors="replace")


def _with_hook(hook: TryHook, sending: _Sending) -> _Sending:
    """*sending* with the headers *hook* adds to this try (a new DPoP proof for its method and URL)."""
    return dataclasses.replace(sending, headers={**sending.headers, **hook.headers(sending.method, sending.url)})


@dataclass(frozen=True)
class _Sending:
    """One try as it goes on the wire: a GrantRequest with its URL and headers complete."""

    method: str
    url: str
    form: _Form
    json: _Json
    headers: Mapping[str, str]
    secrets: List[Optional[str]]
    where: str
