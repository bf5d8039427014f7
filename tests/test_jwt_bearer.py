"""JwtBearerAuth (RFC 7523 §2.1) against a second, independent implementation: Authlib's
``JWTBearerGrant`` in a Flask app over HTTPS on loopback, verifying signatures with
joserfc, checking ``aud`` against its token URL, a ``jti`` replay register switched on,
and a resource protected by Authlib's ResourceProtector.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc7523 import JWTBearerGrant
from joserfc.jwk import import_key

from requests_multiauth import ConfigurationError, JwtBearerAuth, RetryPolicy, TokenRequestError
from requests_multiauth.grants.jwt_bearer import JWT_BEARER_GRANT_TYPE, MAX_JWT_BEARER_LIFETIME
from requests_multiauth.testing import LocalServer
from tests.fixtures_authlib import SCOPE, AuthlibServer
from tests.fixtures_client_auth import jwt_claims, jwt_header
from tests.fixtures_secrets import SecretWatch

ISSUER = "svc-ledger-sync"
USER = "alice@example.com"
THREADS = 32
FAST_RETRY = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=5.0)


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, client_id: str, key: Any) -> None:
        self.client_id = client_id
        self.key = key

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: Optional[str]) -> str:
        return SCOPE if scope in (None, "", SCOPE) else ""

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == JWT_BEARER_GRANT_TYPE


class AuthlibJwtBearerServer(AuthlibServer):
    """Authlib's RFC 7523 authorization grant for the client ISSUER (a user or itself as the subject)."""

    name = "authlib-jwt-bearer-grant"
    grant_type = JWT_BEARER_GRANT_TYPE

    def __init__(self, serve: Callable[..., LocalServer], public_jwk: Dict[str, Any]) -> None:
        self.users = {USER, ISSUER}
        super().__init__(serve, {ISSUER: Client(ISSUER, import_key(public_jwk))})

    def register(self, server: AuthorizationServer) -> None:
        outer = self

        class Grant(JWTBearerGrant):  # type: ignore[misc]
            def resolve_issuer_client(self, issuer: str) -> Optional[Client]:
                return outer.clients.get(issuer)  # type: ignore[return-value]

            def resolve_client_public_key(self, client: Client) -> Any:
                return client.key

            def get_audiences(self) -> List[str]:
                return [outer.token_url]

            def authenticate_user(self, subject: str) -> Optional[str]:
                return subject if subject in outer.users else None

            def has_granted_permission(self, client: Client, user: str) -> bool:
                return True

            def verify_claims(self, claims: Any) -> None:
                super().verify_claims(claims)
                if not outer.first_use(claims.get("jti")):
                    from authlib.oauth2.rfc6749.errors import InvalidGrantError

                    raise InvalidGrantError(description="the assertion's jti was used before")

        server.register_grant(Grant)

    def assertions(self) -> List[str]:
        return [request.form()["assertion"][0] for request in self.token_requests()]


def _public_jwk(private: Any) -> Dict[str, Any]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(private, rsa.RSAPrivateKey):
        return jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[no-any-return]
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[no-any-return]


@pytest.fixture
def authlib_server(
    serve: Callable[..., LocalServer], client_keys: Dict[str, Any], secret_strings: SecretWatch
) -> Iterator[AuthlibJwtBearerServer]:
    secret_strings.add_private_key(client_keys["ec"])
    server = AuthlibJwtBearerServer(serve, _public_jwk(client_keys["ec"]))
    yield server
    secret_strings.add(*server.assertions())


def make_auth(server: AuthlibJwtBearerServer, key: Any, **options: Any) -> JwtBearerAuth:
    options.setdefault("session", server.server.session())
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("scope", SCOPE)
    return JwtBearerAuth(ISSUER, key, server.token_url, **options)


def api_session(server: AuthlibJwtBearerServer, auth: JwtBearerAuth) -> requests.Session:
    session = requests.Session()
    session.verify = server.server.verify
    session.auth = auth
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=THREADS))
    return session


# -- against Authlib's RFC 7523 grant ---------------------------------------------------------------


