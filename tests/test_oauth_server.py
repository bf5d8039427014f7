"""ClientCredentialsAuth against a real OAuth 2.0 authorization server: Authlib's Flask
AuthorizationServer (client credentials with refresh tokens, and the refresh-token grant)
and a resource protected by Authlib's ResourceProtector, served over HTTPS on loopback."""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Optional

import pytest
import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, jsonify

from requests_multiauth import ClientCredentialsAuth, InvalidClientError, RetryPolicy
from requests_multiauth.testing import LocalServer, Reply, Request, wsgi_handler

CLIENT_ID = "svc-reporting"
SECRET = "as-Qm4Zt8Wc1Rk6Vn3y"
SCOPE = "data"
LIFETIME = 3600

THREADS = 32
#: The longest a test waits for a thread or a barrier: only a hang reaches it.
WAIT = 20.0

FAST_RETRY = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=5.0)


# -- the authorization server's models ---------------------------------------------------------


class Client(ClientMixin):  # type: ignore[misc]
    """A confidential client allowed both client authentication methods and both grants."""

    def __init__(self, client_id: str, secret: str, scope: str) -> None:
        self.client_id = client_id
        self.secret = secret
        self.scope = scope

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> Optional[str]:
        return None

    def get_allowed_scope(self, scope: Optional[str]) -> str:
        if not scope:
            return self.scope
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("client_credentials", "refresh_token")


class IssuedToken(TokenMixin):  # type: ignore[misc]
    def __init__(self, client_id: str, grant_type: str, fields: Dict[str, Any]) -> None:
        self.client_id = client_id
        self.grant_type = grant_type
        self.access_token: str = fields["access_token"]
        self.refresh_token: Optional[str] = fields.get("refresh_token")
        self.scope: str = fields.get("scope", "")
        self.expires_in: int = fields["expires_in"]
        self.issued_at = time.time()
        self.revoked = False
        self.refresh_revoked = False

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked


class Store:
    """The server's clients and issued tokens. Thread-safe."""

    def __init__(self) -> None:
        self.clients = {CLIENT_ID: Client(CLIENT_ID, SECRET, SCOPE)}
        self.tokens: List[IssuedToken] = []
        self._lock = threading.Lock()

    def save(self, token: IssuedToken) -> None:
        with self._lock:
            self.tokens.append(token)

    def by_access_token(self, value: str) -> Optional[IssuedToken]:
        with self._lock:
            return next((t for t in self.tokens if t.access_token == value), None)

    def by_refresh_token(self, value: str) -> Optional[IssuedToken]:
        with self._lock:
            return next((t for t in self.tokens if t.refresh_token == value and not t.refresh_revoked), None)

    def revoke_access_tokens(self) -> None:
        with self._lock:
            for token in self.tokens:
                token.revoked = True

    def grant_types(self) -> List[str]:
        with self._lock:
            return [t.grant_type for t in self.tokens]


