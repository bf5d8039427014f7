"""The stage-one provider emulations, each exactly as its provider's page documents it.

Every emulator checks a token request against its provider's page and refuses
any deviation the way that provider does; where a page is silent (an error's
wording, the protected API's paths) the choice is written next to the code.

==========  =======================================  ======================  =================
name        token endpoint                           protected API           token lifetime
==========  =======================================  ======================  =================
rated       ``GET /api/slaos/v1/users/m2m-token``    ``/v1/`` (``/v1/slos/``) one year
            (the browser, logged in)
opsnow      ``POST /platform/v2/identity/``          ``/api/``               3600 s
            ``api-keys/token``, JSON ``apiKey``
cognito     ``POST /oauth2/token``, form, Basic      ``/api/``               3600 s
dataloy     ``POST /oauth/token``, JSON + audience   ``/ws/rest/``           86400 s
diagrams    ``POST /v0/oauth2/token``, form, Basic,  ``/v0/data/``           172800 s
            refresh tokens (``scope=data``)
==========  =======================================  ======================  =================

Rated, OpsNow, Cognito and Dataloy live here; Diagrams, the one with refresh tokens,
in :mod:`._diagrams`. Each is one provider's record's ``emulator``
(``requests_multiauth/providers/<name>.py``);
:class:`~requests_multiauth.testing.LocalProviders` (:mod:`._local`) runs them together.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode

import requests

from ..providers.cognito import COGNITO_SCOPE_EXAMPLE, CognitoAuth
from ..providers.dataloy import DATALOY_AUDIENCE, DataloyAuth
from ..providers.opsnow import OpsNowAuth
from ..providers.rated import RATED_TOKEN_PAGE, RatedAuth
from ._emulator import EXPIRED, MISSING, REVOKED, ProviderEmulator
from ._server import Reply, Request
from ._wire import Refusal, basic_credentials, media_type, oauth_form, oauth_refusal, random_id, same_secret, seconds

__all__ = [
    "OPSNOW_SHAPES",
    "CognitoEmulator",
    "DataloyEmulator",
    "OpsNowEmulator",
    "RatedEmulator",
]

_MIXED_CASE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _credentials_environ(emulator: ProviderEmulator, **settings: str) -> Dict[str, str]:
    """What the preset's ``from_env()`` reads, by parameter name: the credentials, the token URL
    and *settings* (the page's example scope or audience)."""
    return {**emulator.credentials, "token_url": emulator.token_url, **settings}


# -- Rated (000) ----------------------------------------------------------------------------


class RatedEmulator(ProviderEmulator):
    """Rated's slaOS API: a year-long JWT made in the logged-in browser.

    ``GET /api/slaos/v1/users/m2m-token`` answers ``{"jwt": ...}`` to a request
    carrying the browser's login cookie (:meth:`browser_session`); tests usually
    call :meth:`mint` instead. The API (``/v1/slos/`` and everything under
    ``/v1/``) needs ``Authorization: Bearer <jwt>`` and answers 401 to an
    expired or revoked token.

    The page does not show the API's error body; FastAPI's ``{"detail": ...}``
    is used.
    """

    name = "rated"
    token_path = RATED_TOKEN_PAGE
    api_path = "/v1/"
    default_lifetime = 365 * 24 * 3600.0  # "the token has an expiry date of one year"

    #: The cookie of a logged-in slaOS browser session.
    LOGIN_COOKIE = "session"

    user_id: str
    login_cookie: str

    def _make_credentials(self) -> None:
        self.user_id = f"user_{random_id(12)}"
        self.login_cookie = random_id(40)

    def mint(self, lifetime: Optional[float] = None, *, with_exp: bool = True, jwt: bool = True) -> str:
        """Make a token as the browser would, living *lifetime* seconds (default
        :attr:`lifetime`; negative for one that has already expired). With
        ``with_exp=False`` the JWT has no ``exp``; with ``jwt=False`` the token is
        an opaque string. The API accepts all of them until revoked or expired."""
        token, _ = self._issue(self.user_id, lifetime=lifetime, with_exp=with_exp, jwt=jwt)
        return token

    def browser_session(self) -> requests.Session:
        """A session logged into slaOS (it carries the login cookie), like the browser."""
        session = self.api_session()
        session.cookies.set(self.LOGIN_COOKIE, self.login_cookie)
        return session

    @property
    def credentials(self) -> Dict[str, str]:
        """``{"token": ...}``: a newly minted token."""
        return {"token": self.mint()}

    def environ_values(self) -> Dict[str, str]:
        return {"token": self.mint()}

    def auth(self, *, token: Optional[str] = None, **options: Any) -> RatedAuth:
        """``RatedAuth`` with *token* (default: a newly minted one) and this
        emulator's clock. *options* go to ``RatedAuth``."""
        options.setdefault("clock", self.clock)
        options.setdefault("allow_insecure_loopback", not self.tls)
        return RatedAuth(token if token is not None else self.mint(), **options)

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "GET")
        cookies = request.headers.get("Cookie", "")
        presented = {name.strip(): value for name, _, value in (c.partition("=") for c in cookies.split(";"))}
        if not same_secret(presented.get(self.LOGIN_COOKIE, ""), self.login_cookie):
            raise Refusal(Reply(401, {"detail": "Not authenticated"}))
        return Reply(200, {"jwt": self.mint()})

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        detail = {
            MISSING: "Not authenticated",
            EXPIRED: "Token has expired",
            REVOKED: "Token has been revoked",
        }.get(reason, "Could not validate credentials")
        return Reply(401, {"detail": detail}, {"WWW-Authenticate": "Bearer"})


