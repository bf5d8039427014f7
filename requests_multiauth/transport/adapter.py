"""AuthAdapter: a transport adapter that authenticates what it sends, for sessions shared with other code.

Where ``session.auth = ...`` authenticates every request of a session, an
:class:`AuthAdapter` mounted on a prefix authenticates only the requests that
go to the API it serves::

    shared_session.mount("https://api.example.com/", AuthAdapter(auth))

A request goes::

    session picks the adapter   longest mounted prefix (requests' Session.mount)
    AuthAdapter.send            request for our API? set the token header
                                (auth.authorize); otherwise send it untouched
    HTTPAdapter.send            the wire
    on a 401 for our token      auth.replay_once: renew, rewind, resend once
                                through HTTPAdapter.send (never through here again)
    on a redirect off our API   our header is removed from the request that
                                requests copies for the next hop

The replay decision itself lives in :mod:`requests_multiauth.transport.replay` and the
renewal in :mod:`requests_multiauth.auth`; this module only decides *which*
requests get a token.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..errors import ConfigurationError
from .urls import Origin, origin, safe_url

if TYPE_CHECKING:
    from ..flow import RequestFlow

__all__ = ["AuthAdapter", "mark_cross_origin_hop"]

#: Set on a prepared request that a redirect brought here from another origin
#: (by :class:`~requests_multiauth.MultiAuthSession`): no adapter authenticates
#: it, whichever API it is for, because its method, URL and body were chosen by
#: the server that redirected, not by the caller.
CROSS_ORIGIN_HOP = "_requests_multiauth_cross_origin_hop"


class _Scope:
    """One URL prefix an adapter serves: an origin plus a path prefix (compared
    without case, as ``Session.mount`` compares prefixes)."""

    __slots__ = ("origin", "path", "shown")

    def __init__(self, prefix: str) -> None:
        parts = urlsplit(prefix)
        if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(
                f"{safe_url(prefix) if parts.scheme else repr(prefix)} is not a URL prefix with a host: "
                "give the API's origin or prefix, like 'https://api.example.com/' or 'https://api.example.com/v2/'"
            )
        self.origin: Origin = origin(prefix)
        self.path = (parts.path or "/").lower()
        self.shown = safe_url(prefix)

    def covers(self, url: str) -> bool:
        return origin(url) == self.origin and (urlsplit(url).path or "/").lower().startswith(self.path)


def _observer(auth: RequestFlow) -> Optional[Callable[[requests.Response], object]]:
    """What the auth wants to see of every response (DPoP nonces), if anything."""
    observer = getattr(auth, "response_observer", None)
    return observer if callable(observer) else None


def mark_cross_origin_hop(request: requests.PreparedRequest) -> None:
    """Mark *request* as a redirect hop that left the origin of the request before it."""
    setattr(request, CROSS_ORIGIN_HOP, True)


def is_cross_origin_hop(request: requests.PreparedRequest) -> bool:
    """True if *request* was marked by :func:`mark_cross_origin_hop`."""
    return bool(getattr(request, CROSS_ORIGIN_HOP, False))


class AuthAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that authenticates the requests it sends to its API.

    Mount it on a session that other code shares, where ``session.auth`` would
    authenticate everything::

        session.mount("https://api.example.com/", AuthAdapter(auth))

    **Which requests get a token.** Only those whose URL falls under one of
    *origins* (URL prefixes; the origin, scheme + host + port, must match
    exactly, and the path must start with the prefix's path). Without
    *origins*, the adapter serves the origin of the first request it sends and
    no other: mount it on that API's prefix, or pass *origins*.
    :meth:`MultiAuthSession.mount_auth <requests_multiauth.MultiAuthSession.mount_auth>`
    passes its prefix. Any other request, such as the next hop of a redirect to
    another host, goes out untouched, even when the adapter is mounted on a
    prefix as broad as ``"https://"``; and when a response redirects away from
    the API, the token header (``Authorization`` or a custom *header_name*) is
    removed from the request that requests copies for the next hop.

    **Client certificate.** When the auth presents a client certificate to its
    token endpoint (:class:`~requests_multiauth.TlsClientAuth`), the requests
    this adapter authenticates present it too: the server may have bound the
    token to it (RFC 8705 §3). Other requests keep the session's ``cert``.

    **401.** A 401 to a request that carried our token is answered once by
    ``auth.replay_once``: the token is renewed and the request, its body
    rewound, is sent again through this adapter's connection pool. The first
    response is in the final one's ``history``; a second 401 is returned. A
    replayed answer is marked, so when the session's ``auth`` is the same auth,
    its hook does not replay it again: one renewal, one replay. A
    :class:`~requests_multiauth.StaticTokenAuth` cannot renew: its 401 is
    returned, with a logged hint.

    **Redirects on a plain session.** A plain ``requests.Session`` does not
    tell its adapter that a request is a redirect hop, so a redirect *from
    another API into this one* is authenticated, with this API's token, as
    requests does with ``.netrc`` credentials. :class:`~requests_multiauth.MultiAuthSession`
    marks such hops and they get no token.

    Safe for concurrent use, as ``HTTPAdapter`` is.

    Args:
        auth: a renewing auth (:class:`~requests_multiauth.TokenAuth` and its
            subclasses) or a :class:`~requests_multiauth.StaticTokenAuth`.
        origins: the URL prefixes (or bare origins) this adapter authenticates:
            one string or several.
        **adapter_options: passed to ``HTTPAdapter`` (``max_retries``,
            ``pool_connections``, ``pool_maxsize``, ``pool_block``).

    Raises (from ``send``): what the auth raises (``TokenRequestError``,
    ``InsecureTransportError``, ``TokenExpiredError`` ...), and requests' own errors.
    """

    def __init__(
        self,
        auth: RequestFlow,
        *,
        origins: Union[str, Iterable[str], None] = None,
        **adapter_options: Any,
    ) -> None:
        if not (callable(getattr(auth, "authorize", None)) and callable(getattr(auth, "replay_once", None))):
            raise ConfigurationError(
                f"AuthAdapter needs an auth of requests_multiauth (a TokenAuth or StaticTokenAuth), not "
                f"{type(auth).__name__}; for other auths set session.auth instead"
            )
        super().__init__(**adapter_options)
        self.auth = auth
        if isinstance(origins, str):
            origins = [origins]
        self._scopes: List[_Scope] = [_Scope(prefix) for prefix in origins or ()]
        self._pin_lock = threading.Lock()
        self._observe = _observer(auth)

    #: What pickling keeps (HTTPAdapter pickles only the attributes listed here).
    __attrs__ = [*HTTPAdapter.__attrs__, "auth", "_scopes"]  # noqa: RUF012 - as requests declares it

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pin_lock = threading.Lock()
        self._observe = _observer(self.auth)

    # -- which requests are ours ------------------------------------------------

    @property
    def origins(self) -> Tuple[str, ...]:
        """The URL prefixes served (empty until pinned, when none were given)."""
        return tuple(scope.shown for scope in self._scopes)

    def serves(self, url: str) -> bool:
        """True if a request to *url* gets this adapter's token (pins nothing)."""
        return any(scope.covers(url) for scope in self._scopes)

    def _serves_pinning(self, url: str) -> bool:
        if not self._scopes:
            with self._pin_lock:
                if not self._scopes:
                    parts = urlsplit(url)
                    self._scopes = [_Scope(f"{parts.scheme}://{parts.netloc}/")]
        return self.serves(url)

    # -- sending ---------------------------------------------------------------------

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        """Send *request*, authenticated if it is for our API; replay a 401 once."""
        send_kwargs = {"stream": stream, "timeout": timeout, "verify": verify, "cert": cert, "proxies": proxies}
        url = request.url or ""
        if is_cross_origin_hop(request) or not self._serves_pinning(url):
            return self._send(request, **send_kwargs)
        token = self.auth.authorize(request)
        send_kwargs["cert"] = self._client_cert(cert)
        response = self._send(request, **send_kwargs)
        if self._observe is not None:  # with DPoP: every answer may carry the server's next nonce
            self._observe(response)
        if response.status_code == 401:
            response = self.auth.replay_once(response, token, url, self._send, send_kwargs)
        if response.is_redirect:
            self._strip_if_leaving(response, request)
        return response

    def _client_cert(self, cert: Any) -> Any:
        # A token bound to the auth's certificate (mutual TLS, RFC 8705 §3) is only
        # accepted over a connection that presents it: the auth's wins over the session's.
        own = getattr(self.auth, "cert", None)
        return own if own is not None else cert

    def _send(self, request: requests.PreparedRequest, **send_kwargs: Any) -> requests.Response:
        # HTTPAdapter's own send: a replay must not be authorized again by ours.
        return super().send(request, **send_kwargs)

    def _strip_if_leaving(self, response: requests.Response, request: requests.PreparedRequest) -> None:
        # requests copies *request* (the object given to send) for the next hop,
        # and strips only Authorization, only when the host changes.
        location = response.headers.get("Location", "")
        if self.serves(urljoin(response.url or request.url or "", location)):
            return
        for sent in {id(request): request, id(response.request): response.request}.values():
            for name in self.auth.presenter.header_names:  # the token and whatever goes with it (a DPoP proof)
                sent.headers.pop(name, None)

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pools, and the auth's resources (a renewal under way
        is waited for briefly; token connections are the process's, see ``TokenAuth.close``).
        The auth stays usable: a later request opens what it needs again."""
        super().close()
        close = getattr(self.auth, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        served = list(self.origins) or "the first origin it sends to"
        return f"AuthAdapter({self.auth!r}, origins={served!r})"
