"""OAuth2Emulator, driven by hand-made requests (requests, PyJWT, cryptography): it accepts what
a standard authorization server accepts and refuses what one must refuse."""

from __future__ import annotations

import os
import stat
from typing import Any, Dict, Optional

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from requests_multiauth.testing import LocalServer, ManualClock, OAuth2Emulator, RegisteredClient, Reply

from .jose_by_hand import ASSERTION_TYPE, DPoPSigner, access_token_claims, make_assertion

METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]


def token_request(
    server: OAuth2Emulator,
    client: RegisteredClient,
    *,
    url: Optional[str] = None,
    data: Optional[Dict[str, str]] = None,
    headers: Optional[Dict[str, str]] = None,
    cert: Any = "default",
    now: Optional[float] = None,
) -> requests.Response:
    """A client-credentials request authenticated as *client* is registered."""
    form: Dict[str, str] = {"grant_type": "client_credentials"}
    auth = None
    url = url or server.token_url
    if data and "client_assertion" in data:
        form["client_assertion_type"] = ASSERTION_TYPE
    elif client.method == "client_secret_basic":
        auth = (client.client_id, client.client_secret)
    elif client.method == "client_secret_post":
        form.update(client_id=client.client_id, client_secret=client.client_secret or "")
    elif client.method == "client_secret_jwt":
        signed = make_assertion(client.client_id, url, client.client_secret, "HS256", now=now)
        form.update(client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    elif client.method == "private_key_jwt":
        signed = make_assertion(
            client.client_id, url, client.private_key_pem, client.alg or "", kid=client.kid, now=now
        )
        form.update(client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    else:
        form["client_id"] = client.client_id
    form.update(data or {})
    return requests.post(
        url,
        data=form,
        auth=auth,
        headers=headers,
        cert=client.cert if cert == "default" else cert,
        verify=server.verify,
        timeout=10,
    )


def api_get(
    server: OAuth2Emulator, token: str, *, scheme: str = "Bearer", proof: Optional[str] = None, cert: Any = None
) -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return requests.get(server.api_url + "things", headers=headers, cert=cert, verify=server.verify, timeout=10)


@pytest.fixture
def server() -> Any:
    with OAuth2Emulator() as emulator:
        yield emulator


# -- discovery -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"])
def test_discovery_documents_the_server(server: OAuth2Emulator, path: str) -> None:
    document = requests.get(server.url + path, verify=server.verify, timeout=10).json()
    assert document["issuer"] == server.issuer == server.url
    assert document["token_endpoint"] == server.token_url
    assert document["token_endpoint_auth_methods_supported"] == METHODS
    assert document["mtls_endpoint_aliases"] == {"token_endpoint": server.mtls_token_url}
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    jwks = requests.get(document["jwks_uri"], verify=server.verify, timeout=10).json()
    assert [key["kid"] for key in jwks["keys"]] == [server.jwks["keys"][0]["kid"]]
    assert "d" not in jwks["keys"][0]
    assert server.metadata_calls == 1


def test_metadata_overrides_serve_a_mixed_up_issuer(server: OAuth2Emulator) -> None:
    server.metadata_overrides["issuer"] = "https://attacker.example"
    server.metadata_overrides["token_endpoint_auth_methods_supported"] = ["private_key_jwt"]
    document = requests.get(server.url + "/.well-known/openid-configuration", verify=server.verify, timeout=10).json()
    assert document["issuer"] == "https://attacker.example"
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    server.reset()
    assert server.metadata()["issuer"] == server.issuer


# -- every method -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gets_a_token_that_the_api_accepts(
    server: OAuth2Emulator, secret_strings: Any, method: str
) -> None:
    client = server.register_client(method)
    secret_strings.add(client.client_secret)
    response = token_request(server, client)
    assert response.status_code == 200, response.text
    answer = response.json()
    secret_strings.add(answer["access_token"])
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 3600)
    claims = access_token_claims(answer["access_token"])
    assert (claims["iss"], claims["client_id"], claims["aud"]) == (server.issuer, client.client_id, server.api_url)
    api = api_get(server, answer["access_token"], cert=client.cert)
    assert api.status_code == 200, api.text
    assert api.json()["client_id"] == client.client_id
    assert server.count_token_calls(method=method, grant_type="client_credentials", outcome="ok") == 1
    assert server.count_api_calls(scheme="Bearer", outcome="ok") == 1


