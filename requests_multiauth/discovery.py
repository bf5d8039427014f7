"""Authorization server discovery (RFC 8414, OpenID Connect Discovery 1.0).

:func:`discover` fetches an issuer's metadata document once per process (within
:data:`DEFAULT_MAX_AGE`) and returns it as a frozen :class:`ServerMetadata`. It is
used once, when an auth is built (``ClientCredentialsAuth.from_issuer``): the
request path never touches it.

What it checks, because a client that trusts a wrong document sends its
credentials to the wrong server:

* the document comes over HTTPS, and is not redirected to another origin;
* its ``issuer`` is exactly the issuer asked for (RFC 8414 §3.3, the mix-up
  defence), before any token call is made;
* it is a JSON object with a ``token_endpoint`` on HTTPS.

Anything else is a :class:`~requests_multiauth.DiscoveryError` that says what is
wrong. Connection errors, timeouts, 429 and 5xx are retried a bounded number of
times; a 404 moves on to the next well-known location. Each fetch is bounded like
a token call's try (:mod:`.transport.answer`): its connect + read timeout for the
whole answer, and at most ``DEFAULT_MAX_ANSWER_BYTES`` (1 MiB) of decoded document.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Mapping, NoReturn, Optional, Tuple
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from .errors import ConfigurationError, DiscoveryError
from .telemetry import log_fields
from .transport.answer import ACCEPT_ENCODING, AnswerFault, keep_body, read_body
from .transport.endpoint import Timeout
from .transport.faults import malformed_answer
from .transport.retry import RetryPolicy, Transient, parse_retry_after, retrying, timeouts
from .transport.tls import call_verify
from .transport.urls import check_transport, origin, safe_url

__all__ = [
    "DEFAULT_MAX_AGE",
    "ClientAuthChoice",
    "ServerMetadata",
    "choose_client_auth",
    "clear_discovery_cache",
    "discover",
]

log = logging.getLogger("requests_multiauth")

#: How long a fetched document is reused in this process. Servers change their
#: metadata rarely (key rotation goes through jwks_uri, which we do not cache
#: here); an hour bounds how long a changed token endpoint goes unnoticed.
DEFAULT_MAX_AGE = 3600.0

#: Connect and read timeout of each fetch: a metadata document is small and static.
DEFAULT_DISCOVERY_TIMEOUT: Timeout = (3.05, 10.0)

#: Tries per location for transient faults (connection errors, timeouts, 429, 5xx),
#: and the first pause between them (doubled, with jitter): the package's one
#: RetryPolicy (transport/retry.py) with fewer, shorter tries, since an auth is being built.
DISCOVERY_ATTEMPTS = 3
DISCOVERY_BACKOFF = 0.5

#: The longest Retry-After honoured while discovering, in seconds.
MAX_DISCOVERY_RETRY_AFTER = 5.0

#: Same-origin redirects followed at most (another origin is refused outright).
MAX_REDIRECTS = 3

#: RFC 8414 §2: a server that lists no methods supports client_secret_basic.
DEFAULT_AUTH_METHODS = ("client_secret_basic",)


def _strings(value: Any) -> Tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value if isinstance(item, str))
    return ()


@dataclass(frozen=True)
class ServerMetadata:
    """An authorization server's metadata, as its discovery document states it.

    Attributes:
        issuer: the issuer identifier, exactly as asked for and as the document says.
        token_endpoint: the token endpoint URL.
        token_endpoint_auth_methods_supported: the client authentication methods
            the token endpoint accepts (RFC 8414 names; ``client_secret_basic``
            when the document lists none, as RFC 8414 §2 says).
        token_endpoint_auth_signing_alg_values_supported: algorithms accepted for
            signed client assertions.
        mtls_endpoint_aliases: RFC 8705 §5 endpoints for clients that use mutual TLS.
        dpop_signing_alg_values_supported: RFC 9449 §5.1 algorithms for DPoP proofs.
        jwks_uri: where the server publishes its keys, if it says.
        grant_types_supported: the grants it supports, if it says.
        document: the whole document, read-only.
        url: where the document was fetched from.
    """

    issuer: str
    token_endpoint: str
    token_endpoint_auth_methods_supported: Tuple[str, ...] = DEFAULT_AUTH_METHODS
    token_endpoint_auth_signing_alg_values_supported: Tuple[str, ...] = ()
    mtls_endpoint_aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dpop_signing_alg_values_supported: Tuple[str, ...] = ()
    jwks_uri: Optional[str] = None
    grant_types_supported: Tuple[str, ...] = ()
    document: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    url: str = ""

    @property
    def mtls_token_endpoint(self) -> str:
        """The token endpoint for mutual-TLS clients: the RFC 8705 alias if any, else the token endpoint."""
        return self.mtls_endpoint_aliases.get("token_endpoint", self.token_endpoint)

    def supports(self, method: str) -> bool:
        """True if the token endpoint lists the client authentication *method* (an RFC 8414 name)."""
        return method in self.token_endpoint_auth_methods_supported

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, issuer: str, url: str = "") -> ServerMetadata:
        """Check a decoded discovery document against *issuer* and read it.

        Raises:
            DiscoveryError: the issuer differs, or the token endpoint is missing or not HTTPS.
        """
        where = f"the discovery document at {safe_url(url)}" if url else "the discovery document"
        stated = document.get("issuer")
        if stated != issuer:
            raise DiscoveryError(
                f"{where} names the issuer {stated!r}, not {issuer!r}: refusing it, since a client that follows "
                "another server's metadata may send its credentials there (the mix-up attack, RFC 8414 §3.3). "
                "Pass the issuer exactly as the server states it"
            )
        token_endpoint = document.get("token_endpoint")
        if not isinstance(token_endpoint, str) or not token_endpoint:
            raise DiscoveryError(f"{where} has no token_endpoint: this server cannot issue tokens to clients")
        _check_https(token_endpoint, f"{where}: its token_endpoint")
        aliases = document.get("mtls_endpoint_aliases")
        mtls = {k: v for k, v in aliases.items() if isinstance(v, str)} if isinstance(aliases, Mapping) else {}
        if "token_endpoint" in mtls:
            _check_https(mtls["token_endpoint"], f"{where}: its mTLS token_endpoint")
        jwks_uri = document.get("jwks_uri")
        return cls(
            issuer=issuer,
            token_endpoint=token_endpoint,
            token_endpoint_auth_methods_supported=(
                _strings(document.get("token_endpoint_auth_methods_supported")) or DEFAULT_AUTH_METHODS
            ),
            token_endpoint_auth_signing_alg_values_supported=_strings(
                document.get("token_endpoint_auth_signing_alg_values_supported")
            ),
            mtls_endpoint_aliases=MappingProxyType(mtls),
            dpop_signing_alg_values_supported=_strings(document.get("dpop_signing_alg_values_supported")),
            jwks_uri=jwks_uri if isinstance(jwks_uri, str) else None,
            grant_types_supported=_strings(document.get("grant_types_supported")),
            document=MappingProxyType(dict(document)),
            url=url,
        )


def _check_https(url: str, what: str) -> None:
    if urlsplit(url).scheme != "https":
        raise DiscoveryError(f"{what} {safe_url(url)!r} is not HTTPS: credentials would go over plain HTTP")


def well_known_urls(issuer: str) -> List[str]:
    """Where an issuer's metadata may be, in the order they are tried: RFC 8414's
    ``/.well-known/oauth-authorization-server`` inserted before the issuer's path,
    then OpenID Connect's ``/.well-known/openid-configuration`` appended to it."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))
    oidc = urlunsplit((parts.scheme, parts.netloc, path + "/.well-known/openid-configuration", "", ""))
    return [rfc8414, oidc]


