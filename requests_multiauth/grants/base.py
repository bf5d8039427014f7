"""One small class per way of getting a new token.

A grant knows what to send to a token endpoint and how to read the answer. It
knows nothing of caching, locking, expiry or retries: the engine in
:mod:`requests_multiauth.engine.manager` decides *when* to call :meth:`Grant.fetch`,
and :class:`~requests_multiauth.transport.endpoint.TokenEndpoint` does the I/O.

A grant says *what* is asked; *who asks* is the client authentication
(:mod:`requests_multiauth.client_auth`), bound once at construction: the grant
adds its fields and headers to every request and passes its per-try part (a
fresh assertion) to the endpoint.

To add a provider, write a grant (or configure one of these) and wrap it in a
:class:`~requests_multiauth.auth.TokenAuth` subclass.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from typing import Any, Dict, Mapping, Optional, Protocol, Sequence, Tuple, Union

from ..client_auth import Binding, ClientAuthSpec, basic_auth_header, resolve_client_auth
from ..errors import API_KEY_HINT, ConfigurationError, InvalidClientError, TokenRequestError
from ..telemetry import error_name, log_fields
from ..token import Token, parse_token_response
from ..transport.endpoint import ClientCert, TokenEndpoint
from ..transport.urls import safe_url

__all__ = [
    "ApiKeyGrant",
    "ClientCredentialsGrant",
    "Grant",
    "JsonClientCredentialsGrant",
    "basic_auth_header",
]

log = logging.getLogger("requests_multiauth")

Scope = Union[str, Sequence[str], None]

#: A refresh token this close to its expiry is not used: the refresh request
#: would race its expiry, and a plain client-credentials grant costs the same.
REFRESH_TOKEN_LEEWAY = 60.0

#: PBKDF2 rounds of the API-key digest in cache keys: a few milliseconds once
#: per auth, on its first token call (100,000 rounds cost a notebook a quarter
#: of a second per auth).
KEY_DIGEST_ROUNDS = 10_000

#: Statuses with which a token endpoint refuses a refresh token (RFC 6749 §5.2
#: says 400 invalid_grant; some servers say 401).
_REFRESH_REFUSED = frozenset({400, 401, 403})


class Grant(Protocol):
    """What the engine needs from a way of getting tokens."""

    @property
    def cache_identity(self) -> Tuple[Tuple[str, str], ...]:
        """The grant's kind and public settings (never a secret), hashed into cache keys.
        Read only when a cache key is made (on the first token call)."""
        ...

    #: Strings that must never appear in a message (client secret, API key).
    secrets: Tuple[str, ...]

    #: The client certificate for the token endpoint's TLS handshake (mutual TLS), or None.
    cert: Optional[ClientCert]

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        """Get a new token. *previous* is the last token held, if any (it may
        carry a refresh token). Raises the errors of ``TokenEndpoint.post``."""
        ...


def _required(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} is missing or empty: pass it as a non-empty string")
    return value


def _scope_string(scope: Scope) -> Optional[str]:
    if scope is None:
        return None
    if isinstance(scope, str):
        return scope.strip() or None
    return " ".join(scope) or None


def _identity(kind: str, client: Optional[Binding] = None, **fields: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    """The public identity of a grant for cache keys: its kind and settings, and
    the client authentication's (its method and public thumbprint, if other than a secret)."""
    own = ((k, v) for k, v in fields.items() if v is not None)
    return (("kind", kind), *sorted((*own, *(client.identity if client is not None else ()))))


