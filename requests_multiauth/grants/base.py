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
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode

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
    "GrantRequest",
    "JsonClientCredentialsGrant",
    "basic_auth_header",
    "client_request",
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


@dataclass(frozen=True)
class GrantRequest:
    """What one try of a token call sends. A grant makes a new one for every try
    (retries included), so a signed assertion in it is never sent twice.

    Attributes:
        form: the form fields (``application/x-www-form-urlencoded``), as a mapping
            or already encoded; or None.
        json: a JSON object body instead; or None (then *form* is sent, or no body).
        headers: headers of this try (``Authorization: Basic ...``, ``Accept`` ...).
        query: parameters added to the URL's query string.
        method: the HTTP method: ``POST`` for a token endpoint, ``GET`` for a
            metadata server or a lookup.
        url: where to send it; None means the auth's token URL. A grant of several
            steps (a lookup, then the token call; a token exchange, then
            impersonation) names each step's URL. Every URL passes the same
            transport rules (HTTPS only) as the token URL.
        secrets: strings of this try to keep out of every message and log (a fresh
            assertion, a subject token read for this try).
    """

    form: Optional[Union[str, Mapping[str, str]]] = None
    json: Optional[Mapping[str, Any]] = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    query: Optional[Mapping[str, str]] = None
    method: str = "POST"
    url: Optional[str] = None
    secrets: Tuple[str, ...] = ()


class Grant:
    """A way of getting a new token: subclass it to teach the engine a new scheme.

    A grant only says what one token call sends (:meth:`request`) and how its
    answer reads (:meth:`parse`). Everything else is the engine's and is
    inherited by any grant given to :class:`~requests_multiauth.TokenAuth`:
    reuse of a valid token, renewal ahead of expiry on a background thread,
    single flight across threads (and processes or hosts with a shared cache),
    the 401 renew-and-replay, DPoP proofs, retries with backoff, typed errors
    and telemetry. A grant holds no lock and keeps no token.

    Thread safety: :meth:`fetch` is called by one thread at a time for an auth
    (under its lock), but one grant should not be shared by two auths.

    Attributes (class or instance):
        name: what is asked, for telemetry and logs (``"client_credentials"``,
            ``"jwt_bearer"`` ...).
        cache_kind: the kind the cache key names, when two grants of one ``name``
            ask differently (None: ``name``).
        secrets: long-lived secrets (a client secret, a key's PEM text) to keep
            out of every message, whatever the server echoes back.
        cert: a client certificate for the token endpoint's TLS handshake (mutual
            TLS) as requests takes it, or None.
        default_lifetime: the lifetime to assume when an answer states none (the
            provider's documented one), or None.
        plain_http_hosts: ``host:port`` of endpoints this grant may call over plain
            HTTP. Only for a cloud's metadata endpoint, which is HTTP by design and
            carries no secret; the rule that decides it lives in ``transport/urls.py``.
    """

    name: ClassVar[str] = "custom"
    cache_kind: ClassVar[Optional[str]] = None
    secrets: Tuple[str, ...] = ()
    cert: Optional[ClientCert] = None
    default_lifetime: Optional[float] = None
    plain_http_hosts: Tuple[str, ...] = ()

    def identity(self) -> Mapping[str, Optional[str]]:
        """Public settings that tell two grants' tokens apart (a client id, a scope,
        an audience): hashed into the cache key, so never a secret. Values that are
        None are left out. The grant's class name is always part of the key."""
        return {}

    @property
    def cache_identity(self) -> Tuple[Tuple[str, str], ...]:
        """The grant's kind and :meth:`identity`, as the cache key is made from them.
        Read once, on the first token call: the long-lived :attr:`secrets` enter it
        only through a slow one-way digest (see :func:`_secret_digest`), so that a
        rotated or wrong secret never reads the token of another."""
        return _identity(self.cache_kind or self.name, **self.identity(), **_secret_digest(self.key_secrets()))

    def key_secrets(self) -> Tuple[str, ...]:
        """The long-lived secrets that tell two credentials apart in the cache key, where
        they enter only as a slow one-way digest: by default :attr:`secrets`. A grant
        whose :attr:`secrets` include values derived from a secret (a Basic header)
        names the secret itself, so that every method of one client shares the key."""
        return self.secrets

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        """What the next try sends. Called for every try, retries included.

        Args:
            previous: the last token held, if any (it may carry a refresh token).
            now: the current time, epoch seconds, on the auth's clock.
        """
        raise NotImplementedError(f"{type(self).__name__} must define request(previous, now)")

    def parse(self, answer: Any, now: float) -> Token:
        """The token in a decoded 2xx answer. The default reads every common shape
        (see :func:`~requests_multiauth.token.parse_token_response`); a
        :class:`~requests_multiauth.TokenResponseError` raised here is reported
        with the answer's status and a redacted excerpt."""
        return parse_token_response(answer, now=now, default_lifetime=self.default_lifetime, secrets=self.secrets)

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        """Get a new token: one call of :meth:`request` per try, then :meth:`parse`.

        Override it for a grant of several steps (look something up first, or
        trade the token for another), calling ``endpoint.call`` once per step.

        Raises:
            TokenRequestError, InvalidClientError: refused, or still failing after the retries.
            TokenResponseError: the answer holds no usable token.
        """
        token: Token = endpoint.call(
            functools.partial(self.request, previous, now),
            parse=functools.partial(self._parse_at, now),
            grant=self.name,
        )
        return token

    def _parse_at(self, now: float, answer: Any) -> Token:
        return self.parse(answer, now)


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


