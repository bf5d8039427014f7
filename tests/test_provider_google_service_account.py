"""GoogleServiceAccountAuth on the Google token-endpoint emulator, with google-auth as the wire peer.

google-auth's ``service_account.Credentials`` and ``IDTokenCredentials`` are pointed at the
same emulator (the key file's ``token_uri``) through ``google.auth.transport.requests.Request``,
and each test that says "equals google-auth" compares the two token requests field by field
and claim by claim. Documented exceptions: google-auth adds its metrics header
``x-goog-api-client`` (telemetry for Google, not part of the grant), and ``iat``/``exp`` are
compared by a window (they are the clock's), the signatures not at all (each assertion is
signed anew; both verify against the account's key, which the emulator checks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests

from requests_multiauth import (
    ConfigurationError,
    GoogleServiceAccountAuth,
    InvalidClientError,
    TokenRequestError,
    get_provider,
)
from requests_multiauth.providers.google_service_account import GOOGLE_TOKEN_AUDIENCE
from requests_multiauth.testing import GoogleServiceAccountEmulator, ManualClock, Request
from tests.fixtures_client_auth import jwt_claims
from tests.fixtures_secrets import SecretWatch
from tests.fixtures_vendors import (
    BURST_THREADS,
    PROCESSES,
    burst_after_expiry,
    processes_share_a_file_cache,
    watched_jwt_bearer_emulator,
)

#: How far apart our iat and google-auth's may be: the two requests are made a moment apart.
CLOCK_WINDOW = 5


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def google(clock: ManualClock, secret_strings: SecretWatch) -> Iterator[GoogleServiceAccountEmulator]:
    with watched_jwt_bearer_emulator(GoogleServiceAccountEmulator(clock=clock), secret_strings) as emulator:
        yield emulator


def peer_request(emulator: GoogleServiceAccountEmulator) -> Any:
    """google-auth's requests transport, trusting the emulator's CA."""
    from google.auth.transport.requests import Request as GoogleTransport

    session = requests.Session()
    session.verify = emulator.verify
    session.trust_env = False
    return GoogleTransport(session=session)


def last_two(google: GoogleServiceAccountEmulator) -> Tuple[Request, Request]:
    *_, ours, peers = google.token_requests()
    return ours, peers


def assert_same_token_request(ours: Request, peers: Request) -> None:
    """Field by field, claim by claim; iat/exp by window; x-goog-api-client is google-auth's alone."""
    our_form, peer_form = ours.form(), peers.form()
    assert set(our_form) == set(peer_form) == {"grant_type", "assertion"}
    assert our_form["grant_type"] == peer_form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    our_assertion, peer_assertion = our_form["assertion"][0], peer_form["assertion"][0]
    import jwt

    assert jwt.get_unverified_header(our_assertion) == jwt.get_unverified_header(peer_assertion)
    ours_claims, peer_claims = jwt_claims(our_assertion), jwt_claims(peer_assertion)
    assert set(ours_claims) == set(peer_claims)
    for name in set(ours_claims) - {"iat", "exp"}:
        assert ours_claims[name] == peer_claims[name], name
    assert abs(ours_claims["iat"] - peer_claims["iat"]) <= CLOCK_WINDOW
    assert ours_claims["exp"] - ours_claims["iat"] == peer_claims["exp"] - peer_claims["iat"] == 3600
    assert ours.method == peers.method == "POST"
    assert ours.path == peers.path
    assert ours.headers["Content-Type"] == peers.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "x-goog-api-client" in peers.headers  # the documented exception
    assert "x-goog-api-client" not in ours.headers


# -- the wire, against google-auth ------------------------------------------------------------------