def test_authlib_grants_a_token_for_the_assertion_and_the_api_opens(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    auth = make_auth(authlib_server, client_keys["ec"], subject=USER)
    with api_session(authlib_server, auth) as session:
        for _ in range(3):
            response = session.get(authlib_server.api_url)
            assert response.status_code == 200
    assert response.json() == {"client": ISSUER, "user": USER}
    (sent,) = authlib_server.token_requests()
    assert sent.form()["grant_type"] == [JWT_BEARER_GRANT_TYPE]
    assert sent.form()["scope"] == [SCOPE]
    assert set(sent.form()) == {"grant_type", "assertion", "scope"}  # no client authentication of its own


def test_the_assertion_carries_rfc_7523_claims_and_the_keys_alg(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    before = int(time.time())
    auth = make_auth(authlib_server, client_keys["ec"], kid="key-2026", lifetime=120)
    auth.get_token()
    (assertion,) = authlib_server.assertions()
    claims, header = jwt_claims(assertion), jwt_header(assertion)
    assert header == {"alg": "ES256", "kid": "key-2026", "typ": "JWT"}
    assert claims["iss"] == claims["sub"] == ISSUER  # sub defaults to the issuer
    assert claims["aud"] == authlib_server.token_url  # aud defaults to the token URL
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 120
    assert len(claims["jti"]) >= 32


def test_every_try_signs_a_new_assertion_so_authlibs_replay_check_never_fires(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    authlib_server.fail_next = 3
    auth = make_auth(authlib_server, client_keys["ec"])
    with api_session(authlib_server, auth) as session:
        assert session.get(authlib_server.api_url).status_code == 200
    sent = authlib_server.assertions()
    assert len(sent) == 4
    assert len(set(sent)) == 4
    assert len({jwt_claims(a)["jti"] for a in sent}) == 4
    assert authlib_server.replays_refused == 0


def test_32_threads_make_one_token_call_and_a_revocation_renews_once_and_replays(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    auth = make_auth(authlib_server, client_keys["ec"])
    barrier = threading.Barrier(THREADS, timeout=30)
    statuses: List[int] = []

    def worker(session: requests.Session) -> None:
        barrier.wait()
        statuses.append(session.get(authlib_server.api_url, timeout=30).status_code)

    with api_session(authlib_server, auth) as session:
        threads = [threading.Thread(target=worker, args=(session,)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [200] * THREADS
        assert len(authlib_server.token_requests()) == 1
        authlib_server.revoke()
        replayed = session.get(authlib_server.api_url)
    assert replayed.status_code == 200
    assert [r.status_code for r in replayed.history] == [401]
    assert len(authlib_server.token_requests()) == 2


def test_an_unknown_subject_is_invalid_grant_naming_the_usual_causes(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    auth = make_auth(authlib_server, client_keys["ec"], subject="mallory@example.com")
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    message = str(caught.value)
    assert caught.value.error == "invalid_grant"
    assert caught.value.status_code == 400
    for cause in ("clock", "consented", f"aud={authlib_server.token_url}", "kid="):
        assert cause in message
    assert caught.value.attempts == 1  # a refusal is not retried
    for assertion in authlib_server.assertions():
        assert assertion not in message
        assert assertion not in repr(caught.value)


def test_a_wrong_audience_is_refused_by_authlib_with_the_advice(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    auth = make_auth(authlib_server, client_keys["ec"], audience="https://elsewhere.example/token")
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_grant"
    assert "aud=https://elsewhere.example/token" in str(caught.value)


def test_an_rsa_key_signs_rs256_and_authlib_accepts_it(
    serve: Callable[..., LocalServer], client_keys: Dict[str, Any], secret_strings: SecretWatch
) -> None:
    secret_strings.add_private_key(client_keys["rsa"])
    server = AuthlibJwtBearerServer(serve, _public_jwk(client_keys["rsa"]))
    auth = make_auth(server, client_keys["rsa"])
    with api_session(server, auth) as session:
        assert session.get(server.api_url).status_code == 200
    assert jwt_header(server.assertions()[0])["alg"] == "RS256"
    secret_strings.add(*server.assertions())


# -- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti", "nbf"])
def test_claims_may_not_set_what_the_grant_sets(client_keys: Dict[str, Any], claim: str) -> None:
    with pytest.raises(ConfigurationError, match=f"claims= may not set {claim}"):
        JwtBearerAuth(ISSUER, client_keys["ec"], "https://as.example/token", claims={claim: "x"})


def test_extra_claims_are_merged_into_every_assertion(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any]
) -> None:
    auth = make_auth(authlib_server, client_keys["ec"], claims={"tenant": "acme", "roles": ["reader"]})
    auth.get_token()
    claims = jwt_claims(authlib_server.assertions()[0])
    assert claims["tenant"] == "acme"
    assert claims["roles"] == ["reader"]
    assert claims["iss"] == ISSUER


@pytest.mark.parametrize("lifetime", [0, -5, MAX_JWT_BEARER_LIFETIME + 1, True])
def test_lifetime_is_between_1_s_and_an_hour(client_keys: Dict[str, Any], lifetime: Any) -> None:
    with pytest.raises(ConfigurationError, match="lifetime"):
        JwtBearerAuth(ISSUER, client_keys["ec"], "https://as.example/token", lifetime=lifetime)


def test_a_public_key_is_refused_at_construction(client_keys: Dict[str, Any]) -> None:
    from cryptography.hazmat.primitives import serialization

    public = (
        client_keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigurationError, match="public key"):
        JwtBearerAuth(ISSUER, public, "https://as.example/token")


def test_an_alg_the_key_cannot_sign_with_is_refused(client_keys: Dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="cannot sign with alg='RS256'"):
        JwtBearerAuth(ISSUER, client_keys["ec"], "https://as.example/token", alg="RS256")


def test_kid_and_alg_follow_a_jwk(
    authlib_server: AuthlibJwtBearerServer, client_keys: Dict[str, Any], secret_strings: SecretWatch
) -> None:
    import jwt

    private_jwk = jwt.algorithms.ECAlgorithm.to_jwk(client_keys["ec"], as_dict=True)
    private_jwk["kid"] = "from-the-jwk"
    auth = make_auth(authlib_server, private_jwk)
    auth.get_token()
    assert jwt_header(authlib_server.assertions()[0]) == {"alg": "ES256", "kid": "from-the-jwk", "typ": "JWT"}


def test_repr_shows_the_issuer_and_the_keys_thumbprint_never_the_key(client_keys: Dict[str, Any]) -> None:
    auth = JwtBearerAuth(ISSUER, client_keys["ec"], "https://as.example/token", subject=USER, scope="a b")
    shown = repr(auth)
    assert ISSUER in shown
    assert USER in shown
    assert "thumbprint=" in shown
    assert "PRIVATE" not in shown
