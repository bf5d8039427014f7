"""TokenAuth: the base of every renewing auth, and the options they all take.

A :class:`TokenAuth` joins the parts a token travels through: its grant
(grants/: what is asked), the token endpoint (transport/endpoint.py: the I/O,
retries, typed errors), the engine (engine/manager.py: reuse, single flight,
renewal ahead, shared caches) and the presentation (presentation.py: Bearer or
DPoP). Requests go through the one request flow of :mod:`requests_multiauth.flow`.
A subclass (standard.py, providers/) only builds its grant.

Where the request goes next: :mod:`requests_multiauth.flow` (``auth(request)``).
"""

from __future__ import annotations

import copy
import functools
import inspect
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, FrozenSet, Optional, Tuple, TypedDict, Union

import requests

from ._display import Rows, describe_expiry
from .caches.base import MemoryTokenCache, TokenCache, cache_key
from .dpop import DPoPKey
from .engine import travel
from .engine.manager import DEFAULT_LEEWAY, Clock, TokenManager
from .flow import MAX_NONCE_REPLAYS, RequestFlow
from .grants.base import Grant
from .presentation import AUTHORIZATION, Presenter, presenter_for
from .telemetry import AuthTelemetry
from .token import Token
from .transport.endpoint import DEFAULT_TOKEN_TIMEOUT, ClientCert, RetryPolicy, Timeout, TokenEndpoint
from .transport.tls import check_paths
from .transport.urls import safe_url

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["MAX_NONCE_REPLAYS", "TokenAuth", "TokenAuthOptions"]

#: Names that lived here before the one request flow was split out (flow.py, static.py,
#: standard.py): ``from requests_multiauth.auth import ClientCredentialsAuth`` keeps working.
_MOVED = frozenset({"ApiKeyTokenAuth", "AudienceClientCredentialsAuth", "ClientCredentialsAuth", "StaticTokenAuth"})


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import requests_multiauth

    return getattr(requests_multiauth, name)  # the package's first-use loading (PEP 562)


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


def _spell_out_options(cls: type) -> None:
    """Give *cls* (a TokenAuth subclass) the signature ``help()``, ``inspect`` and IDEs
    that read it show: its ``__init__``'s own parameters, with ``**options`` replaced
    by TokenAuth's keyword-only options (leeway, cache, session ...), read from
    ``TokenAuth.__init__`` itself, so that no parameter list is copied.
    (Type checkers see the same options through ``Unpack[TokenAuthOptions]``.)
    """
    init = cls.__dict__.get("__init__")
    if init is None:
        return  # the parent's __init__, and its signature, apply
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        type.__setattr__(cls, "__signature__", None)  # its own explicit signature: inspect reads it
        return
    named = {param.name for param in params}
    options = [
        param
        for param in inspect.signature(TokenAuth.__init__).parameters.values()
        if param.kind is inspect.Parameter.KEYWORD_ONLY and param.name not in named
    ]
    spelled = signature.replace(parameters=[*params[:-1], *options])
    init.__signature__ = spelled
    type.__setattr__(cls, "__signature__", spelled.replace(parameters=list(spelled.parameters.values())[1:]))


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


def _checked(
    presenter: Presenter,
    fetch: Callable[[Optional[Token], float], Token],
    label: str,
    previous: Optional[Token],
    now: float,
) -> Token:
    """*fetch*, refusing a token of another type than the auth presents (RFC 9449 §5)."""
    return presenter.check_type(fetch(previous, now), label)


class TokenAuth(RequestFlow):
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
        self._header_name = header_name
        self.allow_insecure_loopback = allow_insecure_loopback
        self.token_url = token_url
        self.cert: Optional[ClientCert] = grant.cert
        check_paths(verify=verify, cert=self.cert)
        if session is not None:
            check_paths(verify=session.verify, cert=session.cert, what="the session's ")
        self._grant = grant
        self._clock = clock
        self._options = _Options(leeway, cache, session, verify, timeout, retry, dpop)
        self._start()

    def _start(self) -> None:
        """Build what runs the auth in this process from its settings: the presentation
        (with ``dpop=True``, a new key), the token endpoint, the token manager with its
        locks, and the telemetry. Called by ``__init__``, and again by ``__setstate__`` in
        a process that received the auth (pickle, ``copy.deepcopy``): see :meth:`__getstate__`."""
        options, grant = self._options, self._grant
        self._presenter = presenter_for(self._header_name, options.dpop)
        self.telemetry = AuthTelemetry(type(self).__name__, shared_cache=options.cache is not None)
        self._endpoint = TokenEndpoint(
            self.token_url,
            session=options.session,
            verify=options.verify,
            timeout=options.timeout,
            retry=options.retry,
            allow_insecure_loopback=self.allow_insecure_loopback,
            secrets=grant.secrets,
            try_hook=self._presenter.token_call_hook,
            cert=self.cert,
            telemetry=self.telemetry,
            plain_http_hosts=grant.plain_http_hosts,
        )
        self._token_calls = 0
        self.dpop_key: Optional[DPoPKey] = self._presenter.key
        self._manager = TokenManager(
            functools.partial(_checked, self._presenter, self._fetch, self._label()),
            key=functools.partial(_cache_key_of, grant, self._presenter.cache_identity),  # made on the first call
            cache=options.cache if options.cache is not None else MemoryTokenCache(),
            leeway=options.leeway,
            clock=self._clock,
            name=self._label(),
            telemetry=self.telemetry,
            deadline=self._endpoint.retry.deadline(self._endpoint.timeout),  # waits for another's call end then
        )

    # -- processes: pickle and copy.deepcopy ---------------------------------------------

    #: What :meth:`_start` builds: it never travels to another process (locks, pools,
    #: telemetry, the token), and is built anew there.
    _RUNTIME: ClassVar[FrozenSet[str]] = frozenset(
        {"_presenter", "telemetry", "_endpoint", "_token_calls", "dpop_key", "_manager"}
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _spell_out_options(cls)

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

    @property
    def cache_key(self) -> str:
        """The key this auth's token is kept under in its cache: a digest of the grant's
        public identity, never a secret. Another auth that reads this one's token (a
        token exchange's subject) makes its own key from it."""
        return self._manager.key

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

    # -- where tokens come from -----------------------------------------------------------

    def _token(self) -> Token:
        return self._manager.token()

    def _renewed(self, rejected: Token) -> Token:
        return self._manager.token_after_rejection(rejected)

    def _drop(self, rejected: Token) -> None:
        self._manager.invalidate(rejected)

    # -- description ------------------------------------------------------------------

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        key = getattr(self, "dpop_key", None)  # its repr shows the public thumbprint only
        return (("token_url", safe_url(self.token_url)), *((("dpop", key),) if key is not None else ()))

    def _label(self) -> str:
        fields = self._public_fields()
        return f"{type(self).__name__}({fields[0][1] if fields else ''})"