class ClientCredentialsWithRefresh(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """RFC 6749 §4.4 says a refresh token SHOULD NOT be included; servers such as
    Diagrams' include one anyway, and so does this one."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[List[str]] = ["client_secret_basic", "client_secret_post"]

    def create_token_response(self) -> Any:
        token = self.generate_token(scope=self.request.payload.scope, include_refresh_token=True)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RotatingRefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """The refresh-token grant, issuing a new refresh token and revoking the old one."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[List[str]] = ["client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    store: Store

    def authenticate_refresh_token(self, refresh_token: str) -> Optional[IssuedToken]:
        return self.store.by_refresh_token(refresh_token)

    def authenticate_user(self, credential: IssuedToken) -> str:
        return credential.client_id  # a service account: the client is its own user

    def revoke_old_credential(self, credential: IssuedToken) -> None:
        credential.refresh_revoked = True


def make_app(store: Store) -> Flask:
    app = Flask("oauth-test-server")
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": LIFETIME, "refresh_token": LIFETIME}

    def save_token(fields: Dict[str, Any], request: Any) -> None:
        store.save(IssuedToken(request.client.get_client_id(), request.payload.grant_type, fields))

    server = AuthorizationServer(app, query_client=store.clients.get, save_token=save_token)
    RotatingRefreshGrant.store = store
    server.register_grant(ClientCredentialsWithRefresh)
    server.register_grant(RotatingRefreshGrant)

    class Validator(BearerTokenValidator):  # type: ignore[misc]
        def authenticate_token(self, token_string: str) -> Optional[IssuedToken]:
            return store.by_access_token(token_string)

    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(Validator())

    @app.route("/oauth/token", methods=["POST"])
    def issue_token() -> Response:
        return server.create_token_response()  # type: ignore[no-any-return]

    @app.route("/api/reports", methods=["GET", "POST"])
    @require_oauth(SCOPE)
    def reports() -> Response:
        return jsonify(client=current_token.client_id)

    return app


class OAuthServer:
    """The Flask app on a LocalServer, with what the API answered recorded in order.

    ``hold_api(n)`` makes the next *n* API requests wait for each other before they
    are answered, so that all *n* are in flight (and carry the same token) together.
    """

    def __init__(self, serve: Callable[..., LocalServer]) -> None:
        self.store = Store()
        self._app = wsgi_handler(make_app(self.store))
        self.api_statuses: List[int] = []
        self._lock = threading.Lock()
        self._held = 0
        self._barrier: Optional[threading.Barrier] = None
        self.server = serve(self.handle)
        self.token_url = self.server.url + "/oauth/token"
        self.api_url = self.server.url + "/api/reports"

    def handle(self, request: Request) -> Reply:
        is_api = request.path.startswith("/api/")
        barrier = None
        if is_api:
            with self._lock:
                if self._held:
                    self._held -= 1
                    barrier = self._barrier
        if barrier is not None:
            barrier.wait()
        reply = self._app(request)
        if is_api:
            with self._lock:
                self.api_statuses.append(reply.status)
        return reply

    def hold_api(self, count: int) -> None:
        with self._lock:
            self._held = count
            self._barrier = threading.Barrier(count, timeout=WAIT)

    def token_requests(self) -> List[Request]:
        return self.server.received("/oauth/token")


@pytest.fixture
def oauth(serve: Callable[..., LocalServer]) -> OAuthServer:
    return OAuthServer(serve)


@pytest.fixture
def make_auth(oauth: OAuthServer) -> Iterator[Callable[..., ClientCredentialsAuth]]:
    made: List[ClientCredentialsAuth] = []

    def make(secret: str = SECRET, **options: Any) -> ClientCredentialsAuth:
        options.setdefault("session", oauth.server.session())
        options.setdefault("retry", FAST_RETRY)
        options.setdefault("scope", SCOPE)
        auth = ClientCredentialsAuth(CLIENT_ID, secret, oauth.token_url, **options)
        made.append(auth)
        return auth

    yield make
    for auth in made:
        auth.close()


def api_session(oauth: OAuthServer, auth: ClientCredentialsAuth) -> requests.Session:
    session = requests.Session()
    session.verify = oauth.server.verify
    session.auth = auth
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=THREADS))
    return session


def run_together(count: int, target: Callable[[], Any]) -> List[Any]:
    """Run *target* on *count* threads released together; return what each returned or raised."""
    barrier = threading.Barrier(count, timeout=WAIT)
    outcomes: List[Any] = []
    guard = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            outcome = target()
        except Exception as exc:
            outcome = exc
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


# -- getting and using tokens -----------------------------------------------------------------


