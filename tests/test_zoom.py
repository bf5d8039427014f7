"""ZoomAuth against the local Zoom emulator, and against zoomus, a Python client of Zoom's API.

Zoom publishes no Python SDK (its own libraries are JavaScript: Rivet). The peer is
zoomus 1.2 (community, on PyPI), whose ``oauth_uri=`` points it at the emulator:
it posts the same Basic header and fields, in a form body where we use the query
(Zoom's page allows either; its example uses the query).
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
import requests

from requests_multiauth import ConfigurationError, InvalidClientError, TokenRequestError, ZoomAuth, get_provider
from requests_multiauth.providers.zoom import ZOOM_TOKEN_URL
from requests_multiauth.testing import ManualClock, ZoomEmulator

from .fixtures_secrets import SecretWatch
from .fixtures_vendors import BURST_THREADS, PROCESSES, burst_after_expiry, processes_share_a_file_cache


@pytest.fixture
def zoom() -> ZoomEmulator:
    with ZoomEmulator() as emulator:
        yield emulator


def me(session: requests.Session, auth: ZoomAuth, zoom: ZoomEmulator) -> requests.Response:
    return session.get(zoom.api_url + "users/me", auth=auth)


def test_the_token_request_is_zooms_account_credentials_with_basic_auth_and_no_body(zoom: ZoomEmulator) -> None:
    auth = zoom.auth()
    assert me(zoom.api_session(), auth, zoom).status_code == 200
    (sent,) = zoom.token_requests()
    assert sent.method == "POST"
    assert sent.query == {"grant_type": ["account_credentials"], "account_id": [zoom.account_id]}
    expected = base64.b64encode(f"{zoom.client_id}:{zoom.client_secret}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert sent.body == b""
    token = auth.get_token()
    assert token.extra["api_url"] == "https://api.zoom.us"
    assert token.expires_at is not None
    assert token.expires_at - token.issued_at == pytest.approx(3600, abs=2)


def test_the_default_token_url_is_zooms_and_token_url_points_elsewhere(zoom: ZoomEmulator) -> None:
    assert ZoomAuth("acct-12345678", "client-12345678", "secret-12345678").token_url == ZOOM_TOKEN_URL
    assert zoom.auth().token_url == zoom.token_url


@pytest.mark.parametrize("missing", ["account_id", "client_id", "client_secret"])
def test_a_missing_credential_is_a_configuration_error_naming_it(zoom: ZoomEmulator, missing: str) -> None:
    credentials = {**zoom.credentials, missing: ""}
    with pytest.raises(ConfigurationError, match=missing):
        ZoomAuth(**credentials)


def test_from_env_through_the_registry_reads_the_records_variables(zoom: ZoomEmulator) -> None:
    provider = get_provider("zoom")
    assert provider.auth_class is ZoomAuth
    assert [var.name for var in provider.env if var.required] == [
        "ZOOM_ACCOUNT_ID",
        "ZOOM_CLIENT_ID",
        "ZOOM_CLIENT_SECRET",
    ]
    assert [var.name for var in provider.env if var.secret] == ["ZOOM_CLIENT_SECRET"]
    auth = provider.auth_class.from_env(zoom.environ())
    assert auth.get_token().access_token
    assert zoom.token_calls == 1
    with pytest.raises(ConfigurationError, match="ZOOM_ACCOUNT_ID"):
        ZoomAuth.from_env({"ZOOM_CLIENT_ID": "x", "ZOOM_CLIENT_SECRET": "y"})


def test_32_threads_right_after_expiry_make_one_token_call_and_no_failure(zoom: ZoomEmulator) -> None:
    clock = ManualClock()
    zoom.clock = clock
    auth = zoom.auth()
    statuses = burst_after_expiry(zoom, auth, clock, lambda session, a: me(session, a, zoom))
    assert statuses == [200] * BURST_THREADS
    assert zoom.token_calls == 2  # the first token, then exactly one for the whole burst


def test_8_processes_sharing_a_file_cache_make_one_token_call_in_all(zoom: ZoomEmulator, tmp_path: Path) -> None:
    results = processes_share_a_file_cache("zoom", zoom.environ(), tmp_path)
    assert len(results) == PROCESSES
    assert all(result["ok"] for result in results)
    assert len({result["expires_at"] for result in results}) == 1
    assert zoom.token_calls == 1


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(zoom: ZoomEmulator) -> None:
    auth = zoom.auth()
    session = zoom.api_session()
    assert me(session, auth, zoom).status_code == 200
    zoom.revoke()
    response = me(session, auth, zoom)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json() == {"code": 124, "message": "Invalid access token."}
    assert zoom.token_calls == 2


def test_bad_credentials_raise_zooms_meaning_and_advice_and_are_not_retried(
    zoom: ZoomEmulator, secret_strings: SecretWatch
) -> None:
    auth = ZoomAuth(
        zoom.account_id, zoom.client_id, "wrong-secret-123456", token_url=zoom.token_url, session=zoom.api_session()
    )
    secret_strings.add("wrong-secret-123456", zoom.client_secret)
    with pytest.raises(InvalidClientError) as raised:
        auth.get_token()
    message = str(raised.value)
    assert "Zoom 4702/4704" in message
    assert "App Credentials" in message
    assert "wrong-secret-123456" not in message
    assert "wrong-secret-123456" not in repr(auth)
    assert zoom.token_calls == 1


def test_a_wrong_account_id_says_which_credential_to_check(zoom: ZoomEmulator) -> None:
    auth = ZoomAuth(
        "another-account-1", zoom.client_id, zoom.client_secret, token_url=zoom.token_url, session=zoom.api_session()
    )
    with pytest.raises(TokenRequestError, match="Account ID") as raised:
        auth.get_token()
    assert raised.value.error == "invalid_request"


def test_no_secret_or_token_in_reprs_errors_or_logs(zoom: ZoomEmulator, secret_strings: SecretWatch) -> None:
    auth = zoom.auth()
    token = auth.get_token()
    basic = base64.b64encode(f"{zoom.client_id}:{zoom.client_secret}".encode()).decode()
    secret_strings.add(zoom.client_secret, token.access_token, basic)
    zoom.revoke()
    me(zoom.api_session(), auth, zoom)
    for text in (repr(auth), repr(auth.get_token()), repr(dataclasses.replace(token)), str(auth.telemetry.snapshot())):
        assert zoom.client_secret not in text
        assert token.access_token not in text
        assert basic not in text


def test_zoomus_sends_the_same_credentials_and_fields_as_zoomauth(
    zoom: ZoomEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peer comparison, field by field: zoomus's token request and ours on the same emulator.
    Documented difference: zoomus sends the fields as a form body, we send them in the
    query as Zoom's example does; Zoom's page accepts either."""
    from zoomus import ZoomClient

    assert isinstance(zoom.verify, str)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", zoom.verify)  # zoomus posts with requests.post and no verify=
    ZoomClient(zoom.client_id, zoom.client_secret, api_account_id=zoom.account_id, oauth_uri=zoom.token_url)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    zoom.auth().get_token()
    theirs, ours = zoom.token_requests()
    assert theirs.method == ours.method == "POST"
    assert theirs.headers["Authorization"] == ours.headers["Authorization"]
    their_fields = {name: values[0] for name, values in theirs.form().items()}
    our_fields = {name: values[0] for name, values in ours.query.items()}
    assert their_fields == our_fields == {"grant_type": "account_credentials", "account_id": zoom.account_id}
    assert zoom.tokens_issued == 2
