"""client_secret_jwt and private_key_jwt against a second, independent implementation:
Authlib's AuthorizationServer with its RFC 7523 client assertion authentication
(``JWTBearerClientAssertion``, verifying with joserfc), its ``jti`` replay check
switched on, and a resource protected by Authlib's ResourceProtector, over HTTPS on
loopback.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Optional

import jwt
import pytest
import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import OctKey, import_key

from requests_multiauth import (
    ClientAssertion,
    ClientCredentialsAuth,
    ClientSecretJwt,
    InvalidClientError,
    PrivateKeyJwt,
    RetryPolicy,
)
from requests_multiauth.testing import LocalServer
from tests.fixtures_authlib import LIFETIME, SCOPE, AuthlibServer
from tests.fixtures_client_auth import WAIT, assertions_of, jwt_claims
from tests.fixtures_secrets import SecretWatch

SECRET_CLIENT = "svc-secret-jwt"
KEY_CLIENT = "svc-key-jwt"
SECRET = "hs-Vd8Kq3Zr6Wm1Tp9Xy4Nb7Lc2Gf5Js0Hu3Ae8Qi1Ro6Sk9Pl2Dm5Fn7Ct4Bw0E"
THREADS = 32

FAST_RETRY = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=5.0)


class Client(ClientMixin):  # type: ignore[misc]
    """A confidential client that authenticates with a JWT: MACed with its secret, or signed with its key."""

    def __init__(self, client_id: str, key: Any) -> None:
        self.client_id = client_id
        self.key = key  # a joserfc key: OctKey(secret) or the public key

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> Optional[str]:
        return None

    def get_allowed_scope(self, scope: Optional[str]) -> str:
        return SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # a shared secret never travels: only assertions authenticate

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == JWTBearerClientAssertion.CLIENT_AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class AssertionAuth(JWTBearerClientAssertion):  # type: ignore[misc]
    """Authlib's RFC 7523 client authentication, with a real jti replay check."""

    def __init__(self, server: ClientAssertionServer) -> None:
        super().__init__(leeway=5)
        self.server = server

    def get_audiences(self) -> List[str]:
        return [self.server.token_url]

    def validate_jti(self, claims: Dict[str, Any], jti: str) -> bool:
        return self.server.first_use(jti)

    def resolve_client_public_key(self, client: Client) -> Any:
        return client.key


class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[List[str]] = [JWTBearerClientAssertion.CLIENT_AUTH_METHOD]


class ClientAssertionServer(AuthlibServer):
    """Authlib's client credentials grant, its clients authenticated by RFC 7523 assertions."""

    name = "authlib-jwt-client-auth"

    def __init__(self, serve: Callable[..., LocalServer], public_key: Any) -> None:
        clients = {
            SECRET_CLIENT: Client(SECRET_CLIENT, OctKey.import_key(SECRET)),
            KEY_CLIENT: Client(KEY_CLIENT, import_key(public_key)),
        }
        super().__init__(serve, clients)

    def register(self, server: AuthorizationServer) -> None:
        server.register_client_auth_method(JWTBearerClientAssertion.CLIENT_AUTH_METHOD, AssertionAuth(self))
        server.register_grant(ClientCredentials)


@pytest.fixture
def authlib_server(
    serve: Callable[..., LocalServer], client_keys: Dict[str, Any], secret_strings: SecretWatch
) -> Iterator[ClientAssertionServer]:
    for key in client_keys.values():
        secret_strings.add_private_key(key)
    secret_strings.add(SECRET)
    server = ClientAssertionServer(serve, _public_jwk(client_keys["ec"]))
    yield server
    secret_strings.add_assertions(assertions_of(server.token_requests()))


def _public_jwk(private: Any) -> Dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(private, rsa.RSAPrivateKey):
        return jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[no-any-return]
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[no-any-return]


def make_auth(
    server: ClientAssertionServer, method: str, client_keys: Dict[str, Any], **options: Any
) -> ClientCredentialsAuth:
    options.setdefault("session", server.server.session())
    options.setdefault("retry", FAST_RETRY)
    if method == "client_secret_jwt":
        return ClientCredentialsAuth(
            SECRET_CLIENT, SECRET, server.token_url, scope=SCOPE, client_auth=ClientSecretJwt(), **options
        )
    return ClientCredentialsAuth(
        KEY_CLIENT, token_url=server.token_url, scope=SCOPE, client_auth=PrivateKeyJwt(client_keys["ec"]), **options
    )


def api_session(server: ClientAssertionServer, auth: ClientCredentialsAuth) -> requests.Session:
    session = requests.Session()
    session.verify = server.server.verify
    session.auth = auth
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=THREADS))
    return session


