"""Authlib's authorization server and a protected API on one LocalServer: the second,
independent implementation our RFC 7523 tests run against (client assertions in
test_client_auth_authlib.py, the JWT-bearer grant in test_jwt_bearer.py).

:class:`AuthlibServer` owns what both share: the issued tokens and Authlib's bearer
validator, ``/oauth/token`` and the protected ``/api/ledger``, a ``jti`` register, and
503s before Authlib sees a request (``fail_next``). A subclass registers its grant and
client authentication in :meth:`AuthlibServer.register`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, jsonify

from requests_multiauth.testing import LocalServer, Reply, Request, wsgi_handler

#: The scope the API asks for.
SCOPE = "ledger"

#: Seconds an access token lives.
LIFETIME = 3600


class IssuedToken(TokenMixin):  # type: ignore[misc]
    """An access token the server issued, to *client_id* (for *user*, with the JWT-bearer grant)."""

    def __init__(self, client_id: str, user: Optional[str], fields: Mapping[str, Any]) -> None:
        self.client_id = client_id
        self.user = user
        self.scope: str = fields.get("scope", "")
        self.expires_in: int = fields["expires_in"]
        self.issued_at = time.time()
        self.revoked = False

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.client_id  # type: ignore[no-any-return]

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked


class AuthlibServer:
    """Authlib's authorization server for *clients* (by id) and its API ``/api/ledger``,
    answering ``{"client": ...}`` (and ``"user"`` when the token has one)."""

    #: The Flask app's name, and the grant type whose tokens live LIFETIME seconds.
    name = "authlib"
    grant_type = "client_credentials"

    def __init__(self, serve: Callable[..., LocalServer], clients: Mapping[str, ClientMixin]) -> None:
        self.lock = threading.Lock()
        self.jtis: set[str] = set()
        self.replays_refused = 0
        self.fail_next = 0
        self.tokens: Dict[str, IssuedToken] = {}
        self.clients = dict(clients)
        self._app = wsgi_handler(self._make_app())
        self.server = serve(self.handle)
        self.token_url = self.server.url + "/oauth/token"
        self.api_url = self.server.url + "/api/ledger"

    def register(self, server: AuthorizationServer) -> None:
        """Register the grant (and client authentication) this server speaks."""
        raise NotImplementedError

    def first_use(self, jti: Any) -> bool:
        """Whether *jti* is new (then it is remembered); a replay is counted in ``replays_refused``."""
        with self.lock:
            if jti in self.jtis:
                self.replays_refused += 1
                return False
            self.jtis.add(jti)
            return True

    def _make_app(self) -> Flask:
        app = Flask(self.name)
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {self.grant_type: LIFETIME}

        def save_token(fields: Dict[str, Any], request: Any) -> None:
            with self.lock:
                self.tokens[fields["access_token"]] = IssuedToken(request.client.get_client_id(), request.user, fields)

        server = AuthorizationServer(app, query_client=self.clients.get, save_token=save_token)
        self.register(server)

        class Validator(BearerTokenValidator):  # type: ignore[misc]
            def authenticate_token(inner, token_string: str) -> Optional[IssuedToken]:  # inner: self is the server
                with self.lock:
                    return self.tokens.get(token_string)

        protect = ResourceProtector()
        protect.register_token_validator(Validator())

        @app.route("/oauth/token", methods=["POST"])
        def issue_token() -> Response:
            return server.create_token_response()  # type: ignore[no-any-return]

        @app.route("/api/ledger")
        @protect(SCOPE)
        def ledger() -> Response:
            user = {"user": current_token.user} if current_token.user is not None else {}
            return jsonify(client=current_token.client_id, **user)

        return app

    def handle(self, request: Request) -> Reply:
        if request.path == "/oauth/token":
            with self.lock:
                failing = self.fail_next > 0
                if failing:
                    self.fail_next -= 1
            if failing:
                return Reply(503, {"error": "temporarily_unavailable"})
        return self._app(request)

    def token_requests(self) -> List[Request]:
        return self.server.received("/oauth/token")

    def revoke(self) -> None:
        """Revoke every token issued so far (the API then answers 401)."""
        with self.lock:
            for token in self.tokens.values():
                token.revoked = True