def test_an_access_token_verifies_with_the_published_key(server: OAuth2Emulator) -> None:
    import jwt

    token = token_request(server, server.register_client()).json()["access_token"]
    key = jwt.PyJWK(server.jwks["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=server.api_url, issuer=server.issuer)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    assert claims["exp"] - claims["iat"] == 3600


def test_a_client_is_held_to_the_method_it_was_registered_with(server: OAuth2Emulator) -> None:
    client = server.register_client("client_secret_basic")
    as_post = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.client_secret},
        verify=server.verify,
        timeout=10,
    )
    assert as_post.status_code == 401
    assert as_post.json()["error"] == "invalid_client"
    assert server.count_token_calls(client_id=client.client_id, outcome="invalid_client") == 1


def test_two_authentication_methods_at_once_are_refused(server: OAuth2Emulator) -> None:
    client = server.register_client("client_secret_basic")
    response = token_request(server, client, data={"client_secret": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_wrong_secret_is_refused(server: OAuth2Emulator) -> None:
    client = server.register_client("client_secret_basic")
    response = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "wrong"),
        verify=server.verify,
        timeout=10,
    )
    assert response.status_code == 401
    assert server.count_token_calls(method="client_secret_basic", outcome="invalid_client") == 1


def test_the_client_record_shows_no_secret(server: OAuth2Emulator) -> None:
    secret_client = server.register_client("client_secret_post")
    key_client = server.register_client("private_key_jwt")
    assert secret_client.client_secret
    assert secret_client.client_secret not in repr(secret_client)
    assert key_client.private_key_pem is not None
    assert "PRIVATE" not in repr(key_client)
    assert key_client.key_path is not None
    assert stat.S_IMODE(os.stat(key_client.key_path).st_mode) == 0o600


# -- client assertions --------------------------------------------------------------------------------------


def test_private_key_jwt_with_the_clients_own_rsa_key_and_ps256(server: OAuth2Emulator) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    client = server.register_client("private_key_jwt", key=public_pem, alg="PS256")
    signed = make_assertion(client.client_id, server.issuer, private, "PS256", kid=client.kid)
    response = token_request(server, client, data={"client_assertion": signed})
    assert response.status_code == 200, response.text
    (seen,) = server.assertions()
    assert (seen.alg, seen.kid, seen.aud) == ("PS256", client.kid, server.issuer)
    with pytest.raises(ValueError, match="does not fit"):
        server.register_client("private_key_jwt", key=public_pem, alg="ES256")


def test_a_replayed_assertion_is_refused_and_counted(server: OAuth2Emulator) -> None:
    client = server.register_client("private_key_jwt")
    signed = make_assertion(client.client_id, server.token_url, client.private_key_pem, "ES256", jti="same")
    assert token_request(server, client, data={"client_assertion": signed}).status_code == 200
    again = token_request(server, client, data={"client_assertion": signed})
    assert again.status_code == 401
    assert "replayed" in again.json()["error_description"]
    assert server.assertion_replays == 1


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "https://elsewhere.example/token"}, "aud"),
        ({"iss": "someone-else"}, "iss and sub"),
        ({"lifetime": 301}, "longer than"),
        ({"lifetime": -5}, "expired"),
        ({"jti": ""}, "jti"),
    ],
)
def test_an_assertion_must_be_for_this_server_short_lived_and_unique(
    server: OAuth2Emulator, claims: Dict[str, Any], why: str
) -> None:
    client = server.register_client("private_key_jwt")
    options = dict(claims)
    audience = options.pop("aud", server.token_url)
    lifetime = options.pop("lifetime", 60)
    signed = make_assertion(client.client_id, audience, client.private_key_pem, "ES256", lifetime=lifetime, **options)
    if options.get("jti") == "":
        signed = make_assertion(client.client_id, audience, client.private_key_pem, "ES256", jti="x")
        import jwt

        body = jwt.decode(signed, options={"verify_signature": False})
        del body["jti"]
        signed = jwt.encode(body, client.private_key_pem, algorithm="ES256")
    response = token_request(server, client, data={"client_assertion": signed})
    assert response.status_code == 401
    assert why in response.json()["error_description"]


def test_an_assertion_signed_with_another_key_is_refused(server: OAuth2Emulator) -> None:
    client = server.register_client("private_key_jwt")
    other = server.register_client("private_key_jwt")
    signed = make_assertion(client.client_id, server.token_url, other.private_key_pem, "ES256")
    response = token_request(server, client, data={"client_assertion": signed})
    assert response.status_code == 401
    assert "signature" in response.json()["error_description"]


