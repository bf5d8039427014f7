"""The oidc-provider harness itself, driven by hand-made requests (requests, PyJWT, cryptography).

These tests prove that the server the client tests rely on refuses what it must: a replayed
assertion, a certificate-bound token without its certificate, a DPoP token without its key, a
proof without the nonce it asked for. The library's own clients are tested against it elsewhere.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

import pytest
import requests

from .fixtures_oidc import OidcClient, OidcProvider
from .jose_by_hand import ASSERTION_TYPE, DPoPSigner, make_assertion
from .jose_by_hand import access_token_claims as claims_of


def assertion(client: OidcClient, audience: str, *, jti: Optional[str] = None) -> str:
    if client.method == "client_secret_jwt":
        return make_assertion(client.client_id, audience, client.secret, "HS256", jti=jti)
    key = client.private_key_pem()
    return make_assertion(client.client_id, audience, key, client.alg or "", kid=client.kid, jti=jti)


def token_request(oidc: OidcProvider, client: OidcClient, **extra: Any) -> requests.Response:
    """One client-credentials request, authenticated the way *client* is registered."""
    data: Dict[str, str] = {"grant_type": "client_credentials", "resource": oidc.resource}
    headers: Dict[str, str] = dict(extra.pop("headers", {}))
    url = oidc.token_endpoint
    cert = None
    auth = None
    if client.method == "client_secret_basic":
        auth = (client.client_id, client.secret)
    elif client.method == "client_secret_post":
        data.update(client_id=client.client_id, client_secret=client.secret or "")
    elif client.method in ("client_secret_jwt", "private_key_jwt"):
        data.update(client_assertion_type=ASSERTION_TYPE, client_assertion=assertion(client, oidc.token_endpoint))
    else:  # tls_client_auth, self_signed_tls_client_auth: the certificate, on the mTLS alias
        data["client_id"] = client.client_id
        url = oidc.mtls_token_endpoint
        cert = client.cert
    data.update(extra.pop("data", {}))
    url = extra.pop("url", url)
    cert = extra.pop("cert", cert)
    return requests.post(url, data=data, headers=headers, auth=auth, cert=cert, verify=oidc.ca_path, timeout=10)


def api_get(
    oidc: OidcProvider, token: str, *, scheme: str = "Bearer", proof: Optional[str] = None, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return requests.get(oidc.api_url + "things", headers=headers, verify=oidc.ca_path, timeout=10, **kw)


# -- discovery ------------------------------------------------------------------------------------


def test_discovery_names_the_issuer_exactly_and_the_mtls_alias(oidc: OidcProvider) -> None:
    document = requests.get(oidc.discovery_url, verify=oidc.ca_path, timeout=10).json()
    assert document["issuer"] == oidc.issuer
    assert document["token_endpoint"] == oidc.token_endpoint
    assert document["mtls_endpoint_aliases"]["token_endpoint"] == oidc.mtls_token_endpoint
    assert set(document["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    }
    assert "ES256" in document["dpop_signing_alg_values_supported"]


# -- every client authentication method ------------------------------------------------------------


@pytest.mark.parametrize("name", ["basic", "post", "secret-jwt", "jwt-rsa", "jwt-ec", "jwt-ed", "tls", "self-signed"])
def test_each_method_gets_a_jwt_for_the_resource_that_the_api_accepts(
    oidc: OidcProvider, secret_strings: Any, name: str
) -> None:
    client = oidc.client(name)
    response = token_request(oidc, client)
    assert response.status_code == 200, response.text
    answer = response.json()
    secret_strings.add(answer["access_token"], client.secret)
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 2
    claims = claims_of(answer["access_token"])
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (oidc.issuer, oidc.resource, client.client_id)
    assert claims["exp"] - claims["iat"] == 2

    api = api_get(oidc, answer["access_token"], cert=client.cert)
    assert api.status_code == 200, api.text
    assert api.json()["client_id"] == client.client_id
    assert oidc.counters()["token"] == {client.client_id: {"client_credentials": {"ok": 1}}}
    assert oidc.api_calls("Bearer", outcome="ok") == 1


def test_the_assertions_the_provider_verified_are_recorded(oidc: OidcProvider) -> None:
    client = oidc.client("jwt-ec")
    assert token_request(oidc, client).status_code == 200
    (seen,) = oidc.events("assertion")
    assert (seen["client_id"], seen["alg"], seen["kid"], seen["aud"]) == (
        "jwt-ec",
        "ES256",
        client.kid,
        oidc.token_endpoint,
    )
    assert seen["exp"] - seen["iat"] == 60


def test_a_replayed_assertion_is_refused_and_counted(oidc: OidcProvider) -> None:
    client = oidc.client("jwt-rsa")
    reused = assertion(client, oidc.issuer, jti="the-same-jti")
    data = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": reused}
    assert token_request(oidc, client, data=data).status_code == 200
    refused = token_request(oidc, client, data=data)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    counters = oidc.counters()
    assert counters["assertion_replays_refused"] == 1
    assert counters["token"]["jwt-rsa"]["client_credentials"] == {"ok": 1, "invalid_client": 1}


def test_a_wrong_secret_is_counted_as_a_failed_token_call(oidc: OidcProvider) -> None:
    client = oidc.client("basic")
    response = requests.post(
        oidc.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "not-the-secret"),
        verify=oidc.ca_path,
        timeout=10,
    )
    assert response.status_code == 401
    assert oidc.token_calls("basic", outcome="invalid_client") == 1


# -- mutual TLS ---------------------------------------------------------------------------------------


def test_tls_client_auth_without_a_certificate_is_refused(oidc: OidcProvider) -> None:
    response = token_request(oidc, oidc.client("tls"), cert=None)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_self_signed_certificate_is_not_the_registered_ca_issued_one(oidc: OidcProvider) -> None:
    response = token_request(oidc, oidc.client("tls"), cert=oidc.client("self-signed").cert)
    assert response.status_code == 401


def test_a_certificate_bound_token_needs_its_certificate_at_the_api(oidc: OidcProvider) -> None:
    client = oidc.client("tls")
    token = token_request(oidc, client).json()["access_token"]
    assert claims_of(token)["cnf"]["x5t#S256"]
    without = api_get(oidc, token)
    assert without.status_code == 401
    assert 'error="invalid_token"' in without.headers["WWW-Authenticate"]
    assert api_get(oidc, token, cert=oidc.client("self-signed").cert).status_code == 401
    assert api_get(oidc, token, cert=client.cert).status_code == 200
    assert oidc.counters()["api"]["Bearer"] == {"invalid_token": 2, "ok": 1}


def test_the_token_endpoint_and_its_mtls_alias_are_counted_apart(oidc: OidcProvider) -> None:
    client = oidc.client("self-signed")
    assert token_request(oidc, client).status_code == 200
    assert token_request(oidc, client, url=oidc.token_endpoint).status_code == 200
    assert oidc.counters()["token_by_port"] == {"issuer": 1, "mtls": 1}


# -- DPoP -----------------------------------------------------------------------------------------------


def dpop_token(oidc: OidcProvider, signer: DPoPSigner, name: str = "dpop-basic") -> str:
    proof = signer.proof("POST", oidc.token_endpoint)
    response = token_request(oidc, oidc.client(name), headers={"DPoP": proof})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    token: str = response.json()["access_token"]
    assert claims_of(token)["cnf"] == {"jkt": signer.thumbprint}
    return token


def test_a_dpop_bound_client_without_a_proof_is_refused(oidc: OidcProvider) -> None:
    response = token_request(oidc, oidc.client("dpop-basic"))
    assert response.status_code == 400
    assert oidc.counters()["token_dpop"]["without_proof"] == 1


def test_a_dpop_token_is_accepted_with_a_proof_of_its_key_only(oidc: OidcProvider) -> None:
    signer = DPoPSigner()
    token = dpop_token(oidc, signer, "dpop-jwt")
    url = oidc.api_url + "things"
    assert api_get(oidc, token, scheme="DPoP", proof=signer.proof("GET", url, token=token)).status_code == 200
    assert api_get(oidc, token).status_code == 401  # as a bearer token
    thief = DPoPSigner()
    assert api_get(oidc, token, scheme="DPoP", proof=thief.proof("GET", url, token=token)).status_code == 401
    counters = oidc.counters()
    assert counters["api"]["DPoP"] == {"ok": 1, "invalid_token": 1}
    assert counters["api"]["Bearer"] == {"invalid_token": 1}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"method": "POST"}, "htm"),
        ({"url": "/elsewhere"}, "htu"),
        ({"query": "?a=1"}, "htu"),
        ({"ath": "another-token"}, "ath"),
        ({"iat": -600}, "iat"),
        ({"typ": "JWT"}, "typ"),
    ],
)
def test_the_api_checks_every_proof_field(oidc: OidcProvider, change: Dict[str, Any], why: str) -> None:
    signer = DPoPSigner()
    token = dpop_token(oidc, signer)
    url = oidc.api_url + "things"
    proof = signer.proof(
        change.get("method", "GET"),
        (oidc.api_origin + change["url"]) if "url" in change else url + change.get("query", ""),
        token=change.get("ath", token),
        iat=int(time.time()) + change["iat"] if "iat" in change else None,
        typ=change.get("typ", "dpop+jwt"),
    )
    response = api_get(oidc, token, scheme="DPoP", proof=proof)
    assert response.status_code == 401
    assert why in response.json()["error_description"]
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_the_api_refuses_a_replayed_proof(oidc: OidcProvider) -> None:
    signer = DPoPSigner()
    token = dpop_token(oidc, signer)
    proof = signer.proof("GET", oidc.api_url + "things", token=token)
    assert api_get(oidc, token, scheme="DPoP", proof=proof).status_code == 200
    assert api_get(oidc, token, scheme="DPoP", proof=proof).status_code == 401
    assert oidc.counters()["api_dpop_replays_refused"] == 1


def test_the_token_endpoint_can_require_a_nonce(oidc: OidcProvider) -> None:
    oidc.control(token_dpop_nonce=True)
    signer = DPoPSigner()
    client = oidc.client("dpop-basic")
    first = token_request(oidc, client, headers={"DPoP": signer.proof("POST", oidc.token_endpoint)})
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    proof = signer.proof("POST", oidc.token_endpoint, nonce=nonce)
    second = token_request(oidc, client, headers={"DPoP": proof})
    assert second.status_code == 200, second.text
    assert oidc.counters()["token_dpop"] == {"with_proof": 2, "without_proof": 0, "use_dpop_nonce": 1}
    jtis = [event["dpop_jti"] for event in oidc.events("token")]
    assert len(set(jtis)) == 2
    assert None not in jtis


def test_the_api_can_require_a_nonce_and_rotates_it(oidc: OidcProvider) -> None:
    signer = DPoPSigner()
    token = dpop_token(oidc, signer)
    oidc.control(api_dpop_nonce=True, api_nonce_rotation=1)
    url = oidc.api_url + "things"
    challenged = api_get(oidc, token, scheme="DPoP", proof=signer.proof("GET", url, token=token))
    assert challenged.status_code == 401
    assert challenged.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce = challenged.headers["DPoP-Nonce"]
    answered = api_get(oidc, token, scheme="DPoP", proof=signer.proof("GET", url, token=token, nonce=nonce))
    assert answered.status_code == 200
    assert answered.headers["DPoP-Nonce"] == nonce
    time.sleep(1.1)
    stale = api_get(oidc, token, scheme="DPoP", proof=signer.proof("GET", url, token=token, nonce=nonce))
    assert stale.status_code == 401
    assert stale.headers["DPoP-Nonce"] != nonce
    counters = oidc.counters()
    assert counters["api_nonce_challenges"] == 2
    assert counters["api"]["DPoP"] == {"use_dpop_nonce": 2, "ok": 1}


# -- settings ------------------------------------------------------------------------------------------


def test_the_token_lifetime_is_a_setting_and_the_api_checks_expiry(oidc: OidcProvider) -> None:
    oidc.control(access_token_ttl=1)
    answer = token_request(oidc, oidc.client("post")).json()
    assert answer["expires_in"] == 1
    time.sleep(2.05)
    expired = api_get(oidc, answer["access_token"])
    assert expired.status_code == 401
    assert "ERR_JWT_EXPIRED" in expired.json()["error_description"]
    oidc.reset()
    assert oidc.settings()["access_token_ttl"] == 2


def test_the_librarys_discovery_reads_oidc_providers_document(oidc: OidcProvider) -> None:
    from requests_multiauth import ClientCredentialsAuth, discover

    session = oidc.session()
    metadata = discover(oidc.issuer, session=session)
    assert metadata.token_endpoint == oidc.token_endpoint
    assert metadata.mtls_endpoint_aliases["token_endpoint"] == oidc.mtls_token_endpoint
    client = oidc.client("basic")
    auth = ClientCredentialsAuth.from_issuer(oidc.issuer, client.client_id, client.secret, session=session)
    assert session.get(oidc.api_url + "things", auth=auth).status_code == 200
    assert oidc.token_calls("basic", outcome="ok") == 1


def test_the_api_redirects_within_its_origin_and_echoes_the_body(oidc: OidcProvider) -> None:
    token = token_request(oidc, oidc.client("basic")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.post(
        oidc.api_origin + "/redirect/moved?x=1", json={"n": 1}, headers=headers, verify=oidc.ca_path, timeout=10
    )
    assert [r.status_code for r in response.history] == [307]
    assert response.history[0].headers["Location"] == "/api/moved?x=1"
    assert response.status_code == 200  # requests keeps Authorization on a same-origin redirect
    assert response.json()["path"] == "/api/moved"
    assert response.json()["received"] == {"n": 1}
    assert oidc.counters()["api"]["redirect"] == {"sent": 1}
