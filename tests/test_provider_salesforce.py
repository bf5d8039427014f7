"""SalesforceJwtAuth on the Salesforce emulator, with simple-salesforce as the wire peer.

simple-salesforce's ``SalesforceLogin`` builds its token URL as
``https://{domain}.salesforce.com/services/oauth2/token`` and cannot be given another
host: ``domain="127.0.0.1:PORT"`` would make ``127.0.0.1:PORT.salesforce.com``. So its
session gets a requests transport adapter, mounted on ``https://login.salesforce.com/``,
that sends each request to the emulator instead; the request it builds reaches the same
emulator unchanged (URL host aside). Documented exceptions in the comparison: simple-salesforce
writes ``exp`` as a string (``"1733570000"``, as Salesforce's own page does), we as a number
(RFC 7519's NumericDate; Salesforce reads both); the signatures are not compared (each
assertion is signed anew; both verify against the app's certificate, which the emulator checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_multiauth import (
    ConfigurationError,
    MultiAuthSession,
    SalesforceJwtAuth,
    TokenRequestError,
    get_provider,
)
from requests_multiauth.providers.salesforce import SALESFORCE_SESSION_LIFETIME
from requests_multiauth.testing import ManualClock, SalesforceEmulator
from tests.fixtures_client_auth import jwt_claims
from tests.fixtures_secrets import SecretWatch
from tests.fixtures_vendors import (
    BURST_THREADS,
    PROCESSES,
    burst_after_expiry,
    processes_share_a_file_cache,
    watched_jwt_bearer_emulator,
)

#: How far apart our exp and simple-salesforce's may be: the two requests are made a moment apart.
CLOCK_WINDOW = 5


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def salesforce(clock: ManualClock, secret_strings: SecretWatch) -> Iterator[SalesforceEmulator]:
    with watched_jwt_bearer_emulator(SalesforceEmulator(clock=clock), secret_strings) as emulator:
        yield emulator


class ToEmulator(HTTPAdapter):
    """Sends what simple-salesforce addresses to login.salesforce.com to the emulator instead."""

    def __init__(self, emulator: SalesforceEmulator) -> None:
        super().__init__()
        self.emulator = emulator

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        request.url = (request.url or "").replace("https://login.salesforce.com", self.emulator.url, 1)
        return super().send(request, **kwargs)


def peer_login(salesforce: SalesforceEmulator) -> Any:
    from simple_salesforce import SalesforceLogin

    session = requests.Session()
    session.verify = salesforce.verify
    session.trust_env = False
    session.mount("https://login.salesforce.com/", ToEmulator(salesforce))
    return SalesforceLogin(
        username=salesforce.username,
        consumer_key=salesforce.consumer_key,
        privatekey=salesforce.private_key_pem,
        session=session,
    )


# -- the wire, against simple-salesforce -----------------------------------------------------------


def test_token_request_equals_simple_salesforces_field_by_field_and_claim_by_claim(
    salesforce: SalesforceEmulator,
) -> None:
    salesforce.auth().get_token()
    session_id, instance = peer_login(salesforce)
    assert session_id
    assert instance == salesforce.url.replace("https://", "")
    ours, peers = salesforce.token_requests()
    assert ours.path == peers.path == "/services/oauth2/token"
    assert ours.method == peers.method == "POST"
    assert ours.headers["Content-Type"] == peers.headers["Content-Type"] == "application/x-www-form-urlencoded"
    our_form, peer_form = ours.form(), peers.form()
    assert set(our_form) == set(peer_form) == {"grant_type", "assertion"}
    assert our_form["grant_type"] == peer_form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    our_assertion, peer_assertion = our_form["assertion"][0], peer_form["assertion"][0]
    assert jwt.get_unverified_header(our_assertion) == jwt.get_unverified_header(peer_assertion)
    assert jwt.get_unverified_header(our_assertion) == {"alg": "RS256", "typ": "JWT"}
    ours_claims, peer_claims = jwt_claims(our_assertion), jwt_claims(peer_assertion)
    assert set(ours_claims) == set(peer_claims) == {"iss", "sub", "aud", "exp"}
    for name in ("iss", "sub", "aud"):
        assert ours_claims[name] == peer_claims[name], name
    assert ours_claims["aud"] == "https://login.salesforce.com"
    assert isinstance(peer_claims["exp"], str)  # the documented exception: a string there, a number here
    assert isinstance(ours_claims["exp"], int)
    assert abs(ours_claims["exp"] - int(peer_claims["exp"])) <= CLOCK_WINDOW


def test_sandbox_by_login_url_is_the_aud(salesforce: SalesforceEmulator) -> None:
    salesforce.sandbox = True
    auth = salesforce.auth(login_url="https://test.salesforce.com")
    auth.get_token()
    assert jwt_claims(salesforce.seen_assertions[-1]["form"]["assertion"])["aud"] == "https://test.salesforce.com"


def test_the_token_url_defaults_to_the_login_urls_token_endpoint(salesforce: SalesforceEmulator) -> None:
    auth = SalesforceJwtAuth(
        salesforce.consumer_key, salesforce.username, salesforce.private_key_pem, login_url=salesforce.url
    )
    assert auth.token_url == salesforce.url + "/services/oauth2/token"
    sandbox = SalesforceJwtAuth(
        "key", "user@example.com", salesforce.private_key_pem, login_url="https://test.salesforce.com/"
    )
    assert sandbox.token_url == "https://test.salesforce.com/services/oauth2/token"


# -- instance_url and the session -------------------------------------------------------------------


def test_instance_url_is_on_the_token_and_serves_as_the_sessions_base_url(salesforce: SalesforceEmulator) -> None:
    auth = salesforce.auth()
    assert auth.instance_url == salesforce.url
    assert auth.get_token().extra["instance_url"] == salesforce.url
    with MultiAuthSession(auth, base_url=auth.instance_url + "/services/data/v62.0/", verify=salesforce.verify) as s:
        s.trust_env = False
        response = s.get("sobjects/Account")
    assert response.status_code == 200
    assert response.json()["path"] == "/services/data/v62.0/sobjects/Account"
    assert salesforce.token_calls == 1


def test_the_session_is_assumed_to_live_two_hours_since_the_answer_says_nothing(
    salesforce: SalesforceEmulator, clock: ManualClock
) -> None:
    token = salesforce.auth().get_token()
    assert token.expires_at == pytest.approx(clock() + SALESFORCE_SESSION_LIFETIME)


def test_invalid_session_id_401_renews_once_and_replays(salesforce: SalesforceEmulator) -> None:
    auth = salesforce.auth()
    session = salesforce.api_session()
    assert session.get(salesforce.api_url + "v62.0/limits", auth=auth).status_code == 200
    salesforce.revoke()
    response = session.get(salesforce.api_url + "v62.0/limits", auth=auth)
    assert response.status_code == 200
    (refused,) = response.history
    assert refused.status_code == 401
    assert refused.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert salesforce.token_calls == 2


def test_a_shorter_org_timeout_is_caught_by_the_401_and_replayed(
    salesforce: SalesforceEmulator, clock: ManualClock
) -> None:
    salesforce.lifetime = 900  # the org's session timeout: 15 minutes
    auth = salesforce.auth()
    session = salesforce.api_session()
    assert session.get(salesforce.api_url + "v62.0/limits", auth=auth).status_code == 200
    clock.advance(901)
    response = session.get(salesforce.api_url + "v62.0/limits", auth=auth)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert salesforce.token_calls == 2


# -- the guarantees ----------------------------------------------------------------------------------


def test_32_threads_right_after_expiry_make_one_token_call_and_none_fails(
    salesforce: SalesforceEmulator, clock: ManualClock
) -> None:
    auth = salesforce.auth()
    statuses = burst_after_expiry(
        salesforce, auth, clock, lambda session, a: session.get(salesforce.api_url + "v62.0/limits", auth=a)
    )
    assert statuses == [200] * BURST_THREADS
    assert salesforce.token_calls == 2


def test_8_processes_sharing_a_file_cache_make_one_token_call(salesforce: SalesforceEmulator, tmp_path: Path) -> None:
    salesforce.clock = __import__("time").time
    results = processes_share_a_file_cache("salesforce", salesforce.environ(), tmp_path)
    assert len(results) == PROCESSES
    assert salesforce.token_calls == 1
    # The seven that read the token from the cache got its instance_url too.
    assert [result["extra"].get("instance_url") for result in results] == [salesforce.url] * PROCESSES


def test_from_env_through_the_registry(salesforce: SalesforceEmulator) -> None:
    auth = get_provider("salesforce").auth_class.from_env(salesforce.environ(), clock=salesforce.clock)
    assert isinstance(auth, SalesforceJwtAuth)
    assert salesforce.api_session().get(salesforce.api_url + "v62.0/limits", auth=auth).status_code == 200


# -- Salesforce's refusals, with advice ----------------------------------------------------------------


def test_an_unapproved_user_is_refused_with_the_pre_authorization_advice(salesforce: SalesforceEmulator) -> None:
    salesforce.approved_users.clear()
    with pytest.raises(TokenRequestError) as caught:
        salesforce.auth().get_token()
    assert caught.value.error == "invalid_grant"
    assert "user hasn't approved this consumer" in str(caught.value)
    assert "Admin approved users are pre-authorized" in str(caught.value)


def test_a_wrong_audience_is_refused_with_the_login_or_test_advice(salesforce: SalesforceEmulator) -> None:
    with pytest.raises(TokenRequestError) as caught:
        salesforce.auth(login_url="https://test.salesforce.com").get_token()
    assert "audience is invalid" in str(caught.value)
    assert "https://test.salesforce.com for a sandbox" in str(caught.value)


def test_a_key_the_app_does_not_hold_is_invalid_assertion_with_the_certificate_advice(
    salesforce: SalesforceEmulator, client_keys: Any, secret_strings: SecretWatch
) -> None:
    secret_strings.add_private_key(client_keys["rsa"])
    auth = SalesforceJwtAuth(
        salesforce.consumer_key,
        salesforce.username,
        client_keys["rsa"],
        token_url=salesforce.token_url,
        session=salesforce.api_session(),
        clock=salesforce.clock,
    )
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert "invalid assertion" in str(caught.value)
    assert "certificate of this private key" in str(caught.value)


def test_a_clock_far_behind_is_expired_authorization_code_naming_the_clock(
    salesforce: SalesforceEmulator, clock: ManualClock
) -> None:
    auth = salesforce.auth(clock=lambda: clock() - 3600)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert "expired authorization code" in str(caught.value)
    assert "clock" in str(caught.value)


def test_an_unknown_consumer_key_is_invalid_client_id_with_advice(salesforce: SalesforceEmulator) -> None:
    auth = SalesforceJwtAuth(
        "3MVG9-not-this-orgs-app",
        salesforce.username,
        salesforce.private_key_pem,
        token_url=salesforce.token_url,
        session=salesforce.api_session(),
        clock=salesforce.clock,
    )
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_client_id"
    assert "client identifier invalid" in str(caught.value)
    assert "Manage Consumer Details" in str(caught.value)


def test_login_url_must_be_https() -> None:
    with pytest.raises(ConfigurationError, match="https://"):
        SalesforceJwtAuth("key", "user@example.com", "unused", login_url="http://login.salesforce.com")


def test_repr_shows_the_app_user_and_login_never_the_key_or_session(salesforce: SalesforceEmulator) -> None:
    auth = salesforce.auth()
    token = auth.get_token()
    shown = repr(auth) + repr(token) + repr(token.extra)
    assert salesforce.username in shown
    assert token.access_token not in shown
    assert "PRIVATE KEY" not in shown