def test_access_token_request_equals_google_auths_field_by_field_and_claim_by_claim(
    google: GoogleServiceAccountEmulator,
) -> None:
    from google.oauth2 import service_account

    scopes = ["https://www.googleapis.com/auth/cloud-platform", "api"]
    ours = google.auth(scopes=scopes)
    ours.get_token()
    peer = service_account.Credentials.from_service_account_file(google.key_file, scopes=scopes)
    peer.refresh(peer_request(google))
    our_request, peer_request_ = last_two(google)
    assert_same_token_request(our_request, peer_request_)
    claims = jwt_claims(our_request.form()["assertion"][0])
    assert claims["iss"] == google.client_email
    assert claims["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert claims["scope"] == " ".join(scopes)
    assert "sub" not in claims


def test_delegated_request_equals_google_auths_with_subject(google: GoogleServiceAccountEmulator) -> None:
    from google.oauth2 import service_account

    google.delegated_users.add("admin@example.com")
    ours = google.auth(scopes="api", subject="admin@example.com")
    assert google.api_session().get(google.api_url + "x", auth=ours).json()["subject"] == "admin@example.com"
    peer = service_account.Credentials.from_service_account_file(
        google.key_file, scopes=["api"], subject="admin@example.com"
    )
    peer.refresh(peer_request(google))
    our_request, peer_request_ = last_two(google)
    assert_same_token_request(our_request, peer_request_)
    assert jwt_claims(our_request.form()["assertion"][0])["sub"] == "admin@example.com"


def test_id_token_request_equals_google_auths_and_the_id_token_is_presented(
    google: GoogleServiceAccountEmulator, clock: ManualClock
) -> None:
    from google.oauth2 import service_account

    audience = "https://reports-abc123-uc.a.run.app"
    ours = google.auth(target_audience=audience)
    token = ours.get_token()
    peer = service_account.IDTokenCredentials.from_service_account_file(google.key_file, target_audience=audience)
    peer.refresh(peer_request(google))
    our_request, peer_request_ = last_two(google)
    assert_same_token_request(our_request, peer_request_)
    assert jwt_claims(our_request.form()["assertion"][0])["target_audience"] == audience
    assert "scope" not in jwt_claims(our_request.form()["assertion"][0])
    # The ID token is what goes in the header, and it expires at its own exp, as google-auth reads it.
    assert token.extra["id_token"] == token.access_token
    assert jwt_claims(token.access_token)["aud"] == audience
    assert token.expires_at == jwt_claims(token.access_token)["exp"]
    assert peer.expiry.timestamp() == pytest.approx(jwt_claims(peer.token)["exp"])
    sent = google.api_session().get(google.api_url + "run", auth=ours)
    assert sent.status_code == 200
    assert google.api_requests()[-1].bearer == token.access_token


def test_token_url_overrides_where_it_posts_but_aud_stays_googles(
    google: GoogleServiceAccountEmulator, secret_strings: SecretWatch
) -> None:
    info = dict(google.key_info(), token_uri="https://oauth2.googleapis.com/token")
    auth = GoogleServiceAccountAuth.from_file(
        info, scopes="api", token_url=google.token_url, **_emulator_options(google)
    )
    auth.get_token()
    (sent,) = google.token_requests()
    assert jwt_claims(sent.form()["assertion"][0])["aud"] == GOOGLE_TOKEN_AUDIENCE


def test_the_key_files_token_uri_is_where_it_posts(google: GoogleServiceAccountEmulator) -> None:
    auth = GoogleServiceAccountAuth.from_file(google.key_file, scopes="api", **_emulator_options(google))
    assert auth.token_url == google.token_url
    auth.get_token()
    assert google.token_calls == 1


def _emulator_options(google: GoogleServiceAccountEmulator) -> Dict[str, Any]:
    return {"session": google.api_session(), "clock": google.clock}


# -- the guarantees ----------------------------------------------------------------------------------


def test_32_threads_right_after_expiry_make_one_token_call_and_none_fails(
    google: GoogleServiceAccountEmulator, clock: ManualClock
) -> None:
    auth = google.auth()
    statuses = burst_after_expiry(google, auth, clock)
    assert statuses == [200] * BURST_THREADS
    assert google.token_calls == 2  # the first token, then one renewal for all 32


def test_8_processes_sharing_a_file_cache_make_one_token_call(
    google: GoogleServiceAccountEmulator, tmp_path: Path
) -> None:
    google.clock = __import__("time").time  # the processes keep real time
    results = processes_share_a_file_cache("google-service-account", google.environ(), tmp_path)
    assert len(results) == PROCESSES
    assert google.token_calls == 1
    assert len({result["expires_at"] for result in results}) == 1


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(google: GoogleServiceAccountEmulator) -> None:
    auth = google.auth()
    session = google.api_session()
    assert session.get(google.api_url + "x", auth=auth).status_code == 200
    google.revoke()
    response = session.get(google.api_url + "x", auth=auth)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()["error"]["status"] == "UNAUTHENTICATED"
    assert google.token_calls == 2


def test_from_env_reads_google_application_credentials_through_the_registry(
    google: GoogleServiceAccountEmulator,
) -> None:
    provider = get_provider("google-service-account")
    assert provider.auth_class is GoogleServiceAccountAuth
    auth = provider.auth_class.from_env(google.environ(), clock=google.clock)
    response = google.api_session().get(google.api_url + "x", auth=auth)
    assert response.status_code == 200
    assert response.json()["subject"] == google.client_email


def test_from_env_without_the_key_file_variable_names_it() -> None:
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GoogleServiceAccountAuth.from_env({})


# -- refusals -------------------------------------------------------------------------------------


def test_delegation_the_domain_did_not_grant_is_refused_with_googles_words(
    google: GoogleServiceAccountEmulator,
) -> None:
    auth = google.auth(subject="someone@example.com")
    with pytest.raises(InvalidClientError) as caught:
        auth.get_token()
    assert caught.value.error == "unauthorized_client"
    assert "Client is unauthorized to retrieve access tokens" in str(caught.value)


def test_a_key_google_does_not_know_is_invalid_grant_with_advice(
    google: GoogleServiceAccountEmulator, tmp_path: Path, secret_strings: SecretWatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    secret_strings.add(pem)
    info = dict(google.key_info(), private_key=pem)
    auth = GoogleServiceAccountAuth.from_file(info, scopes="api", **_emulator_options(google))
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_grant"
    assert "Invalid JWT Signature." in str(caught.value)
    assert "download a new key file" in str(caught.value)


def test_a_clock_off_by_more_than_google_allows_is_invalid_grant_naming_the_clock(
    google: GoogleServiceAccountEmulator, clock: ManualClock
) -> None:
    auth = google.auth(clock=lambda: clock() - 7200)  # this host two hours behind Google
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_grant"
    assert "check this host's clock" in str(caught.value)


# -- the key file, checked at construction -----------------------------------------------------------


def _key_file(tmp_path: Path, info: Dict[str, Any]) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def test_a_key_file_of_another_type_is_refused_naming_the_type(
    google: GoogleServiceAccountEmulator, tmp_path: Path
) -> None:
    path = _key_file(tmp_path, dict(google.key_info(), type="external_account"))
    with pytest.raises(ConfigurationError, match=r"type 'external_account'.*GoogleExternalAccountAuth"):
        GoogleServiceAccountAuth.from_file(path, scopes="api")


@pytest.mark.parametrize("field", ["client_email", "private_key", "private_key_id"])
def test_a_key_file_missing_a_field_is_refused_naming_it(
    google: GoogleServiceAccountEmulator, tmp_path: Path, field: str
) -> None:
    info = google.key_info()
    del info[field]
    with pytest.raises(ConfigurationError, match=f"has no {field}"):
        GoogleServiceAccountAuth.from_file(_key_file(tmp_path, info), scopes="api")


def test_a_key_file_holding_a_public_key_is_refused(google: GoogleServiceAccountEmulator, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    public = google.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    with pytest.raises(ConfigurationError, match="private_key is a public key"):
        GoogleServiceAccountAuth.from_file(dict(google.key_info(), private_key=public), scopes="api")


def test_a_missing_or_unreadable_key_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        GoogleServiceAccountAuth.from_file(tmp_path / "nope.json", scopes="api")
    (tmp_path / "bad.json").write_text("not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not JSON"):
        GoogleServiceAccountAuth.from_file(tmp_path / "bad.json", scopes="api")


@pytest.mark.parametrize("what", [{}, {"scopes": "api", "target_audience": "https://x.example"}])
def test_scopes_or_target_audience_exactly_one(google: GoogleServiceAccountEmulator, what: Dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="scopes= for an access token or target_audience="):
        GoogleServiceAccountAuth.from_file(google.key_info(), **what)


def test_repr_names_the_account_never_the_key_or_token(google: GoogleServiceAccountEmulator) -> None:
    auth = google.auth()
    token = auth.get_token()
    shown = repr(auth) + str(auth.get_token()) + repr(token.extra)
    assert google.client_email in shown
    assert token.access_token not in shown
    assert "PRIVATE KEY" not in shown
    secrets: List[str] = [google.private_key_pem.splitlines()[1]]
    assert all(secret not in shown for secret in secrets)


def test_an_account_google_does_not_know_is_invalid_grant_saying_so(google: GoogleServiceAccountEmulator) -> None:
    info = dict(google.key_info(), client_email="deleted@emulated.iam.gserviceaccount.com")
    auth = GoogleServiceAccountAuth.from_file(info, scopes="api", **_emulator_options(google))
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert "account not found" in str(caught.value)
    assert "the service account was deleted or the key file is from another project" in str(caught.value)