@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_tokens_from_authlib_open_a_resource_it_protects(
    client_auth: str, oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    auth = make_auth(client_auth=client_auth)
    with api_session(oauth, auth) as session:
        for _ in range(3):
            response = session.get(oauth.api_url)
            assert response.status_code == 200
            assert response.json() == {"client": CLIENT_ID}

    (token_request,) = oauth.token_requests()
    form = token_request.form()
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [SCOPE]
    if client_auth == "basic":
        assert token_request.headers["Authorization"].startswith("Basic ")
        assert "client_secret" not in form
    else:
        assert "Authorization" not in token_request.headers
        assert form["client_id"] == [CLIENT_ID]
    token = auth.get_token()
    assert token.refresh_token is not None
    assert token.scope == SCOPE


@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_a_wrong_secret_is_an_invalid_client_error(
    client_auth: str, oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    auth = make_auth(secret="as-wrong-secret-0000", client_auth=client_auth)
    with api_session(oauth, auth) as session, pytest.raises(InvalidClientError) as caught:
        session.get(oauth.api_url)
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code in (400, 401)  # Authlib: 401 after Basic, 400 after post
    assert len(oauth.token_requests()) == 1  # refused credentials are not retried
    assert oauth.api_statuses == []  # nothing went to the API without a token


# -- renewal through the refresh-token grant ------------------------------------------------------


def test_an_expired_token_is_renewed_through_the_refresh_grant(
    oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    clock = FakeClock()
    auth = make_auth(clock=clock)
    with api_session(oauth, auth) as session:
        assert session.get(oauth.api_url).status_code == 200
        first = auth.get_token()
        clock.now += LIFETIME  # expired by the client's clock
        assert session.get(oauth.api_url).status_code == 200
        second = auth.get_token()
        clock.now += LIFETIME
        assert session.get(oauth.api_url).status_code == 200
        third = auth.get_token()

    assert oauth.store.grant_types() == ["client_credentials", "refresh_token", "refresh_token"]
    refresh_forms = [r.form() for r in oauth.token_requests()[1:]]
    # each renewal used the refresh token of the answer before it (Authlib rotates them)
    assert refresh_forms[0]["refresh_token"] == [first.refresh_token]
    assert refresh_forms[1]["refresh_token"] == [second.refresh_token]
    assert len({first.access_token, second.access_token, third.access_token}) == 3


def test_a_token_is_renewed_ahead_of_expiry_while_requests_keep_succeeding(
    oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    clock = FakeClock()
    auth = make_auth(clock=clock)
    with api_session(oauth, auth) as session:
        assert session.get(oauth.api_url).status_code == 200
        first = auth.get_token()
        clock.now += LIFETIME - 200  # inside the renewal window (the last 300 s), still valid
        response = session.get(oauth.api_url)
        auth.close()  # waits for the background renewal
        assert response.status_code == 200
        assert response.request.headers["Authorization"] == f"Bearer {first.access_token}"
        assert auth.get_token().access_token != first.access_token
    assert oauth.store.grant_types() == ["client_credentials", "refresh_token"]


def test_a_refused_refresh_token_falls_back_to_client_credentials(
    oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    clock = FakeClock()
    auth = make_auth(clock=clock)
    with api_session(oauth, auth) as session:
        assert session.get(oauth.api_url).status_code == 200
        for token in oauth.store.tokens:
            token.refresh_revoked = True  # the server forgets every refresh token
        clock.now += LIFETIME
        assert session.get(oauth.api_url).status_code == 200
    assert [r.form()["grant_type"] for r in oauth.token_requests()] == [
        ["client_credentials"],
        ["refresh_token"],  # refused: invalid_grant
        ["client_credentials"],
    ]
    assert oauth.store.grant_types() == ["client_credentials", "client_credentials"]


# -- many threads -----------------------------------------------------------------------------------


def test_32_threads_starting_without_a_token_make_exactly_one_token_request(
    oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    auth = make_auth()
    with api_session(oauth, auth) as session:
        outcomes = run_together(THREADS, lambda: session.get(oauth.api_url))
    failures = [o for o in outcomes if not isinstance(o, requests.Response) or o.status_code != 200]
    assert failures == []
    assert len(outcomes) == THREADS
    assert len(oauth.token_requests()) == 1
    assert oauth.api_statuses == [200] * THREADS


def test_a_token_revoked_under_32_concurrent_requests_is_renewed_once_with_no_failed_request(
    oauth: OAuthServer, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    auth = make_auth()
    with api_session(oauth, auth) as session:
        assert session.get(oauth.api_url).status_code == 200
        revoked = auth.get_token()
        oauth.store.revoke_access_tokens()
        oauth.hold_api(THREADS)  # all 32 are in flight with the revoked token before any is answered
        outcomes = run_together(THREADS, lambda: session.get(oauth.api_url))

    failures = [o for o in outcomes if not isinstance(o, requests.Response) or o.status_code != 200]
    assert failures == []
    assert len(outcomes) == THREADS
    responses: List[requests.Response] = outcomes
    assert all([r.status_code for r in response.history] == [401] for response in responses)
    assert all(
        response.history[0].request.headers["Authorization"] == f"Bearer {revoked.access_token}"
        for response in responses
    )
    assert len({response.request.headers["Authorization"] for response in responses}) == 1  # one new token
    assert oauth.store.grant_types() == ["client_credentials", "refresh_token"]  # one renewal
    assert sorted(oauth.api_statuses) == [200] + [200] * THREADS + [401] * THREADS
