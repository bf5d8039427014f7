"""Discovery (RFC 8414, OpenID Connect Discovery) against a real HTTPS server on loopback:
the documents it finds, the ones it refuses before any token call, and the per-process cache."""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import requests

from requests_multiauth import (
    ClientCredentialsAuth,
    ConfigurationError,
    DiscoveryError,
    InsecureTransportError,
    ServerMetadata,
    discover,
)
from requests_multiauth.discovery import clear_discovery_cache, well_known_urls
from requests_multiauth.testing import LocalServer, Reply, Request

CLIENT_ID = "svc-discovery"
SECRET = "disc-Rk6Vn3yQm4Zt8Wc1"


class IdP:
    """A token endpoint plus a discovery document whose contents and location a test sets."""

    def __init__(self) -> None:
        self.document: Optional[Dict[str, Any]] = None
        self.where = "rfc8414"  # or "oidc", or "nowhere"
        self.raw: Optional[Reply] = None
        self.token_calls: List[Request] = []
        self.server = LocalServer(self.handle)

    @property
    def issuer(self) -> str:
        return self.server.url + "/tenant"

    def standard(self, **changes: Any) -> Dict[str, Any]:
        document: Dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": self.server.url + "/tenant/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "mtls_endpoint_aliases": {"token_endpoint": self.server.url + "/mtls/token"},
            "dpop_signing_alg_values_supported": ["ES256"],
        }
        document.update(changes)
        return document

    def handle(self, request: Request) -> Reply:
        if request.path == "/tenant/token":
            self.token_calls.append(request)
            return Reply(200, {"access_token": "disc-token-Zt8Wc1Rk6", "token_type": "Bearer", "expires_in": 3600})
        locations = {
            "rfc8414": "/.well-known/oauth-authorization-server/tenant",
            "oidc": "/tenant/.well-known/openid-configuration",
        }
        if request.path == locations.get(self.where):
            return self.raw if self.raw is not None else Reply(200, self.document)
        return Reply(404, {"error": "not_found"})


@pytest.fixture
def idp(monkeypatch: pytest.MonkeyPatch) -> Iterator[IdP]:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    clear_discovery_cache()
    server = IdP()
    with server.server:
        server.document = server.standard()
        yield server
    clear_discovery_cache()


def _discover(idp: IdP, **kwargs: Any) -> ServerMetadata:
    return discover(idp.issuer, session=idp.server.session(), **kwargs)


def _discovery_requests(idp: IdP) -> List[Request]:
    return [r for r in idp.server.received() if "well-known" in r.path]


def test_well_known_urls_insert_rfc8414_and_append_oidc() -> None:
    assert well_known_urls("https://idp.example/realms/x/") == [
        "https://idp.example/.well-known/oauth-authorization-server/realms/x",
        "https://idp.example/realms/x/.well-known/openid-configuration",
    ]
    assert well_known_urls("https://idp.example") == [
        "https://idp.example/.well-known/oauth-authorization-server",
        "https://idp.example/.well-known/openid-configuration",
    ]


def test_rfc8414_document_is_read(idp: IdP) -> None:
    metadata = _discover(idp)
    assert metadata.issuer == idp.issuer
    assert metadata.token_endpoint == idp.server.url + "/tenant/token"
    assert metadata.token_endpoint_auth_methods_supported == ("client_secret_post", "private_key_jwt")
    assert metadata.mtls_token_endpoint == idp.server.url + "/mtls/token"
    assert metadata.dpop_signing_alg_values_supported == ("ES256",)
    assert metadata.url.endswith("/.well-known/oauth-authorization-server/tenant")


def test_openid_configuration_is_the_fallback(idp: IdP) -> None:
    idp.where = "oidc"
    metadata = _discover(idp)
    assert metadata.url.endswith("/tenant/.well-known/openid-configuration")
    assert [r.path for r in _discovery_requests(idp)] == [
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/.well-known/openid-configuration",
    ]


