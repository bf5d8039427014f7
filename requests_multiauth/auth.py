"""The ``requests`` auth classes: set the header, and renew and replay once on a 401.

A request goes::

    auth(request)        HTTPS check, then a valid token from the TokenManager
                         (renewal.py), header set, 401 hook bound to that token
    adapter sends it
    hook(response)       a 401 for our token: renew (only that token is given
                         up), rewind the body, replay once via the same adapter;
                         anything else passes through untouched

How the token goes on the request (``Authorization: Bearer``, a custom
header, or ``Authorization: DPoP`` with a proof) is the presenter's business
(dpop.py): the auth asks it for the header(s) of each request and of a replay.
With ``dpop=``, a 401 that only asks for a DPoP nonce is replayed once with
the same token and a new proof, through the same replay path.

:class:`TokenAuth` is the base of every renewing auth; each subclass only
chooses its grant (grants.py). :class:`StaticTokenAuth` sends a fixed token it
cannot renew.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Dict,
    FrozenSet,
    List,
    Mapping,
    Optional,
    Tuple,
    TypedDict,
    Union,
)

import requests
from requests.auth import AuthBase

from ._display import Rows, describe_expiry, pretty, render_html
from .caches.base import MemoryTokenCache, TokenCache, cache_key
from .client_auth import ClientAuth, ClientAuthSpec
from .dpop import BearerPresenter, DPoPKey, DPoPPresenter, Presenter, dpop_proofs
from .engine import travel
from .engine.manager import DEFAULT_LEEWAY, Clock, TokenManager
from .errors import ConfigurationError, TokenExpiredError, TokenExpiryWarning, TokenResponseError
from .grants.base import ApiKeyGrant, ClientCredentialsGrant, Grant, JsonClientCredentialsGrant, Scope
from .telemetry import AuthTelemetry, log_fields
from .token import Token, jwt_expiry
from .transport import replay as _replay
from .transport.endpoint import DEFAULT_TOKEN_TIMEOUT, ClientCert, RetryPolicy, Timeout, TokenEndpoint
from .transport.headers import keep_token_header
from .transport.urls import check_transport, origin, safe_url

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

__all__ = [
    "ApiKeyTokenAuth",
    "AudienceClientCredentialsAuth",
    "ClientCredentialsAuth",
    "StaticTokenAuth",
    "TokenAuth",
    "TokenAuthOptions",
]

log = logging.getLogger("requests_multiauth")

#: How long before a static token's expiry users are warned (the Rated token
#: lives a year; a month leaves time to make a new one).
EXPIRY_WARNING = 30 * 24 * 3600.0

AUTHORIZATION = "Authorization"

#: What a header name may be made of: an RFC 9110 §5.1 token (tchar), so that no
#: CR/LF or space can smuggle another header or break the request line.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _checked_header_name(header_name: Any) -> str:
    """*header_name* if it is a valid HTTP header name, else ConfigurationError (at construction,
    not as a ValueError on the first request)."""
    if not isinstance(header_name, str) or not _HEADER_NAME.fullmatch(header_name):
        raise ConfigurationError(
            f"header_name={header_name!r} is not a valid HTTP header name: use letters, digits and "
            "!#$%&'*+-.^_`|~ only (no spaces, colons or line breaks), like 'X-Api-Token'"
        )
    return header_name


#: How many DPoP nonce challenges one request answers at most, each with a nonce
#: other than the one it sent: a server that rotates its nonce every few seconds
#: may rotate it again while the first replay is on its way.
MAX_NONCE_REPLAYS = 2

#: How a renewing auth's token state reads in IPython and Jupyter.
_STATES = {
    "none": "no token yet (the first request fetches one)",
    "fresh": "valid",
    "stale": "valid, due for renewal (renewing in the background)",
    "expired": "expired (the next request fetches a new one)",
}


class TokenAuthOptions(TypedDict, total=False):
    """Keyword options every renewing auth takes (see :class:`TokenAuth`)."""

    leeway: float
    cache: Optional[TokenCache]
    session: Optional[requests.Session]
    verify: Union[bool, str, None]
    timeout: Timeout
    retry: Optional[RetryPolicy]
    clock: Clock
    allow_insecure_loopback: bool
    header_name: str
    dpop: Union[bool, DPoPKey, None]


class _HeaderAuth(AuthBase):
    """What every auth shares: the HTTPS check and the header."""

    header_name: str
    allow_insecure_loopback: bool

    def _header_value(self, access_token: str) -> str:
        if self.header_name == AUTHORIZATION:
            return "Bearer " + access_token
        return access_token

    def _strip_on_cross_origin_redirect(self, response: requests.Response, sent_url: str) -> None:
        # requests drops Authorization when a redirect leaves the host, but not a
        # custom header: drop ours from the request the redirect is copied from.
        if self.header_name != AUTHORIZATION and _replay.redirect_leaves_origin(response, sent_url):
            response.request.headers.pop(self.header_name, None)


@dataclass(frozen=True)
class _Options:
    """The settings a renewing auth was built with that :meth:`TokenAuth._start` builds from."""

    leeway: float
    cache: Optional[TokenCache]
    session: Optional[requests.Session]
    verify: Union[bool, str, None]
    timeout: Timeout
    retry: Optional[RetryPolicy]
    dpop: Union[bool, DPoPKey, None]


def _cache_key_of(grant: Grant, extra: Tuple[Tuple[str, str], ...]) -> str:
    return cache_key((*grant.cache_identity, *extra))


class TokenAuth(_HeaderAuth):
    """Base class of the auths that obtain and renew tokens. Safe for concurrent use.

    Use one instance for all threads: it keeps one token and renews it once,
    ahead of expiry, on one of the renewal threads the process shares, while requests keep
    using the still-valid token. A 401 to a request that carried our token
    renews that token (unless another thread already did) and replays the
    request once; a second 401 is returned as is.

    Args:
        grant: how to get a new token.
        token_url: the token endpoint; ``https://`` only.
        leeway: seconds before its stated expiry at which a token counts as
            expired (capped at a twentieth of the token's lifetime).
        cache: where the token is kept; default a private
            :class:`~requests_multiauth.MemoryTokenCache`. Pass a shared cache to
            make processes or hosts share one token.
        session: the ``requests.Session`` for token calls (proxies, CA bundle);
            never the session being authenticated. Default: the process's shared
            token session (bounded pools, one SSL context per CA bundle; see
            ``docs/scale.rst``).
        verify: the CA bundle (a path) or ``False`` for token calls, when no
            *session* is given. Like a session's ``verify``, it wins over
            ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` (which plain requests
            would let replace it).
        timeout: connect/read timeout of each token call.
        retry: how token calls are retried on transient faults.
        clock: returns epoch seconds; replaceable in tests.
        allow_insecure_loopback: allow plain HTTP to loopback hosts, for tests.
        header_name: the header that carries the token: ``Authorization`` (as
            ``Bearer <token>``, the default) or a custom one (the bare token).
        dpop: bind tokens to a key (RFC 9449, see :class:`~requests_multiauth.DPoPKey`):
            None (bearer tokens, the default), True (a new ES256 key for this
            auth) or a ``DPoPKey``. Token requests and API requests then carry
            a ``DPoP`` proof, the token goes as ``Authorization: DPoP <token>``,
            and nonces servers ask for are answered once. An authorization
            server that answers a Bearer token instead is refused
            (``TokenResponseError``): a token a thief could use is not what
            ``dpop=`` asked for. The cache key includes the key's thumbprint.

    Attributes:
        dpop_key: the :class:`~requests_multiauth.DPoPKey` tokens are bound to
            (``dpop=``), or None for bearer tokens.
        cert: the client certificate the grant presents to the token endpoint
            (mutual TLS, :class:`~requests_multiauth.TlsClientAuth`), or None.
            :class:`~requests_multiauth.AuthAdapter` presents it on the API
            requests it sends too, as certificate-bound tokens (RFC 8705 §3)
            require; with ``session.auth = auth``, set ``session.cert = auth.cert``.
        telemetry: what this auth has done (token calls, cache reads, renewals,
            replays): ``auth.telemetry.snapshot()``, ``auth.telemetry.subscribe(callback)``;
            see :mod:`requests_multiauth.telemetry`.

    Raises (from requests' calls):
        TokenRequestError, InvalidClientError: the token endpoint refused or failed.
        TokenResponseError: the token endpoint answered something unusable (with ``dpop=``: a Bearer token).
        InsecureTransportError: the request URL is not HTTPS.
    """

    def __init__(
        self,
        grant: Grant,
        token_url: str,
        *,
        leeway: float = DEFAULT_LEEWAY,
        cache: Optional[TokenCache] = None,
        session: Optional[requests.Session] = None,
        verify: Union[bool, str, None] = None,
        timeout: Timeout = DEFAULT_TOKEN_TIMEOUT,
        retry: Optional[RetryPolicy] = None,
        clock: Clock = time.time,
        allow_insecure_loopback: bool = False,
        header_name: str = AUTHORIZATION,
        dpop: Union[bool, DPoPKey, None] = None,
    ) -> None:
        self.header_name = _checked_header_name(header_name)
        self.allow_insecure_loopback = allow_insecure_loopback
        self.token_url = token_url
        self.cert: Optional[ClientCert] = grant.cert
        self._grant = grant
        self._clock = clock
        self._options = _Options(leeway, cache, session, verify, timeout, retry, dpop)
        self._start()

    def _start(self) -> None:
        """Build what runs the auth in this process from its settings: the token endpoint,
        the presenter (and DPoP key, for ``dpop=True`` a new one), the token manager with its
        locks, and the telemetry. Called by ``__init__``, and again by ``__setstate__`` in a
        process that received the auth (pickle, ``copy.deepcopy``): see :meth:`__getstate__`."""
        options, grant = self._options, self._grant
        proofs = dpop_proofs(options.dpop)
        if proofs is not None and self.header_name != AUTHORIZATION:
            raise ConfigurationError(
                f"dpop= sends the token in the Authorization header (RFC 9449 §7.1), not in {self.header_name!r}: "
                "drop header_name= or dpop="
            )
        self.telemetry = AuthTelemetry(type(self).__name__, shared_cache=options.cache is not None)
        self._endpoint = TokenEndpoint(
            self.token_url,
            session=options.session,
            verify=options.verify,
            timeout=options.timeout,
            retry=options.retry,
            allow_insecure_loopback=self.allow_insecure_loopback,
            secrets=grant.secrets,
            dpop=proofs,
            cert=self.cert,
            telemetry=self.telemetry,
            plain_http_hosts=grant.plain_http_hosts,
        )
        extra_identity: Tuple[Tuple[str, str], ...] = ()
        fetch: Callable[[Optional[Token], float], Token] = self._fetch
        self._token_calls = 0
        self._presenter: Presenter
        self.dpop_key: Optional[DPoPKey] = proofs.key if proofs is not None else None
        if proofs is None:
            self._presenter = BearerPresenter(self.header_name)
            fetch = functools.partial(_of_type, "Bearer", fetch, self._label())
        else:
            self._presenter = DPoPPresenter(proofs)
            self._observe = proofs.remember
            # Tokens bound to another key are of no use here: the key's public thumbprint
            # keeps them apart in a shared cache.
            extra_identity = (("dpop_jkt", proofs.key.thumbprint),)
            fetch = functools.partial(_of_type, "DPoP", fetch, self._label())
            self._on_response = self._on_dpop_response  # type: ignore[method-assign]
        self._manager = TokenManager(
            fetch,
            key=functools.partial(_cache_key_of, grant, extra_identity),  # made on the first token call
            cache=options.cache if options.cache is not None else MemoryTokenCache(),
            leeway=options.leeway,
            clock=self._clock,
            name=self._label(),
            telemetry=self.telemetry,
        )

    # -- processes: pickle and copy.deepcopy ---------------------------------------------

    #: What :meth:`_start` builds: it never travels to another process (locks, pools,
    #: telemetry, the token), and is built anew there.
    _RUNTIME: ClassVar[FrozenSet[str]] = frozenset(
        {"telemetry", "_endpoint", "_token_calls", "_presenter", "dpop_key", "_observe", "_on_response", "_manager"}
    )

    def __getstate__(self) -> Dict[str, Any]:
        """What travels when the auth is pickled (a spawn or forkserver ``multiprocessing``
        pool, ``ProcessPoolExecutor``, a session that holds it): its credentials and
        settings, never its token, locks, connections or telemetry. The receiving
        process builds those anew (:meth:`_start`) and makes its own token call, or
        reads the token from a shared cache (a ``FileTokenCache`` or ``RedisTokenCache``
        travels as its path or URL). With ``dpop=True`` it makes a new key; a
        ``DPoPKey`` travels only if it was loaded from a file.

        Raises:
            pickle.PicklingError: a part that cannot travel (a key made in memory,
                a lambda clock, a callable token source ...), naming this auth and
                what to do instead.
        """
        state = travel.state_of(self, self._RUNTIME)
        travel.check_parts(self._label(), state)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start()

    def __deepcopy__(self, memo: Dict[int, Any]) -> Self:
        """A copy with its own token manager, locks and telemetry (and, with ``dpop=True``, its own key)."""
        copied = self.__class__.__new__(self.__class__)
        memo[id(self)] = copied
        copied.__setstate__(copy.deepcopy(travel.state_of(self, self._RUNTIME), memo))
        return copied

    def _fetch(self, previous: Optional[Token], now: float) -> Token:
        # Called by the manager under its lock, one at a time: the count needs no lock of its own.
        self._token_calls += 1
        return self._grant.fetch(self._endpoint, previous, now)

    # -- public API ------------------------------------------------------------

    def get_token(self) -> Token:
        """A valid token, fetched only if none is held. Its ``repr`` shows when it expires."""
        return self._manager.token()

    def invalidate(self) -> None:
        """Forget the current token (here and in the cache); the next request gets a new one."""
        self._manager.invalidate()

    def close(self) -> None:
        """Wait briefly for a renewal under way. The token session is not closed: a
        ``session=`` given stays the caller's, and the shared one serves every auth
        of the process (its idle connections close by themselves)."""
        self._manager.join(timeout=5.0)
        self._endpoint.close()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._public_fields())
        return f"{type(self).__name__}({fields}, token={self._manager.current!r})"

    def display_rows(self) -> Rows:
        """What IPython and Jupyter show of this auth: its public settings, how its
        token stands, and the token calls it made so far; never a secret or a token."""
        rows = [(name, "" if value is None else str(value)) for name, value in self._public_fields()]
        token = self._manager.current
        rows.append(("token", _STATES[self._manager.state()]))
        if token is not None:
            rows.append(("expires", describe_expiry(token.expires_at, self._clock())))
        failure = self._manager.failure
        if failure is not None:
            rows.append(("last token call", f"failed: {type(failure).__name__}: {failure}"))
        rows.append(("token calls so far", str(self._token_calls)))
        rows.append(("cache", repr(self._manager.cache)))
        return rows

    def _repr_html_(self) -> str:
        return render_html(type(self).__name__, self.display_rows())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        pretty(printer, cycle, type(self).__name__, self.display_rows())

    # -- the request flow ---------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.authorize(request)
        keep_token_header(request)  # no .netrc entry replaces it on a redirect
        request.register_hook("response", functools.partial(self._on_response, token, request.url or ""))
        return request

    def _on_response(
        self, token: Token, sent_url: str, response: requests.Response, **send_kwargs: Any
    ) -> requests.Response:
        if response.status_code == 401:
            return self.replay_once(response, token, sent_url, response.connection.send, send_kwargs)
        if response.is_redirect:
            self._strip_on_cross_origin_redirect(response, sent_url)
        return response

    def _on_dpop_response(
        self, token: Token, sent_url: str, response: requests.Response, **send_kwargs: Any
    ) -> requests.Response:
        self._observe(response)  # every answer may carry the server's next nonce, a 200 as a 401
        if response.status_code == 401:
            response = self.replay_once(response, token, sent_url, response.connection.send, send_kwargs)
        if response.is_redirect:
            if _replay.redirect_leaves_origin(response, sent_url):
                response.request.headers.pop("DPoP", None)
            else:
                self._present_for_redirect(response)
        return response

    def _present_for_redirect(self, response: requests.Response) -> None:
        # requests does not call the auth for a redirect's next hop: it copies the request
        # the redirect answered (the one the caller sent, when this answer is a replay's).
        replayed = getattr(response, _replay.REPLAYED, False) and response.history
        request = response.history[0].request if replayed else response.request
        if isinstance(self._presenter, DPoPPresenter) and request is not None:
            check_transport(request.url or "", allow_insecure_loopback=self.allow_insecure_loopback)
            self._presenter.present_redirect(response, request, self._manager.token())

    @property
    def response_observer(self) -> Optional[Callable[[requests.Response], object]]:
        """What a transport that sends for this auth (:class:`~requests_multiauth.AuthAdapter`)
        shows every response to, or None: with ``dpop=``, the nonce keeper."""
        return self._presenter.observe

    def authorize(self, request: requests.PreparedRequest) -> Token:
        """Set the token header on *request* without a response hook; return the token.

        For transports that do their own replay (:class:`~requests_multiauth.AuthAdapter`).
        """
        check_transport(request.url or "", allow_insecure_loopback=self.allow_insecure_loopback)
        token = self._manager.token()
        self._presenter.present(request, token)
        return token

    def replay_once(
        self,
        response: requests.Response,
        token: Token,
        sent_url: str,
        send: Callable[..., requests.Response],
        send_kwargs: Mapping[str, Any],
    ) -> requests.Response:
        """Answer a 401: renew *token* and resend the request once through *send*.

        Returns *response* untouched when it must not be replayed (see
        :func:`~requests_multiauth.transport.replay.why_not_replay`). With ``dpop=``, a
        401 that asks for a DPoP nonce the request did not carry is replayed
        with the same token and a new proof; the token is not given up. Each
        challenge is answered once; a request answers at most
        MAX_NONCE_REPLAYS challenges (a server whose nonce rotated again while
        the replay was on its way asks anew with another nonce) and renews at
        most once, in any order, so at most three replays, never a loop; the
        answers replayed are in history.
        """
        presenter = self._presenter
        reason = _replay.why_not_replay(
            response, sent_url=sent_url, header=presenter.header_name, value=presenter.value(token)
        )
        if reason is None and presenter.nonce_challenge(response) is False:
            reason = _replay.SAME_NONCE
        decision = self.telemetry.record_replay(reason)
        if reason is not None:
            ours = reason is _replay.UNREWINDABLE  # our token, our origin: only the body stops the replay
            level = logging.WARNING if ours else logging.DEBUG
            where = safe_url(response.url or "")
            log.log(
                level,
                "%s: not replaying the 401 from %s: %s",
                self._label(),
                where,
                reason,
                extra=decision.log_extra(url=where),
            )
            if ours:
                # Without a replay nothing renews the token: drop it (if no one else has), so the
                # next request gets a new one instead of the same 401 until the token expires.
                self._manager.invalidate(token)
            return response
        # A nonce challenge is answered with the same token and a new proof; any other 401 renews
        # the token. A challenge repeating the nonce just sent is never answered (see above); a
        # new nonce at most MAX_NONCE_REPLAYS times, a renewal at most once, in whichever order
        # the server asks: a nonce that rotated, or a token that expired, while a request was out.
        answered: List[requests.Response] = []
        nonce_replays = 0
        renewed = False
        current, current_token, prepared = response, token, response.request
        where = safe_url(sent_url)
        while True:
            challenge = presenter.nonce_challenge(current)
            if challenge is False:  # (only after a first replay: the first answer was checked above)
                log.info(
                    "%s: %s asked for the DPoP nonce it was sent; not replaying",
                    self._label(),
                    where,
                    extra=decision.log_extra(url=where),
                )
                break
            nonce: Optional[str] = None
            if challenge:
                if nonce_replays >= MAX_NONCE_REPLAYS:
                    break
                nonce_replays += 1
                message = "%s: %s asked for a new DPoP nonce; replaying with it"
                next_token = current_token  # the token is fine: only the proof lacked the server's nonce
                # The nonce this challenge named, not the store's latest: another thread's late answer
                # may have brought an older one meanwhile (the store keeps the newer, but a replay
                # answers its own challenge).
                nonce = current.headers.get("DPoP-Nonce")
            else:
                if renewed:
                    break
                renewed = True
                message = "%s: %s answered 401; renewing the token and replaying"
                next_token = self._manager.token_after_rejection(current_token)
            log.debug(message, self._label(), where, extra=decision.log_extra(url=where))
            prepared, replay = self._send_again(current, next_token, send, send_kwargs, nonce=nonce)
            answered.append(current)
            current, current_token = replay, next_token
            if not self._replayable(replay, current_token, sent_url):
                break
        if not answered:
            return response
        final = _replay.finish_replay(current, answered[-1], prepared)
        final.history[0:0] = answered[:-1]
        return final

    def _replayable(self, replay: requests.Response, token: Token, sent_url: str) -> bool:
        """True if *replay*, the answer to a replay that carried *token*, is a 401 that may earn another."""
        if replay.status_code != 401:
            return False
        value = self._presenter.value(token)
        return (
            _replay.why_not_replay(replay, sent_url=sent_url, header=self._presenter.header_name, value=value) is None
        )

    def _send_again(
        self,
        response: requests.Response,
        token: Token,
        send: Callable[..., requests.Response],
        send_kwargs: Mapping[str, Any],
        *,
        nonce: Optional[str] = None,
    ) -> Tuple[requests.PreparedRequest, requests.Response]:
        """The request *response* answered, body rewound, presented anew with *token* (and a
        DPoP proof with *nonce*, when a challenge named one), sent through *send*."""
        prepared = _replay.copy_for_replay(response)
        check_transport(prepared.url or "", allow_insecure_loopback=self.allow_insecure_loopback)
        self._presenter.present(prepared, token, nonce=nonce)
        replay = send(prepared, **send_kwargs)
        if self._presenter.observe is not None:
            self._presenter.observe(replay)  # the replay passes no response hook
        return prepared, replay

    # -- description ------------------------------------------------------------------

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        key = getattr(self, "dpop_key", None)  # its repr shows the public thumbprint only
        return (("token_url", safe_url(self.token_url)), *((("dpop", key),) if key is not None else ()))

    def _label(self) -> str:
        fields = self._public_fields()
        return f"{type(self).__name__}({fields[0][1] if fields else ''})"


def _of_type(
    token_type: str,
    fetch: Callable[[Optional[Token], float], Token],
    label: str,
    previous: Optional[Token],
    now: float,
) -> Token:
    """*fetch*, refusing a token of another type than the auth presents (RFC 9449 §5:
    the type tells the client whether the token is bound to its key)."""
    token = fetch(previous, now)
    if token.token_type == token_type:
        return token
    if token_type == "DPoP":
        raise TokenResponseError(
            f"{label}: the token endpoint answered a {token.token_type} token to a request with a DPoP proof, "
            "so the token is not bound to the key and anyone holding it could use it. What to do: enable DPoP "
            "for this client at the authorization server, or drop dpop= to use bearer tokens"
        )
    raise TokenResponseError(
        f"{label}: the token endpoint answered a {token.token_type} token, which only works with a proof of "
        "its key: pass dpop=DPoPKey(...) (or dpop=True) to use DPoP-bound tokens"
    )


class ClientCredentialsAuth(TokenAuth):
    """OAuth 2.0 client credentials (RFC 6749 §4.4), with refresh tokens when offered.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    the 401 replay, the retries of token calls (``retry=``) and the errors raised
    are those of :class:`TokenAuth`.

    The token request is a form body built by oauthlib, with the client
    authenticated by HTTP Basic (``client_auth="basic"``, the default),
    ``"basic_urlencoded"`` (RFC 6749 §2.3.1) or ``"post"`` (in the body), or by
    any method of :mod:`~requests_multiauth.client_auth`: an RFC 8414 name
    (``"client_secret_jwt"`` ...) or an object such as
    :class:`~requests_multiauth.PrivateKeyJwt`,
    :class:`~requests_multiauth.ClientAssertion` or
    :class:`~requests_multiauth.TlsClientAuth`.

    Args:
        client_id: the client's id.
        client_secret: the client's secret; None (the default) for a method
            that needs none. A method that needs one raises ConfigurationError without it.
        token_url: the token endpoint (by keyword when *client_secret* is left out).
        scope: a space-separated string or a list of scopes; a narrower granted
            scope is accepted.
        client_auth: how the client authenticates, see above.
        params: extra form fields sent as given (``resource``, ``audience`` ...).
        refresh_scope: the ``scope`` sent with a refresh-token request.
        use_refresh_token: renew with the refresh token when the answer has one.
        default_lifetime: the lifetime to assume when an answer states none.
        **options: the options of :class:`TokenAuth` (leeway, cache, session, ...).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: str = "",
        *,
        scope: Scope = None,
        client_auth: ClientAuthSpec = "basic",
        params: Optional[Mapping[str, str]] = None,
        refresh_scope: Scope = None,
        use_refresh_token: bool = True,
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = ClientCredentialsGrant(
            client_id,
            client_secret,
            scope=scope,
            client_auth=client_auth,
            params=params,
            refresh_scope=refresh_scope,
            use_refresh_token=use_refresh_token,
            default_lifetime=default_lifetime,
            token_url=token_url,
        )
        self.client_id = grant.client_id
        self.scope = grant.scope
        self.client_auth = grant.client_auth
        super().__init__(grant, token_url, **options)

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        client_secret: Optional[str] = None,
        *,
        client_auth: Optional[ClientAuthSpec] = None,
        allow_insecure_loopback: bool = False,
        **options: Any,
    ) -> Self:
        """An auth for the authorization server *issuer*, configured from its
        discovery document (RFC 8414 / OpenID Connect Discovery; see
        :func:`~requests_multiauth.discover`).

        The token endpoint comes from the document. Without *client_auth*, the
        method is chosen from ``token_endpoint_auth_methods_supported``
        (``client_secret_basic``, then ``client_secret_post``, when a secret is
        given); an explicit *client_auth* the server does not list is refused.
        Signed assertions (``ClientSecretJwt``, ``PrivateKeyJwt``) name the issuer
        as their ``aud`` unless given one, and a ``TlsClientAuth`` client sends
        its token requests to the document's ``mtls_endpoint_aliases`` token
        endpoint when it has one. The document is fetched once per issuer per process (cached for an
        hour), with the ``session`` and ``timeout`` given in *options*.

        Args:
            issuer: the issuer, exactly as the server states it.
            client_id, client_secret: the client's credentials.
            client_auth: how the client authenticates (see the class); chosen
                from the server's list when omitted.
            allow_insecure_loopback: as for :class:`TokenAuth`.
            **options: every other option of this class, passed through.

        Raises:
            DiscoveryError: the document could not be had, or names another issuer.
            ConfigurationError: the server does not list *client_auth*, or lists
                no method these credentials can use.
        """
        from .discovery import choose_client_auth, discover

        session = options.get("session")
        timeout = options.get("timeout")
        metadata = discover(
            issuer,
            session=session,
            allow_insecure_loopback=allow_insecure_loopback,
            **({"timeout": timeout} if timeout is not None else {}),
        )
        choice = choose_client_auth(metadata, client_auth, has_secret=client_secret is not None)
        return cls(
            client_id,
            client_secret,
            token_url=choice.token_url,
            client_auth=choice.client_auth,
            allow_insecure_loopback=allow_insecure_loopback,
            **options,
        )

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        scope = (("scope", self.scope),) if self.scope is not None else ()
        return (("client_id", self.client_id), *super()._public_fields(), *scope, *_method_field(self.client_auth))


class AudienceClientCredentialsAuth(TokenAuth):
    """Client credentials as a JSON body with an ``audience`` (Auth0-style APIs).

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    the 401 replay, the retries of token calls (``retry=``) and the errors raised
    are those of :class:`TokenAuth`.

    Sends ``{"client_id", "client_secret", "audience", "grant_type":
    "client_credentials"}`` plus *params*. With ``client_auth="basic"`` the id
    and secret travel in an HTTP Basic header instead of the body; any method of
    :mod:`~requests_multiauth.client_auth` may be given (*client_secret* is then
    optional where the method needs none).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: str = "",
        *,
        audience: Optional[str],
        params: Optional[Mapping[str, Any]] = None,
        client_auth: ClientAuthSpec = "post",
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = JsonClientCredentialsGrant(
            client_id,
            client_secret,
            audience=audience,
            params=params,
            client_auth=client_auth,
            default_lifetime=default_lifetime,
            token_url=token_url,
        )
        self.client_id = grant.client_id
        self.audience = audience
        self.client_auth = grant.client_auth
        super().__init__(grant, token_url, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (
            ("client_id", self.client_id),
            *super()._public_fields(),
            ("audience", self.audience),
            *_method_field(self.client_auth),
        )


def _method_field(client_auth: ClientAuth) -> Tuple[Tuple[str, Any], ...]:
    """The client authentication for a repr, unless it is a shared secret (as before it could be anything else)."""
    if client_auth.needs_secret and client_auth.method != "client_secret_jwt":
        return ()
    return (("client_auth", client_auth),)


class ApiKeyTokenAuth(TokenAuth):
    """An API key exchanged for a short-lived access token (POST JSON ``{"apiKey": ...}``).

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    the 401 replay (a new exchange), the retries of token calls (``retry=``) and the errors raised
    are those of :class:`TokenAuth`.

    Args:
        api_key: the key; a secret, never shown.
        token_url: the exchange endpoint.
        field: the JSON field that carries the key.
        params: extra JSON fields sent as given.
        default_lifetime: the lifetime to assume when the answer states none.
    """

    def __init__(
        self,
        api_key: str,
        token_url: str,
        *,
        field: str = "apiKey",
        params: Optional[Mapping[str, Any]] = None,
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = ApiKeyGrant(api_key, field=field, params=params, default_lifetime=default_lifetime, token_url=token_url)
        super().__init__(grant, token_url, **options)


class StaticTokenAuth(_HeaderAuth):
    """A fixed bearer token, made elsewhere and not renewable here.

    Safe for concurrent use. It makes no token call, so nothing is retried.

    If the token is a JWT with an ``exp`` claim (read, not verified), a
    :class:`~requests_multiauth.TokenExpiryWarning` is issued once when fewer
    than *warn_before* seconds remain, and :class:`~requests_multiauth.TokenExpiredError`
    is raised, before any connection, instead of sending it once it has expired.
    Any other token is sent as is. A 401 is returned to the caller with a logged
    hint: there is nothing to renew.

    Args:
        token: the bearer token.
        expires_at: the expiry in epoch seconds, if known and not in the token.
        warn_before: seconds before expiry from which to warn.
        renew_hint: where a new token is made, for messages.
        clock, allow_insecure_loopback, header_name: as for :class:`TokenAuth`.
    """

    def __init__(
        self,
        token: str,
        *,
        expires_at: Optional[float] = None,
        warn_before: float = EXPIRY_WARNING,
        renew_hint: str = "make a new token where this one was made",
        clock: Clock = time.time,
        allow_insecure_loopback: bool = False,
        header_name: str = AUTHORIZATION,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ConfigurationError("the token is missing or empty: pass it as a non-empty string")
        token = token.strip()
        self.header_name = _checked_header_name(header_name)
        self.allow_insecure_loopback = allow_insecure_loopback
        self.renew_hint = renew_hint
        self._clock = clock
        expiry = expires_at if expires_at is not None else jwt_expiry(token)
        self._token = Token(access_token=token, expires_at=expiry)
        self._header = self._header_value(token)
        self._warn_at = expiry - warn_before if expiry is not None else None
        self._warned = False

    def get_token(self) -> Token:
        """The token, after the expiry check (which may warn or raise)."""
        self._check_expiry()
        return self._token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={self._token!r})"

    def display_rows(self) -> Rows:
        """What IPython and Jupyter show of this auth; never the token."""
        expiry = self._token.expires_at
        now = self._clock()
        if expiry is None:
            state = "sent as is (no expiry known); cannot be renewed here"
        elif now >= expiry:
            state = f"expired: requests raise TokenExpiredError; {self.renew_hint}"
        elif self._warn_at is not None and now >= self._warn_at:
            state = "valid, expires soon; cannot be renewed here"
        else:
            state = "valid; cannot be renewed here"
        rows = [("token", state), ("expires", describe_expiry(expiry, now))]
        if self.header_name != AUTHORIZATION:
            rows.append(("header", self.header_name))
        rows.append(("token calls so far", "none: the token was made elsewhere"))
        return rows

    def _repr_html_(self) -> str:
        return render_html(type(self).__name__, self.display_rows())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        pretty(printer, cycle, type(self).__name__, self.display_rows())

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.authorize(request)
        keep_token_header(request)  # no .netrc entry replaces it on a redirect
        request.register_hook("response", functools.partial(self._on_response, request.url or ""))
        return request

    def _check_expiry(self) -> None:
        expiry = self._token.expires_at
        if expiry is None or self._warn_at is None:
            return
        now = self._clock()
        if now < self._warn_at:
            return
        when = datetime.fromtimestamp(expiry, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if now >= expiry:
            raise TokenExpiredError(
                f"the token expired on {when}; it cannot be renewed automatically: {self.renew_hint}"
            )
        if not self._warned:
            self._warned = True
            days = (expiry - now) / 86400
            warnings.warn(
                TokenExpiryWarning(f"the token expires on {when} (in {days:.0f} days): {self.renew_hint}"),
                stacklevel=4,
            )

    def authorize(self, request: requests.PreparedRequest) -> Token:
        """Set the token header on *request* without a response hook; return the token.

        For transports that handle the response themselves
        (:class:`~requests_multiauth.AuthAdapter`); the expiry check applies.
        """
        check_transport(request.url or "", allow_insecure_loopback=self.allow_insecure_loopback)
        if self._warn_at is not None:
            self._check_expiry()
        request.headers[self.header_name] = self._header
        return self._token

    def replay_once(
        self,
        response: requests.Response,
        token: Token,
        sent_url: str,
        send: Callable[..., requests.Response],
        send_kwargs: Mapping[str, Any],
    ) -> requests.Response:
        """A static token cannot be renewed: the 401 is returned as is, with a logged hint."""
        if response.status_code == 401 and origin(response.url or sent_url) == origin(sent_url):
            log.warning(
                "%s answered 401 to the static token: it may be revoked or expired; %s",
                safe_url(response.url or sent_url),
                self.renew_hint,
                extra=log_fields(
                    "static_token.rejected", auth=type(self).__name__, url=safe_url(response.url or sent_url)
                ),
            )
        return response

    def close(self) -> None:
        """Nothing to release: present so that every auth can be closed alike."""

    def _on_response(self, sent_url: str, response: requests.Response, **_: Any) -> requests.Response:
        if response.status_code == 401:
            return self.replay_once(response, self._token, sent_url, response.connection.send, {})
        if response.is_redirect:
            self._strip_on_cross_origin_redirect(response, sent_url)
        return response