def test_client_secret_jwt_refuses_an_asymmetric_alg(server: OAuth2Emulator) -> None:
    client = server.register_client("client_secret_jwt")
    key_client = server.register_client("private_key_jwt")
    signed = make_assertion(client.client_id, server.token_url, key_client.private_key_pem, "ES256")
    assert token_request(server, client, data={"client_assertion": signed}).status_code == 401


def test_assertions_expire_on_the_emulators_clock() -> None:
    clock = ManualClock()
    with OAuth2Emulator(clock=clock) as server:
        client = server.register_client("client_secret_jwt")
        signed = make_assertion(client.client_id, server.token_url, client.client_secret, "HS256", now=clock())
        clock.advance(61)
        response = token_request(server, client, data={"client_assertion": signed})
        assert response.status_code == 401
        assert token_request(server, client, now=clock()).status_code == 200


# -- mutual TLS -----------------------------------------------------------------------------------------------


def test_the_mtls_alias_is_the_same_endpoint_logged_apart(server: OAuth2Emulator) -> None:
    client = server.register_client("tls_client_auth")
    assert token_request(server, client, url=server.mtls_token_url).status_code == 200
    assert token_request(server, client).status_code == 200
    assert [call.path for call in server.token_log()] == ["/mtls/token", "/token"]


def test_tls_client_auth_needs_the_clients_certificate(server: OAuth2Emulator) -> None:
    client = server.register_client("tls_client_auth")
    other = server.register_client("self_signed_tls_client_auth")
    assert token_request(server, client, cert=None).status_code == 401
    assert token_request(server, client, cert=other.cert).status_code == 401
    assert token_request(server, other, cert=client.cert).status_code == 401
    assert server.count_token_calls(outcome="invalid_client") == 3


def test_a_certificate_bound_token_needs_its_certificate_at_the_api(server: OAuth2Emulator) -> None:
    client = server.register_client("self_signed_tls_client_auth")
    other = server.register_client("tls_client_auth")
    token = token_request(server, client).json()["access_token"]
    assert access_token_claims(token)["cnf"]["x5t#S256"] == client.cert_thumbprint
    refused = api_get(server, token)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')
    assert api_get(server, token, cert=other.cert).status_code == 401
    assert api_get(server, token, cert=client.cert).status_code == 200
    assert server.count_api_calls(outcome="invalid_token") == 2


def test_a_secret_client_can_have_certificate_bound_tokens(server: OAuth2Emulator) -> None:
    tls = server.register_client("tls_client_auth")
    client = server.register_client("client_secret_basic", certificate_bound=True)
    assert token_request(server, client).status_code == 400  # no certificate to bind to
    token = token_request(server, client, cert=tls.cert).json()["access_token"]
    assert api_get(server, token).status_code == 401
    assert api_get(server, token, cert=tls.cert).status_code == 200


def test_local_server_records_the_client_certificate() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("client.test")
    with LocalServer(lambda request: Reply(200, {"ok": True}), ca=ca, client_certs=True) as local:
        with leaf.cert_chain_pems[0].tempfile() as cert, leaf.private_key_pem.tempfile() as key:
            requests.get(local.url + "/with", cert=(cert, key), verify=local.verify, timeout=10)
        requests.get(local.url + "/without", verify=local.verify, timeout=10)
        with_cert, without = local.received()
    from cryptography import x509

    assert with_cert.client_cert is not None
    assert with_cert.client_cert == x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER
    )
    assert without.client_cert is None


# -- DPoP ---------------------------------------------------------------------------------------------------


def dpop_token(server: OAuth2Emulator, signer: DPoPSigner, client: RegisteredClient) -> str:
    response = token_request(server, client, headers={"DPoP": signer.proof("POST", server.token_url)})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    token: str = response.json()["access_token"]
    assert access_token_claims(token)["cnf"] == {"jkt": signer.thumbprint}
    return token


def test_a_dpop_bound_client_must_send_a_proof(server: OAuth2Emulator) -> None:
    client = server.register_client("client_secret_basic", dpop_bound=True)
    assert token_request(server, client).status_code == 400
    dpop_token(server, DPoPSigner(), client)
    assert server.count_token_calls(dpop=True, outcome="ok") == 1
    assert server.count_token_calls(dpop=False, outcome="invalid_request") == 1