class ClientCredentialsGrant:
    """OAuth 2.0 client credentials (RFC 6749 §4.4), with refresh tokens if offered.

    The form body is built by oauthlib's ``BackendApplicationClient``. The client
    authenticates as *client_auth* says (:mod:`~requests_multiauth.client_auth`):
    HTTP Basic by default (``"basic"``, as AWS Cognito documents), Basic over
    form-encoded values (``"basic_urlencoded"``, RFC 6749 §2.3.1 to the letter),
    in the body (``"post"``), or any RFC 8414 name or client authentication
    object (a signed assertion, a certificate); *client_secret* may then be None.

    When an answer carries a refresh token, the next renewal sends
    ``grant_type=refresh_token&scope=<refresh_scope>&refresh_token=...`` while the
    refresh token lives, and falls back to a new client-credentials grant if the
    server refuses it. A refresh answer without a refresh token keeps the old one.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        *,
        scope: Scope = None,
        client_auth: ClientAuthSpec = "basic",
        params: Optional[Mapping[str, str]] = None,
        refresh_scope: Scope = None,
        use_refresh_token: bool = True,
        default_lifetime: Optional[float] = None,
        token_url: str = "",
    ) -> None:
        self.client_id = _required("client_id", client_id)
        self.scope = _scope_string(scope)
        self.client_auth = resolve_client_auth(client_auth)
        self._client = self.client_auth.bind(self.client_id, client_secret, token_url=token_url)
        self.params: Dict[str, str] = dict(params or {})
        self.refresh_scope = _scope_string(refresh_scope)
        self.use_refresh_token = use_refresh_token
        self.default_lifetime = default_lifetime
        # Imported here: oauthlib.oauth2 loads its server side too, a third of this package's import time.
        from oauthlib.oauth2 import BackendApplicationClient

        self._oauth = BackendApplicationClient(client_id)
        self.secrets: Tuple[str, ...] = self._client.secrets
        self.cert = self._client.cert
        self.cache_identity = _identity(
            "client_credentials",
            self._client,
            token_url=token_url,
            client_id=client_id,
            scope=self.scope,
            params=repr(sorted(self.params.items())) if self.params else None,
        )

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        if self.use_refresh_token and previous is not None and previous.refresh_token:
            if previous.refresh_expires_at is None or now < previous.refresh_expires_at - REFRESH_TOKEN_LEEWAY:
                try:
                    return self._refresh(endpoint, previous, previous.refresh_token, now)
                except TokenRequestError as exc:
                    if exc.status_code not in _REFRESH_REFUSED:
                        raise
                    log.info(
                        "%s refused the refresh token (%s); asking for a new token with the client credentials",
                        endpoint,
                        exc.error or f"HTTP {exc.status_code}",
                        extra=log_fields("refresh_token.refused", url=safe_url(endpoint.url), error=error_name(exc)),
                    )
            else:
                log.debug(
                    "the refresh token has expired; asking for a new token with the client credentials",
                    extra=log_fields("refresh_token.expired", url=safe_url(endpoint.url)),
                )
        client_fields = dict(self._client.fields)
        include_client_id = client_fields.pop("client_id", None) is not None  # oauthlib adds it, in its place
        body = self._oauth.prepare_request_body(
            scope=self.scope, include_client_id=include_client_id, **client_fields, **self.params
        )
        return self._post(endpoint, body, now, granted_if_unsaid=self.scope)

    def _refresh(self, endpoint: TokenEndpoint, previous: Token, refresh_token: str, now: float) -> Token:
        body = self._oauth.prepare_refresh_body(
            refresh_token=refresh_token,
            scope=self.refresh_scope,
            **self._client.fields,
        )
        token = self._post(
            endpoint, body, now, refresh_token=refresh_token, granted_if_unsaid=self.refresh_scope or previous.scope
        )
        if token.refresh_token is None:  # the answer kept quiet: the old refresh token still holds
            token = dataclasses.replace(
                token, refresh_token=refresh_token, refresh_expires_at=previous.refresh_expires_at
            )
        log.debug(
            "renewed the token with the refresh token",
            extra=log_fields("refresh_token.used", url=safe_url(endpoint.url)),
        )
        return token

    def _post(
        self,
        endpoint: TokenEndpoint,
        body: str,
        now: float,
        *,
        refresh_token: Optional[str] = None,
        granted_if_unsaid: Optional[str] = None,
    ) -> Token:
        """POST *body*; an answer that names no scope was granted *granted_if_unsaid*
        (RFC 6749 §5.1: the scope is only stated when it differs from the request)."""
        parse = functools.partial(
            parse_token_response,
            now=now,
            default_lifetime=self.default_lifetime,
            secrets=(*self.secrets, refresh_token),
        )
        grant = "refresh_token" if refresh_token else "client_credentials"
        token: Token = endpoint.post(
            data=body,
            headers=self._client.headers,
            secrets=(refresh_token,),
            parse=parse,
            prepare=self._client.prepare,
            grant=grant,
        )
        if token.scope is None and granted_if_unsaid:
            token = dataclasses.replace(token, scope=granted_if_unsaid)
        return token


class JsonClientCredentialsGrant:
    """Client credentials sent as a JSON object with an ``audience`` (Auth0 style).

    Sends ``{"client_id", "client_secret", "audience", "grant_type":
    "client_credentials"}`` plus *params*, in that order. With
    ``client_auth="basic"`` the id and secret go in an HTTP Basic header instead;
    with an assertion method, ``client_id`` comes first and the assertion last.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        *,
        audience: Optional[str],
        params: Optional[Mapping[str, Any]] = None,
        client_auth: ClientAuthSpec = "post",
        default_lifetime: Optional[float] = None,
        token_url: str = "",
    ) -> None:
        self.client_id = _required("client_id", client_id)
        self.audience = audience
        self.params: Dict[str, Any] = dict(params or {})
        self.client_auth = resolve_client_auth(client_auth)
        self._client = self.client_auth.bind(self.client_id, client_secret, token_url=token_url)
        self.default_lifetime = default_lifetime
        self.secrets: Tuple[str, ...] = self._client.secrets
        self.cert = self._client.cert
        self.cache_identity = _identity(
            "json_client_credentials",
            self._client,
            token_url=token_url,
            client_id=client_id,
            audience=audience,
            params=repr(sorted(self.params.items())) if self.params else None,
        )

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        body: Dict[str, Any] = dict(self._client.fields)
        if self.audience is not None:
            body["audience"] = self.audience
        body["grant_type"] = "client_credentials"
        body.update(self.params)
        parse = functools.partial(
            parse_token_response, now=now, default_lifetime=self.default_lifetime, secrets=self.secrets
        )
        token: Token = endpoint.post(
            json_body=body,
            headers=self._client.headers,
            parse=parse,
            prepare=self._client.prepare,
            grant="client_credentials",
        )
        return token