# -- OpsNow (001) ---------------------------------------------------------------------------

#: The shapes an OpsNow token answer can take here. The page publishes none, only
#: that "the access token and its expiration time (3600s) are returned"; "data" is
#: the default, and the others exercise the liberal parser:
#:
#: ``data``      ``{"code", "message", "data": {"accessToken", "tokenType", "expiresIn"}}``
#: ``data-jwt``  ``{"data": {"accessToken"}}``: only the JWT's ``exp`` tells the lifetime
#: ``flat``      ``{"accessToken", "expiresIn": "3600"}`` (a numeric string)
#: ``oauth``     ``{"access_token", "token_type": "bearer", "expires_in"}``
#: ``epoch-ms``  ``{"data": {"accessToken", "expiresAt": <epoch milliseconds>}}``
#: ``opaque``    ``{"data": {"accessToken": <not a JWT>}}``: nothing tells the lifetime
OPSNOW_SHAPES = ("data", "data-jwt", "flat", "oauth", "epoch-ms", "opaque")


class OpsNowEmulator(ProviderEmulator):
    """OpsNow: ``POST /platform/v2/identity/api-keys/token`` with exactly
    ``{"apiKey": "..."}`` as JSON, answering an access token that lives 3600 s.

    Settings: ``answer_shape`` (one of :data:`OPSNOW_SHAPES`). Error bodies
    (unpublished) are ``{"code", "message"}``: 401 for an unknown key, 400 for
    a malformed body, 415 for another content type.
    """

    name = "opsnow"
    token_path = "/platform/v2/identity/api-keys/token"
    api_path = "/api/"
    default_lifetime = 3600.0  # "its expiration time (3600s)"

    api_key: str
    answer_shape: str

    def _make_credentials(self) -> None:
        self.api_key = random_id(40, _MIXED_CASE)

    def _reset_settings(self) -> None:
        self.answer_shape = "data"

    @property
    def credentials(self) -> Dict[str, str]:
        return {"api_key": self.api_key}

    def environ_values(self) -> Dict[str, str]:
        return _credentials_environ(self)

    def auth(self, **options: Any) -> OpsNowAuth:
        """``OpsNowAuth`` for this emulator; *options* go to ``OpsNowAuth``."""
        options.setdefault("token_url", self.token_url)
        return OpsNowAuth(self.api_key, **self._auth_options(options))

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        if media_type(request) != "application/json":
            raise _opsnow_refusal(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            raise _opsnow_refusal(400, "BAD_REQUEST", "the body is not JSON") from None
        if not isinstance(body, dict) or set(body) != {"apiKey"} or not isinstance(body["apiKey"], str):
            raise _opsnow_refusal(400, "BAD_REQUEST", 'expected {"apiKey": "<your API key>"}')
        if not same_secret(body["apiKey"], self.api_key):
            raise _opsnow_refusal(401, "UNAUTHORIZED", "invalid API key")
        shape = self.answer_shape
        if shape not in OPSNOW_SHAPES:
            raise ValueError(f"answer_shape={shape!r}: expected one of {OPSNOW_SHAPES}")
        subject = "apikey:" + hashlib.sha256(self.api_key.encode()).hexdigest()[:12]
        token, issued = self._issue(subject, jwt=shape != "opaque")
        lifetime = seconds(self.lifetime)
        answer: Dict[str, Any]
        if shape == "data":
            data = {"accessToken": token, "tokenType": "Bearer", "expiresIn": lifetime}
            answer = {"code": "200", "message": "success", "data": data}
        elif shape == "flat":
            answer = {"accessToken": token, "expiresIn": str(lifetime)}
        elif shape == "oauth":
            answer = {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        elif shape == "epoch-ms":
            assert issued.expires_at is not None  # noqa: S101 - issued with an expiry
            answer = {"data": {"accessToken": token, "expiresAt": int(issued.expires_at * 1000)}}
        else:  # data-jwt, opaque
            answer = {"data": {"accessToken": token}}
        return Reply(200, answer)

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        return Reply(401, {"code": "UNAUTHORIZED", "message": f"access token {reason}"})


def _opsnow_refusal(status: int, code: str, message: str) -> Refusal:
    return Refusal(Reply(status, {"code": code, "message": message}))


# -- the client-secret presets: Cognito and Dataloy --------------------------------------------------


class _ClientSecretEmulator(ProviderEmulator):
    """A provider whose client holds an id and a secret: the credentials and their check."""

    client_id: str
    client_secret: str

    @property
    def credentials(self) -> Dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def _is_client(self, client_id: str, secret: str) -> bool:
        """Whether *client_id* is this client's and *secret* its secret (compared in constant time)."""
        return client_id == self.client_id and same_secret(secret, self.client_secret)


# -- an API behind AWS Cognito (002) ---------------------------------------------------------------


class CognitoEmulator(_ClientSecretEmulator):
    """AWS Cognito's ``POST /oauth2/token`` for OAuth 2.0 client credentials.

    The request must be a form (``application/x-www-form-urlencoded``) with
    ``grant_type=client_credentials`` and an optional ``scope``, the client
    authenticated by HTTP Basic (or, if ``accept_client_secret_post``, by
    ``client_id`` and ``client_secret`` in the form; never both). The answer is
    ``{"access_token", "expires_in", "token_type": "Bearer"}``. Refusals are
    400 with ``{"error", "error_description"}``, as Cognito answers:
    ``invalid_client`` (bad credentials), ``invalid_scope``,
    ``unauthorized_client`` (the client may not use this grant),
    ``unsupported_grant_type``, ``invalid_request``.

    Settings: ``allowed_scopes`` (the client's; all of them are granted when
    none is asked for), ``granted_scope`` (grant this narrower scope whatever
    is asked, and say so in the answer), ``client_credentials_allowed``,
    ``accept_client_secret_post``. The protected API under ``/api/`` answers 401
    ``{"message": "Unauthorized"}``, as API Gateway's Cognito authorizer does.
    """

    name = "cognito"
    token_path = "/oauth2/token"
    api_path = "/api/"
    default_lifetime = 3600.0  # Cognito's default access-token lifetime

    allowed_scopes: List[str]
    granted_scope: Optional[str]
    client_credentials_allowed: bool
    accept_client_secret_post: bool

    _FIELDS = frozenset({"grant_type", "scope", "client_id", "client_secret"})

    def _make_credentials(self) -> None:
        self.client_id = random_id(26)
        self.client_secret = random_id(51)

    def _reset_settings(self) -> None:
        self.allowed_scopes = [COGNITO_SCOPE_EXAMPLE, "api/read"]
        self.granted_scope = None
        self.client_credentials_allowed = True
        self.accept_client_secret_post = False

    def environ_values(self) -> Dict[str, str]:
        return _credentials_environ(self, scope=COGNITO_SCOPE_EXAMPLE)

    def auth(self, **options: Any) -> CognitoAuth:
        """``CognitoAuth`` for this emulator with the page's ``scope="api/write"``;
        *options* go to ``CognitoAuth``."""
        options.setdefault("scope", COGNITO_SCOPE_EXAMPLE)
        return CognitoAuth(self.client_id, self.client_secret, self.token_url, **self._auth_options(options))

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        form = oauth_form(request)
        unknown = sorted(set(form) - self._FIELDS)
        if unknown:
            raise oauth_refusal("invalid_request", f"unexpected parameter {unknown[0]}")
        client_id = self._authenticate(request, form)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise oauth_refusal("invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            raise oauth_refusal("unsupported_grant_type", f"grant_type {grant_type} is not supported")
        if not self.client_credentials_allowed:
            raise oauth_refusal("unauthorized_client", "the client is not allowed the client_credentials grant")
        requested = form.get("scope", "").split()
        for scope in requested:
            if scope not in self.allowed_scopes:
                raise oauth_refusal("invalid_scope", f"scope {scope} is not allowed for this client")
        granted = self.granted_scope.split() if self.granted_scope is not None else (requested or self.allowed_scopes)
        scope = " ".join(granted)
        claims = {"client_id": client_id, "token_use": "access", "iss": self.url, "version": 2}
        token, _ = self._issue(client_id, claims=claims, scope=scope)
        answer: Dict[str, Any] = {"access_token": token, "expires_in": seconds(self.lifetime), "token_type": "Bearer"}
        if requested and granted != requested:
            answer["scope"] = scope  # RFC 6749 §5.1: say so when the grant differs from the request
        return Reply(200, answer)

    def _authenticate(self, request: Request, form: Dict[str, str]) -> str:
        """The client id, once its secret is checked; or 400 ``invalid_client``."""
        basic = basic_credentials(request)
        if basic is not None:
            if "client_secret" in form:
                raise oauth_refusal("invalid_request", "the client authenticated twice (Basic and client_secret)")
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise oauth_refusal("invalid_client", "client_id does not match the Authorization header")
        elif "client_secret" in form:
            if not self.accept_client_secret_post:
                raise oauth_refusal("invalid_client", "this client authenticates with HTTP Basic")
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            raise oauth_refusal("invalid_client", "no client authentication")
        if not self._is_client(client_id, secret):
            raise oauth_refusal("invalid_client", "Client authentication failed")
        return client_id


# -- Dataloy (003) ----------------------------------------------------------------------------------


class DataloyEmulator(_ClientSecretEmulator):
    """Dataloy: client credentials as a JSON payload with an ``audience``.

    ``POST /oauth/token`` (the page gives no path; this is Auth0's, whose
    payload the page shows) with ``application/json`` and exactly
    ``{"client_id", "client_secret", "audience", "grant_type":
    "client_credentials"}``, answering ``{"access_token", "expires_in": 86400,
    "token_type": "Bearer"}``. Refusals, as Auth0 words them: 401
    ``access_denied`` "Unauthorized" for bad credentials, 403 ``access_denied``
    "Service not found" for an unknown audience, 400 ``invalid_request`` for a
    missing or unexpected field. ``/ws/rest/{Resource}`` answers an expired or
    revoked token with the page's 401 payload (``"message": "Token expired."``).

    Settings: ``audiences`` (accepted; by default the page's three),
    ``extra_fields`` (field names accepted beyond the page's four),
    ``accept_basic`` (take the id and secret from an HTTP Basic header instead).
    """

    name = "dataloy"
    token_path = "/oauth/token"
    api_path = "/ws/rest/"
    default_lifetime = 86400.0  # the page's example answer: "expires_in": 86400

    audiences: List[str]
    extra_fields: List[str]
    accept_basic: bool

    #: The payload of the page's example, in its order.
    _PAGE_FIELDS = ("client_id", "client_secret", "audience", "grant_type")

    def _make_credentials(self) -> None:
        self.client_id = random_id(32, _MIXED_CASE)
        self.client_secret = random_id(64, _MIXED_CASE + "-_")

    def _reset_settings(self) -> None:
        self.audiences = [DATALOY_AUDIENCE, "https://dataloy.dev", "https://dataloy.internal"]
        self.extra_fields = []
        self.accept_basic = False

    def environ_values(self) -> Dict[str, str]:
        return _credentials_environ(self, audience=DATALOY_AUDIENCE)

    def auth(self, **options: Any) -> DataloyAuth:
        """``DataloyAuth`` for this emulator (production audience by default);
        *options* go to ``DataloyAuth``."""
        return DataloyAuth(self.client_id, self.client_secret, self.token_url, **self._auth_options(options))

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        if media_type(request) != "application/json":
            raise oauth_refusal("invalid_request", "Content-Type must be application/json")
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            raise oauth_refusal("invalid_request", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise oauth_refusal("invalid_request", "the body is not a JSON object")
        basic = basic_credentials(request) if self.accept_basic else None
        page_fields = ("audience", "grant_type") if basic is not None else self._PAGE_FIELDS
        for field in page_fields:
            if not isinstance(body.get(field), str) or not body[field]:
                raise oauth_refusal("invalid_request", f"Missing required parameter: {field}")
        unexpected = sorted(set(body) - {*page_fields, *self.extra_fields})
        if unexpected:
            raise oauth_refusal("invalid_request", f"Unknown parameter: {unexpected[0]}")
        if body["grant_type"] != "client_credentials":
            raise oauth_refusal("unsupported_grant_type", f"Unsupported grant type: {body['grant_type']}")
        client_id, secret = basic if basic is not None else (body["client_id"], body["client_secret"])
        if not self._is_client(client_id, secret):
            raise oauth_refusal("access_denied", "Unauthorized", status=401)
        audience = body["audience"]
        if audience not in self.audiences:
            raise oauth_refusal("access_denied", f"Service not found: {audience}", status=403)
        claims = {"iss": self.url + "/", "aud": audience, "azp": client_id, "gty": "client-credentials"}
        token, _ = self._issue(f"{client_id}@clients", claims=claims)
        return Reply(200, {"access_token": token, "expires_in": seconds(self.lifetime), "token_type": "Bearer"})

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        message = "Token expired." if reason in (EXPIRED, REVOKED) else "Unauthorized."
        query = urlencode([(k, v) for k, values in request.query.items() for v in values])
        host = request.headers.get("Host", "127.0.0.1")
        uri = f"{'https' if self.tls else 'http'}://{host}{request.path}" + (f"?{query}" if query else "")
        return Reply(
            401,
            {
                "statusCode": 401,
                "statusText": "Unauthorized",
                "message": message,
                "date": datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                "statusFamily": "CLIENT_ERROR",
                "method": request.method,
                "uri": uri,
            },
        )