METHODS = ["client_secret_jwt", "private_key_jwt"]


@pytest.mark.parametrize("method", METHODS)
def test_authlib_accepts_the_assertion_and_its_token_opens_the_api(
    authlib_server: ClientAssertionServer, client_keys: Dict[str, Any], method: str
) -> None:
    auth = make_auth(authlib_server, method, client_keys)
    with api_session(authlib_server, auth) as session:
        for _ in range(3):
            response = session.get(authlib_server.api_url)
            assert response.status_code == 200
    client_id = SECRET_CLIENT if method == "client_secret_jwt" else KEY_CLIENT
    assert response.json() == {"client": client_id}
    (sent,) = authlib_server.token_requests()
    assert sent.form()["client_id"] == [client_id]
    assert authlib_server.replays_refused == 0


def test_private_key_jwt_with_an_rsa_key(
    serve: Callable[..., LocalServer], client_keys: Dict[str, Any], secret_strings: SecretWatch
) -> None:
    server = ClientAssertionServer(serve, _public_jwk(client_keys["rsa"]))
    secret_strings.add_private_key(client_keys["rsa"])
    auth = ClientCredentialsAuth(
        KEY_CLIENT,
        token_url=server.token_url,
        client_auth=PrivateKeyJwt(client_keys["rsa"]),
        session=server.server.session(),
    )
    with api_session(server, auth) as session:
        assert session.get(server.api_url).status_code == 200
    secret_strings.add_assertions(assertions_of(server.token_requests()))


@pytest.mark.parametrize("method", METHODS)
def test_retries_after_transient_faults_never_provoke_the_replay_refusal(
    authlib_server: ClientAssertionServer, client_keys: Dict[str, Any], method: str
) -> None:
    authlib_server.fail_next = 3
    auth = make_auth(authlib_server, method, client_keys)
    with api_session(authlib_server, auth) as session:
        assert session.get(authlib_server.api_url).status_code == 200
    sent = assertions_of(authlib_server.token_requests())
    assert len(sent) == 4
    assert len({jwt_claims(a)["jti"] for a in sent}) == 4
    assert authlib_server.replays_refused == 0


def test_the_replay_refusal_is_live_a_reused_assertion_is_refused(
    authlib_server: ClientAssertionServer, client_keys: Dict[str, Any]
) -> None:
    # What would happen if an assertion were cached: the same jti twice.
    method = PrivateKeyJwt(client_keys["ec"])
    fixed = method.key.sign(method.claims(KEY_CLIENT, authlib_server.token_url))
    auth = ClientCredentialsAuth(
        KEY_CLIENT,
        token_url=authlib_server.token_url,
        client_auth=ClientAssertion(lambda: fixed),
        session=authlib_server.server.session(),
    )
    auth.get_token()
    auth.invalidate()
    with pytest.raises(InvalidClientError) as caught:
        auth.get_token()
    assert "used before" in str(caught.value)
    assert authlib_server.replays_refused == 1
    assert fixed not in str(caught.value)


@pytest.mark.parametrize("method", METHODS)
def test_32_threads_after_expiry_make_one_token_call(
    authlib_server: ClientAssertionServer, client_keys: Dict[str, Any], method: str
) -> None:
    now = [time.time()]
    auth = make_auth(authlib_server, method, client_keys, clock=lambda: now[0])
    with api_session(authlib_server, auth) as session:
        assert session.get(authlib_server.api_url).status_code == 200
        now[0] += LIFETIME + 1  # expired by the client's clock: every thread needs a new token
        barrier = threading.Barrier(THREADS, timeout=WAIT)
        statuses: List[Any] = []
        guard = threading.Lock()

        def call() -> None:
            try:
                barrier.wait()
                status: Any = session.get(authlib_server.api_url, timeout=WAIT).status_code
            except Exception as exc:
                status = exc
            with guard:
                statuses.append(status)

        threads = [threading.Thread(target=call, daemon=True) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in threads)
    assert statuses == [200] * THREADS
    assert len(authlib_server.token_requests()) == 2  # the first token, and one renewal for all 32
    assert authlib_server.replays_refused == 0


def test_a_key_the_server_does_not_know_is_refused_once_and_not_retried(
    authlib_server: ClientAssertionServer, client_keys: Dict[str, Any]
) -> None:
    auth = ClientCredentialsAuth(
        KEY_CLIENT,
        token_url=authlib_server.token_url,
        client_auth=PrivateKeyJwt(client_keys["rsa"]),  # the server knows the EC key
        session=authlib_server.server.session(),
        retry=FAST_RETRY,
    )
    with pytest.raises(InvalidClientError):
        auth.get_token()
    assert len(authlib_server.token_requests()) == 1