def test_methods_default_to_client_secret_basic(idp: IdP) -> None:
    idp.document = idp.standard()
    del idp.document["token_endpoint_auth_methods_supported"]
    del idp.document["mtls_endpoint_aliases"]
    metadata = _discover(idp)
    assert metadata.token_endpoint_auth_methods_supported == ("client_secret_basic",)
    assert metadata.mtls_token_endpoint == metadata.token_endpoint


def test_another_issuer_is_refused_before_any_token_call(idp: IdP) -> None:
    idp.document = idp.standard(issuer="https://evil.example/tenant")
    with pytest.raises(DiscoveryError, match="mix-up"):
        ClientCredentialsAuth.from_issuer(idp.issuer, CLIENT_ID, SECRET, session=idp.server.session())
    assert idp.token_calls == []


def test_issuer_must_match_exactly_even_a_trailing_slash(idp: IdP) -> None:
    idp.document = idp.standard(issuer=idp.issuer + "/")
    with pytest.raises(DiscoveryError, match="names the issuer"):
        _discover(idp)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(200, "<html>login</html>", {"Content-Type": "text/html"}), "not JSON"),
        (Reply(200, [1, 2]), "not an object"),
        (Reply(500, "down"), "HTTP 500"),
        (Reply(403, "no"), "HTTP 403"),
    ],
)
def test_unusable_documents_are_typed_errors(idp: IdP, reply: Reply, message: str, monkeypatch: Any) -> None:
    monkeypatch.setattr("requests_multiauth.discovery.DISCOVERY_BACKOFF", 0.0)
    idp.raw = reply
    with pytest.raises(DiscoveryError, match=message):
        _discover(idp)


def test_a_document_without_token_endpoint_is_refused(idp: IdP) -> None:
    idp.document = idp.standard()
    del idp.document["token_endpoint"]
    with pytest.raises(DiscoveryError, match="no token_endpoint"):
        _discover(idp)


def test_a_plain_http_token_endpoint_is_refused(idp: IdP) -> None:
    idp.document = idp.standard(token_endpoint="http://127.0.0.1:1/token")
    with pytest.raises(DiscoveryError, match="not HTTPS"):
        _discover(idp)


def test_no_document_anywhere_names_what_was_tried(idp: IdP) -> None:
    idp.where = "nowhere"
    with pytest.raises(DiscoveryError, match=r"tried .*oauth-authorization-server.*openid-configuration"):
        _discover(idp)


def test_redirect_to_another_origin_is_refused(idp: IdP) -> None:
    idp.raw = Reply(302, None, {"Location": "https://127.0.0.2:9/doc"})
    with pytest.raises(DiscoveryError, match="another origin"):
        _discover(idp)
    assert idp.token_calls == []


def test_same_origin_redirect_is_followed(idp: IdP) -> None:
    document = idp.standard()

    def handle(request: Request) -> Reply:
        if request.path == "/.well-known/oauth-authorization-server/tenant":
            return Reply(301, None, {"Location": "/moved/metadata"})
        if request.path == "/moved/metadata":
            return Reply(200, document)
        return Reply(404)

    idp.server.handler = handle
    assert _discover(idp).token_endpoint == document["token_endpoint"]


def test_http_issuer_is_refused() -> None:
    with pytest.raises(InsecureTransportError):
        discover("http://idp.example/tenant")


def test_transient_faults_are_retried_a_bounded_number_of_times(idp: IdP, monkeypatch: Any) -> None:
    monkeypatch.setattr("requests_multiauth.discovery.DISCOVERY_BACKOFF", 0.0)
    answers = [Reply(503, "busy"), Reply(200, idp.standard())]
    good = Reply(200, idp.standard())

    def handle(request: Request) -> Reply:
        if "well-known/oauth-authorization-server" in request.path:
            return answers.pop(0) if answers else good
        return Reply(404)

    idp.server.handler = handle
    assert _discover(idp).issuer == idp.issuer
    assert len(_discovery_requests(idp)) == 2


