"""Salesforce's token endpoint for the OAuth 2.0 JWT bearer flow, and an org's REST API, on loopback.

:class:`SalesforceEmulator` makes a connected app (a consumer key, an RSA key whose
certificate the app "holds") and a pre-authorized user, and checks each token request as
Salesforce's JWT flow page says
(https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm): the
grant type, an RS256 signature by the app's key, ``iss`` the consumer key, ``sub`` a
pre-authorized user, ``aud`` the login URL (login or test, or the site's own URL), ``exp``
not passed. Refusals are Salesforce's words: 400 ``invalid_grant`` "invalid assertion",
"audience is invalid", "expired authorization code", "user hasn't approved this consumer";
``invalid_client_id`` "client identifier invalid". The answer carries ``access_token``,
``instance_url`` (this emulator), ``id``, ``token_type`` and ``scope``, never a lifetime;
the session lasts :attr:`lifetime` (the org's session timeout). The REST API under
``/services/data/`` answers a dead session 401 ``[{"message": "Session expired or invalid",
"errorCode": "INVALID_SESSION_ID"}]``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Dict, List, Optional, Set

from ._emulator import ProviderEmulator
from ._jwt_bearer import JWT_BEARER, new_rsa_key, rs256_claims
from ._server import Reply, Request
from ._wire import Refusal, oauth_form, oauth_refusal, random_id

__all__ = ["SalesforceEmulator"]


#: The audiences Salesforce accepts besides a site's own URL (the JWT flow page, "aud").
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")

#: Seconds of clock skew allowed on exp (Salesforce does not publish one; a few minutes).
CLOCK_SKEW = 180


class SalesforceEmulator(ProviderEmulator):
    """A Salesforce org's login endpoint and REST API for one connected app.

    Attributes:
        consumer_key: the connected app's consumer key.
        username: a user pre-authorized for the app.
        private_key_pem: the app's private key (PEM, PKCS#8): the integration's secret.
        approved_users: the users the app may act as (``username`` at first).
        sandbox: expect ``aud`` = ``https://test.salesforce.com`` instead of login.
        seen_assertions: every assertion's decoded header and claims, in order.
    """

    name = "salesforce"
    token_path = "/services/oauth2/token"
    api_path = "/services/data/"
    default_lifetime = 7200.0  # Setup > Session Settings' default timeout: two hours

    consumer_key: str
    username: str
    _key_file: Optional[str] = None
    approved_users: Set[str]
    sandbox: bool

    def _make_credentials(self) -> None:
        key, self.private_key_pem = new_rsa_key()
        self.public_key = key.public_key()
        self.consumer_key = "3MVG9" + random_id(80, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._")
        self.org_id = "00D" + random_id(15, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        self.user_id = "005" + random_id(15, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        self.username = f"integration-{random_id(5)}@example.com"
        self.seen_assertions: List[Dict[str, Any]] = []

    def _reset_settings(self) -> None:
        self.approved_users = {self.username}
        self.sandbox = False
        self.seen_assertions = []

    @property
    def login_url(self) -> str:
        """The ``aud`` this org expects: login, or test for a sandbox."""
        return LOGIN_AUDIENCES[1] if self.sandbox else LOGIN_AUDIENCES[0]

    @property
    def credentials(self) -> Dict[str, str]:
        return {"consumer_key": self.consumer_key, "username": self.username, "private_key": self.private_key_pem}

    def environ_values(self) -> Dict[str, str]:
        """The app, the user, the key as a file (:attr:`key_file`), the login URL and this token endpoint."""
        return {
            "consumer_key": self.consumer_key,
            "username": self.username,
            "private_key": self.key_file,
            "login_url": self.login_url,
            "token_url": self.token_url,
        }

    @property
    def key_file(self) -> str:
        """The app's private key as a PEM file, written next to the server's CA bundle on first use."""
        path = self._key_file
        if path is None:
            handle, path = tempfile.mkstemp(prefix="multiauth-salesforce-", suffix=".key")
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(self.private_key_pem)
            self._key_file = path
        return path

    def stop(self) -> None:
        super().stop()
        path = self._key_file
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
            self._key_file = None

    def auth(self, **options: Any) -> Any:
        """``SalesforceJwtAuth`` for this org's app and user, posting here (``token_url=``)."""
        from ..providers.salesforce import SalesforceJwtAuth

        options.setdefault("login_url", self.login_url)
        options.setdefault("token_url", self.token_url)
        return SalesforceJwtAuth(self.consumer_key, self.username, self.private_key_pem, **self._auth_options(options))

    # -- the token endpoint ------------------------------------------------------------------

    def _token(self, request: Request) -> Reply:
        import jwt

        self._require_method(request, "POST")
        form = oauth_form(request)
        if form.get("grant_type") != JWT_BEARER:
            raise oauth_refusal("unsupported_grant_type", "grant type not supported")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise oauth_refusal("invalid_grant", "invalid assertion") from None
        if unverified.get("iss") != self.consumer_key:
            raise oauth_refusal("invalid_client_id", "client identifier invalid")
        if header.get("alg") != "RS256":
            raise oauth_refusal("invalid_grant", "invalid assertion")
        try:
            claims = rs256_claims(assertion, self.public_key)  # exp is checked below, on this clock
        except jwt.PyJWTError:
            raise oauth_refusal("invalid_grant", "invalid assertion") from None
        self.seen_assertions.append({"header": header, "claims": claims, "form": dict(form)})
        if claims.get("aud") not in (self.login_url, self.url):
            raise oauth_refusal("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        try:
            expires = float(exp)  # type: ignore[arg-type]  # the page's own example writes it as a string
        except (TypeError, ValueError):
            raise oauth_refusal("invalid_grant", "invalid assertion") from None
        if expires < self.clock() - CLOCK_SKEW:
            raise oauth_refusal("invalid_grant", "expired authorization code")
        if claims.get("sub") not in self.approved_users:
            raise oauth_refusal("invalid_grant", "user hasn't approved this consumer")
        token, _ = self._issue(str(claims["sub"]), jwt=False)
        token = self._as_session_id(token)
        return Reply(
            200,
            {
                "access_token": token,
                "scope": "api",
                "instance_url": self.url,
                "id": f"{self.login_url}/id/{self.org_id}/{self.user_id}",
                "token_type": "Bearer",
            },
        )

    def _as_session_id(self, token: str) -> str:
        """Re-key an issued token as Salesforce shapes a session id: ``<org id>!<opaque>``."""
        session_id = f"{self.org_id}!{token}"
        with self._lock:
            self._tokens[session_id] = self._tokens.pop(token)
        return session_id

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        # The REST API's answer to a missing, expired or revoked session.
        return Reply(
            401,
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            {"WWW-Authenticate": "Token"},
        )

    def _api(self, request: Request) -> Reply:
        if request.path.rstrip("/") == self.api_path.rstrip("/"):
            raise Refusal(Reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]))
        return super()._api(request)