def _identity(kind: str, **fields: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    """The public identity of a grant for cache keys: its kind and settings (a
    client authentication's among them: its method and public thumbprint)."""
    return (("kind", kind), *sorted((k, v) for k, v in fields.items() if v is not None))


def _mapping_identity(settings: Mapping[str, Any]) -> Optional[str]:
    """A mapping setting (``params``, ``claims``) as the cache key reads it: its items
    sorted, or None when there are none."""
    return repr(sorted(settings.items())) if settings else None


def client_request(
    client: Binding,
    *,
    form: Optional[Union[str, Mapping[str, str]]] = None,
    json: Optional[Mapping[str, Any]] = None,
    secrets: Tuple[Optional[str], ...] = (),
) -> GrantRequest:
    """A request carrying *form* or *json* and what the client authentication adds:
    its fields and headers, and what this try alone adds (a fresh assertion)."""
    headers = dict(client.headers)
    kept = tuple(secret for secret in secrets if secret)
    if client.prepare is not None:
        extras = client.prepare()
        form, json = _with_fields(form, json, extras.fields)
        headers.update(extras.headers)
        kept += extras.secrets
    return GrantRequest(form=form, json=json, headers=headers, secrets=kept)


def _with_fields(
    form: Optional[Union[str, Mapping[str, str]]], json: Optional[Mapping[str, Any]], fields: Mapping[str, str]
) -> Tuple[Optional[Union[str, Mapping[str, str]]], Optional[Mapping[str, Any]]]:
    """*form* or *json* with *fields* appended (an empty *fields* changes nothing)."""
    if not fields:
        return form, json
    if json is not None:
        return form, {**json, **fields}
    if isinstance(form, str):
        return (form + "&" if form else "") + urlencode(list(fields.items())), None
    return {**(form or {}), **fields}, None


class _ClientGrant(Grant):
    """A grant a client asks for in its own name (both client-credentials grants): what
    it does with its client: check the id, bind the client authentication once, present
    its certificate, scrub its secrets, and name the client in the cache key."""

    def __init__(
        self, client_id: str, client_secret: Optional[str], *, client_auth: ClientAuthSpec, token_url: str
    ) -> None:
        self.client_id = _required("client_id", client_id)
        self.client_auth = resolve_client_auth(client_auth)
        self._client = self.client_auth.bind(self.client_id, client_secret, token_url=token_url)
        self._client_secret = client_secret if self.client_auth.needs_secret else None
        self.secrets = self._client.secrets
        self.cert = self._client.cert
        self._token_url = token_url

    def key_secrets(self) -> Tuple[str, ...]:
        """The client secret itself (not the Basic value made of it), so that every
        method of one client shares the cache key."""
        return (self._client_secret,) if self._client_secret else ()

    def identity(self) -> Mapping[str, Optional[str]]:
        """The client: its authentication's public identity, the token URL and the id;
        a subclass adds what it asks for."""
        return {**dict(self._client.identity), "token_url": self._token_url, "client_id": self.client_id}


class ClientCredentialsGrant(_ClientGrant):
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

    name = "client_credentials"

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
        super().__init__(client_id, client_secret, client_auth=client_auth, token_url=token_url)
        self.scope = _scope_string(scope)
        self.params: Dict[str, str] = dict(params or {})
        self.refresh_scope = _scope_string(refresh_scope)
        self.use_refresh_token = use_refresh_token
        self.default_lifetime = default_lifetime
        # Imported here: oauthlib.oauth2 loads its server side too, a third of this package's import time.
        from oauthlib.oauth2 import BackendApplicationClient

        self._oauth = BackendApplicationClient(client_id)

    def identity(self) -> Mapping[str, Optional[str]]:
        return {**super().identity(), "scope": self.scope, "params": _mapping_identity(self.params)}

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        client_fields = dict(self._client.fields)
        include_client_id = client_fields.pop("client_id", None) is not None  # oauthlib adds it, in its place
        body = self._oauth.prepare_request_body(
            scope=self.scope, include_client_id=include_client_id, **client_fields, **self.params
        )
        return client_request(self._client, form=body)

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
        return self._granted(super().fetch(endpoint, previous, now), self.scope)

    def _refresh(self, endpoint: TokenEndpoint, previous: Token, refresh_token: str, now: float) -> Token:
        def make() -> GrantRequest:
            body = self._oauth.prepare_refresh_body(
                refresh_token=refresh_token, scope=self.refresh_scope, **self._client.fields
            )
            return client_request(self._client, form=body, secrets=(refresh_token,))

        parse = functools.partial(
            parse_token_response,
            now=now,
            default_lifetime=self.default_lifetime,
            secrets=(*self.secrets, refresh_token),
        )
        token: Token = endpoint.call(make, parse=parse, grant="refresh_token")
        token = self._granted(token, self.refresh_scope or previous.scope)
        if token.refresh_token is None:  # the answer kept quiet: the old refresh token still holds
            token = dataclasses.replace(
                token, refresh_token=refresh_token, refresh_expires_at=previous.refresh_expires_at
            )
        log.debug(
            "renewed the token with the refresh token",
            extra=log_fields("refresh_token.used", url=safe_url(endpoint.url)),
        )
        return token

    @staticmethod
    def _granted(token: Token, asked: Optional[str]) -> Token:
        """An answer that names no scope granted what was asked (RFC 6749 §5.1: the
        scope is only stated when it differs from the request)."""
        if token.scope is None and asked:
            return dataclasses.replace(token, scope=asked)
        return token


class JsonClientCredentialsGrant(_ClientGrant):
    """Client credentials sent as a JSON object with an ``audience`` (Auth0 style).

    Sends ``{"client_id", "client_secret", "audience", "grant_type":
    "client_credentials"}`` plus *params*, in that order. With
    ``client_auth="basic"`` the id and secret go in an HTTP Basic header instead;
    with an assertion method, ``client_id`` comes first and the assertion last.
    """

    name = "client_credentials"
    cache_kind = "json_client_credentials"

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
        super().__init__(client_id, client_secret, client_auth=client_auth, token_url=token_url)
        self.audience = audience
        self.params: Dict[str, Any] = dict(params or {})
        self.default_lifetime = default_lifetime

    def identity(self) -> Mapping[str, Optional[str]]:
        return {**super().identity(), "audience": self.audience, "params": _mapping_identity(self.params)}

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        body: Dict[str, Any] = dict(self._client.fields)
        if self.audience is not None:
            body["audience"] = self.audience
        body["grant_type"] = "client_credentials"
        body.update(self.params)
        return client_request(self._client, json=body)


class ApiKeyGrant(Grant):
    """An API key exchanged for an access token: POST JSON ``{"apiKey": "..."}``.

    The answer's shape is read liberally (``data`` wrapper, camelCase, JWT ``exp``),
    with *default_lifetime* as the last resort.
    """

    name = "api_key"

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
        self.secrets = (api_key,)
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
                params=_mapping_identity(self.params),
            )
        return identity

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        body: Dict[str, Any] = {self.field: self._api_key}
        body.update(self.params)
        return GrantRequest(json=body)

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        try:
            return super().fetch(endpoint, previous, now)
        except InvalidClientError as exc:
            # An API key has no client id and no client_auth: say what there is to check.
            raise exc.with_hint(API_KEY_HINT) from None


def _secret_digest(secrets: Tuple[str, ...]) -> Dict[str, str]:
    """The cache-key field that tells two credentials' secrets apart: the slow
    one-way digest of :func:`_key_digest` over all of them, or nothing when the
    grant holds no long-lived secret. Called once per auth, on its first token
    call (never at construction: PBKDF2 costs milliseconds)."""
    if not secrets:
        return {}
    return {"secret_digest": _key_digest("\0".join(sorted(set(secrets))))}


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