def test_a_dpop_token_works_only_with_a_proof_of_its_key(server: OAuth2Emulator) -> None:
    signer, thief = DPoPSigner(), DPoPSigner()
    token = dpop_token(server, signer, server.register_client("private_key_jwt"))
    url = server.api_url + "things"
    assert api_get(server, token, scheme="DPoP", proof=signer.proof("GET", url, token=token)).status_code == 200
    as_bearer = api_get(server, token)
    assert as_bearer.status_code == 401
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    assert api_get(server, token, scheme="DPoP", proof=thief.proof("GET", url, token=token)).status_code == 401
    assert api_get(server, token, scheme="DPoP").status_code == 401  # no proof at all
    assert server.count_api_calls(scheme="DPoP", outcome="ok") == 1
    assert server.count_api_calls(scheme="Bearer", outcome="invalid_token") == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"method": "POST"}, "htm"),
        ({"url": "/api/other"}, "htu"),
        ({"query": "?page=2"}, "htu"),
        ({"ath": "another-token"}, "ath"),
        ({"iat": -120}, "iat"),
        ({"typ": "JWT"}, "typ"),
        ({"private_jwk": True}, "public key"),
    ],
)
def test_the_api_checks_every_proof_field(server: OAuth2Emulator, change: Dict[str, Any], why: str) -> None:
    import time

    signer = DPoPSigner()
    token = dpop_token(server, signer, server.register_client())
    url = (server.url + change["url"]) if "url" in change else server.api_url + "things" + change.get("query", "")
    jwk = {**signer.jwk, "d": "AAAA"} if change.get("private_jwk") else None
    proof = signer.proof(
        change.get("method", "GET"),
        url,
        token=change.get("ath", token),
        iat=time.time() + change["iat"] if "iat" in change else None,
        typ=change.get("typ", "dpop+jwt"),
        jwk=jwk,
    )
    response = api_get(server, token, scheme="DPoP", proof=proof)
    assert response.status_code == 401
    assert why in response.json()["error_description"]
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_a_proof_is_used_once(server: OAuth2Emulator) -> None:
    signer = DPoPSigner()
    token = dpop_token(server, signer, server.register_client())
    proof = signer.proof("GET", server.api_url + "things", token=token)
    assert api_get(server, token, scheme="DPoP", proof=proof).status_code == 200
    assert api_get(server, token, scheme="DPoP", proof=proof).status_code == 401
    assert server.dpop_replays == 1


def test_the_token_endpoint_can_require_a_nonce(server: OAuth2Emulator) -> None:
    server.token_dpop_nonce = True
    signer = DPoPSigner()
    client = server.register_client()
    first = token_request(server, client, headers={"DPoP": signer.proof("POST", server.token_url)})
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    proof = signer.proof("POST", server.token_url, nonce=nonce)
    second = token_request(server, client, headers={"DPoP": proof})
    assert second.status_code == 200
    assert second.headers["DPoP-Nonce"] == nonce
    assert server.nonce_challenges == {"token": 1, "api": 0}
    assert server.count_token_calls(outcome="use_dpop_nonce") == 1


def test_the_api_nonce_rotates_on_the_emulators_clock() -> None:
    clock = ManualClock()
    with OAuth2Emulator(clock=clock) as server:
        signer = DPoPSigner()
        token = dpop_token(server, signer, server.register_client())
        server.api_dpop_nonce = True
        server.nonce_rotation = 2
        url = server.api_url + "things"
        challenged = api_get(server, token, scheme="DPoP", proof=signer.proof("GET", url, token=token))
        assert challenged.status_code == 401
        assert challenged.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
        nonce = challenged.headers["DPoP-Nonce"]
        ok = api_get(server, token, scheme="DPoP", proof=signer.proof("GET", url, token=token, nonce=nonce))
        assert ok.status_code == 200
        assert ok.headers["DPoP-Nonce"] == nonce
        clock.advance(2)
        stale = api_get(server, token, scheme="DPoP", proof=signer.proof("GET", url, token=token, nonce=nonce))
        assert stale.status_code == 401
        assert stale.headers["DPoP-Nonce"] != nonce
        assert server.nonce_challenges == {"token": 0, "api": 2}
        assert [call.outcome for call in server.api_log()] == ["use_dpop_nonce", "ok", "use_dpop_nonce"]


# -- lifetime, clock, faults -----------------------------------------------------------------------------------