@dataclass(frozen=True)
class _Cached:
    metadata: ServerMetadata
    until: float


_cache: Dict[str, _Cached] = {}
_locks: Dict[str, threading.Lock] = {}
_guard = threading.Lock()


def clear_discovery_cache() -> None:
    """Forget every document :func:`discover` has kept (for tests, or after a server moved)."""
    with _guard:
        _cache.clear()


def discover(
    issuer: str,
    *,
    session: Optional[requests.Session] = None,
    timeout: Timeout = DEFAULT_DISCOVERY_TIMEOUT,
    max_age: float = DEFAULT_MAX_AGE,
    allow_insecure_loopback: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> ServerMetadata:
    """The metadata of the authorization server *issuer*, fetched at most once
    per *max_age* seconds in this process. Safe for concurrent use: threads
    asking for the same issuer together cause one fetch.

    Args:
        issuer: the issuer identifier (``https://login.example.com/realms/x``),
            exactly as the server states it in its documents.
        session: the ``requests.Session`` to fetch with (proxies, CA bundle).
            Default: a plain session, closed afterwards. An explicit ``verify``
            on it wins over ``REQUESTS_CA_BUNDLE``.
        timeout: connect/read timeout of each fetch.
        max_age: seconds a fetched document is reused.
        allow_insecure_loopback: accept ``http://`` issuers on loopback, for tests.
        monotonic: the clock of the cache; replaceable in tests.

    Raises:
        DiscoveryError: no document found, not JSON, wrong issuer, no or insecure
            ``token_endpoint``, redirected to another origin, or the server kept
            failing after bounded retries.
        InsecureTransportError: *issuer* is not HTTPS.
    """
    if not isinstance(issuer, str) or not issuer.strip():
        raise DiscoveryError("the issuer is missing: pass issuer='https://...' as the server states it")
    check_transport(issuer, allow_insecure_loopback=allow_insecure_loopback, what="discovery")
    with _guard:
        lock = _locks.setdefault(issuer, threading.Lock())
    with lock:
        cached = _cache.get(issuer)
        if cached is not None and monotonic() < cached.until:
            return cached.metadata
        metadata = _fetch(issuer, session, timeout, allow_insecure_loopback)
        _cache[issuer] = _Cached(metadata, monotonic() + max_age)
        log.info(
            "discovered %s: token endpoint %s",
            safe_url(issuer),
            safe_url(metadata.token_endpoint),
            extra=log_fields("discovery.done", issuer=safe_url(issuer), token_url=safe_url(metadata.token_endpoint)),
        )
        return metadata


def _fetch(
    issuer: str, session: Optional[requests.Session], timeout: Timeout, allow_insecure_loopback: bool
) -> ServerMetadata:
    own = session is None
    http = requests.Session() if session is None else session
    try:
        tried: List[str] = []
        for url in well_known_urls(issuer):
            response = _get(http, url, issuer, timeout, allow_insecure_loopback)
            if response is None:
                tried.append(f"{safe_url(url)} (404)")
                continue
            return ServerMetadata.from_document(_decode(response, url), issuer=issuer, url=url)
        raise DiscoveryError(
            f"no discovery document for {safe_url(issuer)}: tried {', '.join(tried)}. "
            "Check the issuer (it is the 'issuer' value the server publishes), or pass token_url= instead"
        )
    finally:
        if own:
            http.close()


def _get(
    http: requests.Session, url: str, issuer: str, timeout: Timeout, allow_insecure_loopback: bool
) -> Optional[requests.Response]:
    """The 2xx answer at *url* (after same-origin redirects), None for a 404/410,
    or a DiscoveryError."""
    verify = call_verify(http.verify)
    current = url
    for _redirect in range(MAX_REDIRECTS + 1):
        response = _get_with_retries(http, current, timeout, verify)
        status = response.status_code
        if 300 <= status < 400 and response.headers.get("Location"):
            target = urljoin(current, response.headers["Location"])
            if origin(target) != origin(url):
                raise DiscoveryError(
                    f"the discovery document at {safe_url(url)} redirects to another origin "
                    f"({safe_url(target)}): refused, the metadata must come from the issuer's own server"
                )
            check_transport(target, allow_insecure_loopback=allow_insecure_loopback, what="discovery")
            current = target
            continue
        if status in (404, 410):
            return None
        if not 200 <= status < 300:
            raise DiscoveryError(f"{safe_url(current)} answered HTTP {status} to the discovery request")
        return response
    raise DiscoveryError(f"{safe_url(url)} redirected more than {MAX_REDIRECTS} times")


def _get_with_retries(http: requests.Session, url: str, timeout: Timeout, verify: Any) -> requests.Response:
    # The package's one retry policy, with discovery's own numbers (read at call time).
    policy = RetryPolicy(
        attempts=DISCOVERY_ATTEMPTS, backoff=DISCOVERY_BACKOFF, max_retry_after=MAX_DISCOVERY_RETRY_AFTER
    )

    def attempt(_number: int) -> requests.Response:
        try:
            response = _get_bounded(http, url, timeout, verify)
        except requests.exceptions.SSLError as exc:
            raise DiscoveryError(
                f"{safe_url(url)} failed TLS verification ({type(exc).__name__}): set REQUESTS_CA_BUNDLE, "
                "or pass session= with a session whose verify= names the right CA bundle"
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            malformed = malformed_answer(exc)
            if malformed is not None:  # the server broke HTTP: it will again
                raise DiscoveryError(f"{safe_url(url)} answered with {malformed}, which is not HTTP") from None
            raise Transient(
                "no answer in time" if isinstance(exc, requests.Timeout) else "the connection failed"
            ) from None
        except AnswerFault as fault:
            if fault.kind not in ("deadline", "truncated"):
                raise DiscoveryError(f"the discovery document at {safe_url(url)} was refused: {fault}") from None
            raise Transient(str(fault)) from None
        if response.status_code != 429 and response.status_code < 500:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
        raise Transient(f"HTTP {response.status_code}", response.status_code, retry_after)

    def on_retry(fault: Transient, pause: float, number: int) -> None:
        log.warning(
            "discovery at %s: %s; retrying in %.1f s",
            safe_url(url),
            fault.reason,
            pause,
            extra=log_fields("discovery.retry", url=safe_url(url), reason=fault.reason, wait=pause, attempt=number),
        )

    def give_up(fault: Transient, tries: int, _budget: Optional[float]) -> NoReturn:
        raise DiscoveryError(f"discovery at {safe_url(url)} failed: {fault.reason} (tried {tries} times)")

    return retrying(policy, attempt, on_retry=on_retry, give_up=give_up)


def _get_bounded(http: requests.Session, url: str, timeout: Timeout, verify: Any) -> requests.Response:
    """GET *url* and read its answer whole within the connect + read timeout, and at most
    DEFAULT_MAX_ANSWER_BYTES of it; raises AnswerFault otherwise."""
    connect, read = timeouts(timeout)
    until = time.monotonic() + connect + read
    headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    response = http.get(url, timeout=timeout, allow_redirects=False, verify=verify, headers=headers, stream=True)
    keep_body(response, read_body(response, deadline=until, read_timeout=read))
    return response


def _decode(response: requests.Response, url: str) -> Mapping[str, Any]:
    try:
        document = json.loads(response.text)
    except (ValueError, RecursionError):
        content_type = response.headers.get("Content-Type", "no content type")
        raise DiscoveryError(
            f"the discovery document at {safe_url(url)} is not JSON ({content_type}): is this the issuer's URL?"
        ) from None
    if not isinstance(document, Mapping):
        raise DiscoveryError(f"the discovery document at {safe_url(url)} is JSON but not an object")
    return document


#: The methods chosen for a client with a secret when none is named, best first:
#: the secret stays out of the body (RFC 6749 §2.3.1 prefers Basic).
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class ClientAuthChoice:
    """What :func:`choose_client_auth` settled: the method and where to send token requests."""

    client_auth: Any
    token_url: str


def choose_client_auth(metadata: ServerMetadata, client_auth: Any, *, has_secret: bool) -> ClientAuthChoice:
    """The client authentication and token endpoint to use with *metadata*'s server.

    An explicit *client_auth* (a name or an object) is kept if the server lists
    its method; otherwise the first of client_secret_basic, client_secret_post
    that the server lists is chosen for a client with a secret. Signed
    assertions name the issuer as their audience (as the rfc7523bis draft asks
    of clients that discovered it), and mutual-TLS clients use the RFC 8705
    ``mtls_endpoint_aliases`` token endpoint when there is one.

    Raises:
        ConfigurationError: the server does not list the method asked for, or
            none that these credentials can use.
    """
    from .client_auth import TlsClientAuth, resolve_client_auth

    listed = metadata.token_endpoint_auth_methods_supported
    if client_auth is None:
        name = next((n for n in _SECRET_METHODS if has_secret and metadata.supports(n)), None)
        if name is None:
            raise ConfigurationError(
                f"{safe_url(metadata.issuer)} accepts the client authentication methods {', '.join(listed)}; "
                + (
                    "none of them sends a client secret: pass client_auth= (e.g. PrivateKeyJwt(key) or "
                    "TlsClientAuth(cert))"
                    if has_secret
                    else "no client_secret was given: pass one, or pass client_auth= (e.g. PrivateKeyJwt(key))"
                )
            )
        client_auth = name
    method = resolve_client_auth(client_auth)
    if not any(metadata.supports(name) for name in method.names):
        raise ConfigurationError(
            f"client_auth {method.method!r} is not among the methods {safe_url(metadata.issuer)} lists for its "
            f"token endpoint ({', '.join(listed)}): choose one of those"
        )
    with_audience = getattr(method, "with_audience", None)
    if with_audience is not None and getattr(method, "audience", None) is None:
        method = with_audience(metadata.issuer)
    token_url = metadata.mtls_token_endpoint if isinstance(method, TlsClientAuth) else metadata.token_endpoint
    return ClientAuthChoice(method, token_url)