def test_hundred_auths_from_one_issuer_fetch_once(idp: IdP) -> None:
    session = idp.server.session()
    errors: List[BaseException] = []
    auths: List[ClientCredentialsAuth] = []
    barrier = threading.Barrier(20, timeout=20)

    def build(count: int) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait()
                for _ in range(count):
                    auths.append(ClientCredentialsAuth.from_issuer(idp.issuer, CLIENT_ID, SECRET, session=session))
            except BaseException as exc:
                errors.append(exc)

        return run

    threads = [threading.Thread(target=build(5)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert len(auths) == 100
    assert len(_discovery_requests(idp)) == 1
    assert {auth.token_url for auth in auths} == {idp.server.url + "/tenant/token"}


def test_cache_expires_after_max_age(idp: IdP) -> None:
    now = [1000.0]
    _discover(idp, monotonic=lambda: now[0], max_age=60)
    _discover(idp, monotonic=lambda: now[0], max_age=60)
    now[0] += 61
    _discover(idp, monotonic=lambda: now[0], max_age=60)
    assert len(_discovery_requests(idp)) == 2


def test_from_issuer_chooses_a_listed_method_and_gets_a_token(idp: IdP) -> None:
    auth = ClientCredentialsAuth.from_issuer(idp.issuer, CLIENT_ID, SECRET, session=idp.server.session())
    assert auth.get_token().access_token == "disc-token-Zt8Wc1Rk6"
    (call,) = idp.token_calls
    # The server lists client_secret_post, not client_secret_basic: the secret goes in the body.
    assert call.form()["client_secret"] == [SECRET]
    assert "Authorization" not in call.headers


def test_from_issuer_refuses_an_unlisted_explicit_method(idp: IdP) -> None:
    with pytest.raises(ConfigurationError, match="'client_secret_basic' is not among the methods"):
        ClientCredentialsAuth.from_issuer(
            idp.issuer, CLIENT_ID, SECRET, client_auth="basic", session=idp.server.session()
        )
    assert idp.token_calls == []


def test_from_issuer_without_a_usable_method_says_what_to_pass(idp: IdP) -> None:
    idp.document = idp.standard(token_endpoint_auth_methods_supported=["private_key_jwt"])
    with pytest.raises(ConfigurationError, match="PrivateKeyJwt"):
        ClientCredentialsAuth.from_issuer(idp.issuer, CLIENT_ID, SECRET, session=idp.server.session())


def test_discovery_honours_an_explicit_session_verify_over_the_environment(
    idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    assert _discover(idp).issuer == idp.issuer


def test_from_issuer_signs_assertions_for_the_issuer(idp: IdP, secret_strings: Any) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from requests_multiauth import PrivateKeyJwt

    key = ec.generate_private_key(ec.SECP256R1())
    auth = ClientCredentialsAuth.from_issuer(
        idp.issuer, CLIENT_ID, client_auth=PrivateKeyJwt(key), session=idp.server.session()
    )
    auth.get_token()
    (call,) = idp.token_calls
    (assertion,) = call.form()["client_assertion"]
    secret_strings.add(assertion)
    claims = jwt.decode(assertion, key.public_key(), algorithms=["ES256"], audience=idp.issuer)
    assert claims["iss"] == claims["sub"] == CLIENT_ID


def test_from_issuer_sends_mtls_clients_to_the_mtls_alias(idp: IdP, tmp_path: Any) -> None:
    import trustme

    from requests_multiauth import TlsClientAuth

    idp.document = idp.standard(token_endpoint_auth_methods_supported=["tls_client_auth"])
    cert = trustme.CA().issue_cert("client.example")
    cert_path, key_path = tmp_path / "client.pem", tmp_path / "client.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    auth = ClientCredentialsAuth.from_issuer(
        idp.issuer, CLIENT_ID, client_auth=TlsClientAuth(str(cert_path), str(key_path)), session=idp.server.session()
    )
    assert auth.token_url == idp.server.url + "/mtls/token"
    with pytest.raises(ConfigurationError, match="not among the methods"):
        ClientCredentialsAuth.from_issuer(
            idp.issuer, CLIENT_ID, SECRET, client_auth="client_secret_post", session=idp.server.session()
        )