def test_tokens_expire_on_the_emulators_clock() -> None:
    clock = ManualClock()
    with OAuth2Emulator(clock=clock, lifetime=30) as server:
        answer = token_request(server, server.register_client()).json()
        assert answer["expires_in"] == 30
        assert api_get(server, answer["access_token"]).status_code == 200
        clock.advance(30)
        expired = api_get(server, answer["access_token"])
        assert expired.status_code == 401
        assert "expired" in expired.json()["error_description"]


def test_an_injected_fault_answers_instead_and_is_counted(server: OAuth2Emulator) -> None:
    server.inject(Reply(503, {"error": "temporarily_unavailable"}))
    client = server.register_client()
    assert token_request(server, client).status_code == 503
    assert token_request(server, client).status_code == 200
    assert server.token_calls == 2
    assert server.count_token_calls() == 1  # the log holds what the endpoint itself answered


def test_the_fixture_gives_a_running_server(oauth2_server: OAuth2Emulator) -> None:
    auth = oauth2_server.auth()
    response = oauth2_server.api_session().get(oauth2_server.api_url + "x", auth=auth)
    assert response.status_code == 200
    assert oauth2_server.count_token_calls(method="client_secret_basic", outcome="ok") == 1


# -- the library's discovery against it ------------------------------------------------------------------------


def test_from_issuer_builds_a_working_auth_from_the_discovery_document(server: OAuth2Emulator) -> None:
    from requests_multiauth import ClientCredentialsAuth, discover

    client = server.register_client("client_secret_post")
    session = server.api_session()
    metadata = discover(server.issuer, session=session)
    assert metadata.mtls_endpoint_aliases["token_endpoint"] == server.mtls_token_url
    auth = ClientCredentialsAuth.from_issuer(
        server.issuer, client.client_id, client.client_secret, client_auth="client_secret_post", session=session
    )
    assert session.get(server.api_url + "things", auth=auth).status_code == 200
    assert server.count_token_calls(method="client_secret_post", outcome="ok") == 1


def test_a_document_naming_another_issuer_is_refused_before_any_token_call(server: OAuth2Emulator) -> None:
    from requests_multiauth import ClientCredentialsAuth, DiscoveryError

    server.metadata_overrides["issuer"] = server.issuer + "/other"
    client = server.register_client()
    with pytest.raises(DiscoveryError):
        ClientCredentialsAuth.from_issuer(
            server.issuer, client.client_id, client.client_secret, session=server.api_session()
        )
    assert server.token_calls == 0


def test_a_redirect_within_the_origin_needs_a_new_proof(server: OAuth2Emulator) -> None:
    signer = DPoPSigner()
    token = dpop_token(server, signer, server.register_client())
    proof = signer.proof("POST", server.url + "/redirect/moved", token=token)
    response = requests.post(
        server.url + "/redirect/moved?page=2",
        json={"n": 1},
        headers={"Authorization": f"DPoP {token}", "DPoP": proof},
        verify=server.verify,
        timeout=10,
    )
    assert [r.status_code for r in response.history] == [307]
    assert response.history[0].headers["Location"] == "/api/moved?page=2"
    assert response.status_code == 401  # requests resent the old proof, made for the old URL
    assert "htu" in response.json()["error_description"]
    again = requests.post(
        server.api_url + "moved?page=2",
        json={"n": 1},
        headers={"Authorization": f"DPoP {token}", "DPoP": signer.proof("POST", server.api_url + "moved", token=token)},
        verify=server.verify,
        timeout=10,
    )
    assert again.status_code == 200
    assert again.json()["received"] == {"n": 1}


@pytest.mark.parametrize("method", METHODS)
def test_auth_authenticates_the_way_the_client_was_registered(server: OAuth2Emulator, method: str) -> None:
    import requests_multiauth

    needed = {"client_secret_jwt": "ClientSecretJwt", "private_key_jwt": "PrivateKeyJwt"}.get(method, "TlsClientAuth")
    if method.startswith("client_secret_") and method != "client_secret_jwt":
        needed = "ClientCredentialsAuth"
    if not hasattr(requests_multiauth, needed):
        pytest.skip(f"this version of requests_multiauth has no {needed}")
    client = server.register_client(method)
    auth = server.auth(client)
    session = server.api_session(cert=client.cert)
    assert session.get(server.api_url + "things", auth=auth).status_code == 200
    assert server.count_token_calls(client_id=client.client_id, method=method, outcome="ok") == 1
    expected_path = "/mtls/token" if method.endswith("tls_client_auth") else "/token"
    assert [call.path for call in server.token_log()] == [expected_path]