class ApiKeyGrant:
    """An API key exchanged for an access token: POST JSON ``{"apiKey": "..."}``.

    The answer's shape is read liberally (``data`` wrapper, camelCase, JWT ``exp``),
    with *default_lifetime* as the last resort.
    """

    def __init__(
        self,
        api_key: str,
        *,
        field: str = "apiKey",
        params: Optional[Mapping[str, Any]] = None,
        default_lifetime: Optional[float] = None,
        token_url: str = "",
    ) -> None:
        self._api_key = _required("api_key", api_key)
        self.field = field
        self.params: Dict[str, Any] = dict(params or {})
        self.default_lifetime = default_lifetime
        self.secrets: Tuple[str, ...] = (api_key,)
        self.cert: Optional[ClientCert] = None
        self._token_url = token_url
        self._cache_identity: Optional[Tuple[Tuple[str, str], ...]] = None

    @property
    def cache_identity(self) -> Tuple[Tuple[str, str], ...]:
        # No public identifier exists for an API key, so the key enters the cache
        # key only through a slow one-way digest (see _key_digest). It is made
        # here, on the first token call, not when the auth is built: 3,000 auths
        # built at start-up would otherwise spend seconds on digests before the
        # first request (and a token call takes longer than the digest anyway).
        identity = self._cache_identity
        if identity is None:
            identity = self._cache_identity = _identity(
                "api_key",
                token_url=self._token_url,
                key_digest=_key_digest(self._api_key),
                params=repr(sorted(self.params.items())) if self.params else None,
            )
        return identity

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        body: Dict[str, Any] = {self.field: self._api_key}
        body.update(self.params)
        parse = functools.partial(
            parse_token_response, now=now, default_lifetime=self.default_lifetime, secrets=(self._api_key,)
        )
        try:
            token: Token = endpoint.post(json_body=body, parse=parse, grant="api_key")
        except InvalidClientError as exc:
            # An API key has no client id and no client_auth: say what there is to check.
            raise exc.with_hint(API_KEY_HINT) from None
        return token


def _key_digest(secret: str) -> str:
    """A one-way digest that tells two API keys apart without revealing either.

    API keys are long random strings, so a one-way hash already hides them; the
    PBKDF2 rounds (KEY_DIGEST_ROUNDS) add a cost to guessing a weak key from a
    leaked cache key while keeping construction cheap. The salt is fixed so that
    every process derives the same digest.
    """
    return hashlib.pbkdf2_hmac(
        "sha256", secret.encode("utf-8"), b"requests_multiauth cache key", KEY_DIGEST_ROUNDS
    ).hex()[:32]
