"""The local provider emulations themselves: each refuses what its provider's page
does not allow, and its settings (lifetime, latency, revocation, faults) and
counters do what tests rely on. The presets against them: test_providers.py."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any, Dict, Optional, Tuple
from urllib.parse import quote_plus

import pytest
import requests

from requests_multiauth import CognitoAuth, RetryPolicy, TokenRequestError, get_provider
from requests_multiauth.testing import (
    DROP_CONNECTION,
    CognitoEmulator,
    DataloyEmulator,
    DiagramsEmulator,
    LocalProviders,
    ManualClock,
    OpsNowEmulator,
    ProviderEmulator,
    RatedEmulator,
    Reply,
)
from requests_multiauth.testing import _server as server_module
from tests.wire import FORM, basic

#: Token-call retries that keep fault tests fast.
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)


def post(
    provider: ProviderEmulator,
    *,
    body: Any = None,
    content_type: Optional[str] = None,
    authorization: Optional[str] = None,
    method: str = "POST",
    path: Optional[str] = None,
) -> Tuple[int, Any]:
    """Send a hand-made request to a provider's token endpoint; its status and JSON body."""
    headers: Dict[str, str] = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    data = json.dumps(body) if content_type == "application/json" and not isinstance(body, str) else body
    url = provider.url + (path if path is not None else provider.token_path)
    response = provider.api_session().request(method, url, data=data, headers=headers)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


# -- Cognito -------------------------------------------------------------------------------------------


def cognito_cases(c: CognitoEmulator) -> Dict[str, Tuple[Dict[str, Any], int, str]]:
    """Deviations from the Cognito-hosted page, and Cognito's answer to each."""
    good = basic(c.client_id, c.client_secret)
    cc = "grant_type=client_credentials&scope=api%2Fwrite"
    return {
        "GET instead of POST": ({"method": "GET", "authorization": good}, 405, ""),
        "JSON instead of a form": (
            {"body": {"grant_type": "client_credentials"}, "content_type": "application/json", "authorization": good},
            400,
            "invalid_request",
        ),
        "no grant_type": (
            {"body": "scope=api%2Fwrite", "content_type": FORM, "authorization": good},
            400,
            "invalid_request",
        ),
        "another grant_type": (
            {"body": "grant_type=password", "content_type": FORM, "authorization": good},
            400,
            "unsupported_grant_type",
        ),
        "an extra field": (
            {"body": cc + "&audience=x", "content_type": FORM, "authorization": good},
            400,
            "invalid_request",
        ),
        "a repeated field": (
            {"body": cc + "&scope=api%2Fread", "content_type": FORM, "authorization": good},
            400,
            "invalid_request",
        ),
        "a wrong secret": (
            {"body": cc, "content_type": FORM, "authorization": basic(c.client_id, "wrong")},
            400,
            "invalid_client",
        ),
        "a malformed Basic header": (
            {"body": cc, "content_type": FORM, "authorization": "Basic not-base64!"},
            400,
            "invalid_client",
        ),
        "no client authentication": ({"body": cc, "content_type": FORM}, 400, "invalid_client"),
        "the secret in the body, not enabled": (
            {"body": f"{cc}&client_id={c.client_id}&client_secret={c.client_secret}", "content_type": FORM},
            400,
            "invalid_client",
        ),
        "Basic and the secret in the body": (
            {"body": f"{cc}&client_secret={c.client_secret}", "content_type": FORM, "authorization": good},
            400,
            "invalid_request",
        ),
        "an unknown scope": (
            {"body": "grant_type=client_credentials&scope=api%2Fdelete", "content_type": FORM, "authorization": good},
            400,
            "invalid_scope",
        ),
    }


#: The keys of cognito_cases(), which needs a running emulator to fill in.
COGNITO_CASES = [
    "GET instead of POST",
    "JSON instead of a form",
    "no grant_type",
    "another grant_type",
    "an extra field",
    "a repeated field",
    "a wrong secret",
    "a malformed Basic header",
    "no client authentication",
    "the secret in the body, not enabled",
    "Basic and the secret in the body",
    "an unknown scope",
]


@pytest.mark.parametrize("case", COGNITO_CASES)
def test_cognito_refuses_a_request_that_deviates_from_the_page(cognito_provider: CognitoEmulator, case: str) -> None:
    request, status, error = cognito_cases(cognito_provider)[case]
    got_status, answer = post(cognito_provider, **request)
    assert got_status == status
    if error:
        assert answer["error"] == error
        assert answer["error_description"]
    assert cognito_provider.tokens_issued == 0
    assert cognito_provider.token_calls == 1


def test_cognito_answers_the_pages_request_with_a_bearer_token(cognito_provider: CognitoEmulator) -> None:
    status, answer = post(
        cognito_provider,
        body="grant_type=client_credentials&scope=api%2Fwrite",
        content_type=FORM,
        authorization=basic(cognito_provider.client_id, cognito_provider.client_secret),
    )
    assert status == 200
    assert list(answer) == ["access_token", "expires_in", "token_type"]
    assert answer["expires_in"] == 3600
    assert answer["token_type"] == "Bearer"


def test_cognito_accepts_the_secret_in_the_body_when_configured(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.accept_client_secret_post = True
    c = cognito_provider
    body = f"grant_type=client_credentials&client_id={c.client_id}&client_secret={c.client_secret}"
    status, answer = post(c, body=body, content_type=FORM)
    assert status == 200
    assert answer["token_type"] == "Bearer"


def test_cognito_refuses_a_client_without_the_grant_as_unauthorized_client(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.client_credentials_allowed = False
    status, answer = post(
        cognito_provider,
        body="grant_type=client_credentials",
        content_type=FORM,
        authorization=basic(cognito_provider.client_id, cognito_provider.client_secret),
    )
    assert (status, answer["error"]) == (400, "unauthorized_client")


def test_cognito_grants_every_allowed_scope_when_none_is_asked(cognito_provider: CognitoEmulator) -> None:
    token = cognito_provider.auth(scope=None).get_token()
    assert token.scope is None  # Cognito does not say the scope in its answer
    claims = jwt_claims(token.access_token)
    assert claims["scope"] == "api/write api/read"


def test_cognito_says_the_scope_when_it_grants_a_narrower_one(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.granted_scope = "api/read"
    status, answer = post(
        cognito_provider,
        body="grant_type=client_credentials&scope=api%2Fwrite+api%2Fread",
        content_type=FORM,
        authorization=basic(cognito_provider.client_id, cognito_provider.client_secret),
    )
    assert status == 200
    assert answer["scope"] == "api/read"


# -- OpsNow --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "body", "content_type", "status"),
    [
        ("a form instead of JSON", "apiKey=KEY", FORM, 415),
        ("an extra field", {"apiKey": "KEY", "tenant": "t"}, "application/json", 400),
        ("another field name", {"api_key": "KEY"}, "application/json", 400),
        ("a JSON array", ["KEY"], "application/json", 400),
        ("not JSON", "{apiKey: KEY", "application/json", 400),
        ("a wrong key", {"apiKey": "wrong"}, "application/json", 401),
    ],
)
def test_opsnow_refuses_a_request_that_deviates_from_the_page(
    opsnow_provider: OpsNowEmulator, case: str, body: Any, content_type: str, status: int
) -> None:
    if isinstance(body, dict) and body.get("apiKey") == "KEY":
        body = {**body, "apiKey": opsnow_provider.api_key}
    elif isinstance(body, str):
        body = body.replace("KEY", opsnow_provider.api_key)
    got_status, answer = post(opsnow_provider, body=body, content_type=content_type)
    assert got_status == status
    assert answer["message"]
    assert opsnow_provider.tokens_issued == 0


def test_opsnow_refuses_get(opsnow_provider: OpsNowEmulator) -> None:
    assert post(opsnow_provider, method="GET")[0] == 405


def test_opsnow_answers_the_pages_request(opsnow_provider: OpsNowEmulator) -> None:
    status, answer = post(opsnow_provider, body={"apiKey": opsnow_provider.api_key}, content_type="application/json")
    assert status == 200
    assert set(answer["data"]) == {"accessToken", "tokenType", "expiresIn"}
    assert answer["data"]["expiresIn"] == 3600


# -- Dataloy -------------------------------------------------------------------------------------------


def dataloy_body(d: DataloyEmulator, **changes: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "client_id": d.client_id,
        "client_secret": d.client_secret,
        "audience": "https://dataloy.internal",
        "grant_type": "client_credentials",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("case", "changes", "status", "error"),
    [
        ("no audience", {"audience": None}, 400, "invalid_request"),
        ("no client_secret", {"client_secret": None}, 400, "invalid_request"),
        ("an extra field", {"scope": "read"}, 400, "invalid_request"),
        ("another grant_type", {"grant_type": "password"}, 400, "unsupported_grant_type"),
        ("a wrong secret", {"client_secret": "wrong"}, 401, "access_denied"),
        ("an unknown audience", {"audience": "https://elsewhere"}, 403, "access_denied"),
    ],
)
def test_dataloy_refuses_a_payload_that_deviates_from_the_page(
    dataloy_provider: DataloyEmulator, case: str, changes: Dict[str, Any], status: int, error: str
) -> None:
    got_status, answer = post(
        dataloy_provider, body=dataloy_body(dataloy_provider, **changes), content_type="application/json"
    )
    assert (got_status, answer["error"]) == (status, error)
    assert dataloy_provider.tokens_issued == 0


def test_dataloy_refuses_a_form(dataloy_provider: DataloyEmulator) -> None:
    status, answer = post(dataloy_provider, body="grant_type=client_credentials", content_type=FORM)
    assert (status, answer["error"]) == (400, "invalid_request")


def test_dataloy_refuses_basic_auth_unless_configured(dataloy_provider: DataloyEmulator) -> None:
    d = dataloy_provider
    body = {"audience": "https://dataloy", "grant_type": "client_credentials"}
    refused = post(d, body=body, content_type="application/json", authorization=basic(d.client_id, d.client_secret))
    assert refused[0] == 400
    d.accept_basic = True
    accepted = post(d, body=body, content_type="application/json", authorization=basic(d.client_id, d.client_secret))
    assert accepted[0] == 200


def test_dataloy_answers_the_pages_payload_as_the_page_shows(dataloy_provider: DataloyEmulator) -> None:
    status, answer = post(dataloy_provider, body=dataloy_body(dataloy_provider), content_type="application/json")
    assert status == 200
    assert list(answer) == ["access_token", "expires_in", "token_type"]
    assert (answer["expires_in"], answer["token_type"]) == (86400, "Bearer")
    assert jwt_claims(answer["access_token"])["aud"] == "https://dataloy.internal"


def test_dataloy_api_answers_an_expired_token_with_the_pages_payload(
    dataloy_provider: DataloyEmulator, clock: ManualClock
) -> None:
    auth = dataloy_provider.auth(clock=ManualClock(clock()))  # the client's clock stays behind
    session = dataloy_provider.api_session()
    url = dataloy_provider.api_url + "Cargo?filter=subCargos.freight%28GTE%292500000"
    assert session.get(url, auth=auth).status_code == 200
    clock.advance(86400)
    first = session.get(url, auth=auth).history[0]
    payload = first.json()
    assert first.status_code == 401
    assert list(payload) == ["statusCode", "statusText", "message", "date", "statusFamily", "method", "uri"]
    assert payload["statusCode"] == 401
    assert payload["statusText"] == "Unauthorized"
    assert payload["message"] == "Token expired."
    assert payload["statusFamily"] == "CLIENT_ERROR"
    assert payload["method"] == "GET"
    assert payload["uri"] == url
    assert len(payload["date"]) == len("2019-11-13T06:26:01")


# -- Diagrams ------------------------------------------------------------------------------------------


def diagrams_auth(d: DiagramsEmulator) -> str:
    return basic(d.application_id, d.application_secret)


def test_diagrams_answers_the_pages_request_with_every_field_of_the_page(diagrams_provider: DiagramsEmulator) -> None:
    d = diagrams_provider
    status, answer = post(d, body="grant_type=client_credentials", content_type=FORM, authorization=diagrams_auth(d))
    assert status == 200
    assert list(answer) == [
        "access_token",
        "token_type",
        "expires_in",
        "expiration_date",
        "refresh_token",
        "refresh_token_expires_in",
        "refresh_token_expiration_date",
    ]
    assert answer["token_type"] == "bearer"
    assert (answer["expires_in"], answer["refresh_token_expires_in"]) == (172800, 31557600)
    assert answer["expiration_date"].endswith("Z")
    assert len(answer["expiration_date"]) == len("2021-10-27T12:06:28.828Z")
    assert answer["access_token"].count(".") == 2


@pytest.mark.parametrize(
    ("case", "body", "status", "error"),
    [
        ("an extra field", "grant_type=client_credentials&scope=data", 400, "invalid_request"),
        ("refresh without scope", "grant_type=refresh_token&refresh_token=abc", 400, "invalid_request"),
        ("refresh with another scope", "grant_type=refresh_token&scope=all&refresh_token=abc", 400, "invalid_scope"),
        ("an unknown refresh token", "grant_type=refresh_token&scope=data&refresh_token=abc", 400, "invalid_grant"),
        ("another grant_type", "grant_type=password", 400, "unsupported_grant_type"),
    ],
)
def test_diagrams_refuses_a_form_that_deviates_from_the_page(
    diagrams_provider: DiagramsEmulator, case: str, body: str, status: int, error: str
) -> None:
    got = post(diagrams_provider, body=body, content_type=FORM, authorization=diagrams_auth(diagrams_provider))
    assert (got[0], got[1]["error"]) == (status, error)


def test_diagrams_needs_basic_auth_with_the_right_secret(diagrams_provider: DiagramsEmulator) -> None:
    d = diagrams_provider
    without = post(d, body="grant_type=client_credentials", content_type=FORM)
    wrong = post(d, body="grant_type=client_credentials", content_type=FORM, authorization=basic(d.application_id, "x"))
    assert (without[0], without[1]["error"]) == (401, "invalid_client")
    assert (wrong[0], wrong[1]["error"]) == (401, "invalid_client")


def test_diagrams_does_not_serve_the_pages_old_typo_path(diagrams_provider: DiagramsEmulator) -> None:
    d = diagrams_provider
    got = post(
        d,
        body="grant_type=client_credentials",
        content_type=FORM,
        authorization=diagrams_auth(d),
        path="/v0/oauth2token",
    )
    assert got[0] == 404


def refresh_form(refresh_token: str) -> str:
    return "grant_type=refresh_token&scope=data&refresh_token=" + quote_plus(refresh_token)


def test_diagrams_replaces_a_used_refresh_token_unless_the_answer_omits_it(diagrams_provider: DiagramsEmulator) -> None:
    d = diagrams_provider
    first = post(d, body="grant_type=client_credentials", content_type=FORM, authorization=diagrams_auth(d))[1]
    refresh = refresh_form(first["refresh_token"])
    renewed = post(d, body=refresh, content_type=FORM, authorization=diagrams_auth(d))
    assert renewed[0] == 200
    assert renewed[1]["refresh_token"] != first["refresh_token"]
    assert post(d, body=refresh, content_type=FORM, authorization=diagrams_auth(d))[1]["error"] == "invalid_grant"

    d.refresh_omits_token = True
    kept = refresh_form(renewed[1]["refresh_token"])
    for _ in range(2):
        status, answer = post(d, body=kept, content_type=FORM, authorization=diagrams_auth(d))
        assert status == 200
        assert "refresh_token" not in answer
    assert d.refresh_calls == 4


def test_diagrams_refuses_refreshes_when_told_or_once_expired(diagrams_provider: DiagramsEmulator) -> None:
    d = diagrams_provider
    first = post(d, body="grant_type=client_credentials", content_type=FORM, authorization=diagrams_auth(d))[1]
    refresh = refresh_form(first["refresh_token"])
    d.refuse_refresh = True
    assert post(d, body=refresh, content_type=FORM, authorization=diagrams_auth(d))[1]["error"] == "invalid_grant"
    d.refuse_refresh = False
    assert d.expire_refresh_tokens() == 1
    assert post(d, body=refresh, content_type=FORM, authorization=diagrams_auth(d))[1]["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "fields", [("expires_in", "expiration_date"), ("expires_in",), ("expiration_date",), ()], ids=str
)
def test_diagrams_answers_only_the_expiry_fields_it_is_told(
    diagrams_provider: DiagramsEmulator, fields: Tuple[str, ...]
) -> None:
    d = diagrams_provider
    d.expiry_fields = fields
    answer = post(d, body="grant_type=client_credentials", content_type=FORM, authorization=diagrams_auth(d))[1]
    assert {"expires_in", "expiration_date"} & set(answer) == set(fields)


# -- Rated ----------------------------------------------------------------------------------------------


def test_rated_m2m_token_page_needs_a_logged_in_browser_and_get(rated_provider: RatedEmulator) -> None:
    assert post(rated_provider, method="GET")[0] == 401
    browser = rated_provider.browser_session()
    assert browser.post(rated_provider.token_url).status_code == 405
    answer = browser.get(rated_provider.token_url).json()
    assert list(answer) == ["jwt"]
    claims = jwt_claims(answer["jwt"])
    assert claims["exp"] - claims["iat"] == pytest.approx(365 * 86400, abs=1)


def test_rated_mints_tokens_without_exp_and_opaque_ones(rated_provider: RatedEmulator) -> None:
    assert "exp" not in jwt_claims(rated_provider.mint(with_exp=False))
    assert rated_provider.mint(jwt=False).count(".") == 0


# -- the protected APIs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LocalProviders.NAMES)
def test_every_api_turns_away_missing_unknown_expired_and_revoked_tokens(
    local_providers: LocalProviders, clock: ManualClock, name: str
) -> None:
    provider = local_providers[name]
    session = provider.api_session()
    url = provider.api_url + "resource"
    token = provider.auth().get_token().access_token
    assert session.get(url).status_code == 401
    assert session.get(url, headers={"Authorization": "Bearer not-issued-here"}).status_code == 401
    assert session.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    clock.advance(provider.lifetime)
    assert session.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401

    fresh = provider.auth().get_token().access_token
    assert provider.revoke() >= 1
    assert session.get(url, headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    assert provider.api_calls == 5


def test_api_echoes_an_authorized_request(cognito_provider: CognitoEmulator) -> None:
    response = cognito_provider.api_session().post(
        cognito_provider.api_url + "things", json={"n": 1}, auth=cognito_provider.auth()
    )
    assert response.json() == {
        "provider": "cognito",
        "method": "POST",
        "path": "/api/things",
        "subject": cognito_provider.client_id,
        "received": {"n": 1},
    }


def test_unknown_paths_are_404_and_counted_nowhere(cognito_provider: CognitoEmulator) -> None:
    assert cognito_provider.api_session().get(cognito_provider.url + "/elsewhere").status_code == 404
    assert (cognito_provider.token_calls, cognito_provider.api_calls) == (0, 0)


# -- settings, faults, counters ------------------------------------------------------------------------


def test_lifetime_sets_expires_in_and_the_jwt_exp(cognito_provider: CognitoEmulator, clock: ManualClock) -> None:
    cognito_provider.lifetime = 120
    token = cognito_provider.auth().get_token()
    assert token.expires_at == clock() + 120
    assert jwt_claims(token.access_token)["exp"] == int(clock() + 120)


def test_injected_faults_answer_the_next_token_requests_then_stop(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.inject(Reply(503, {"error": "server_error"}, {"Retry-After": "0"}), times=2)
    auth = cognito_provider.auth(retry=FAST_RETRY)
    assert auth.get_token().access_token
    assert cognito_provider.token_calls == 3
    assert cognito_provider.tokens_issued == 1


def test_a_dropped_connection_is_a_transient_fault(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.inject(DROP_CONNECTION)
    assert cognito_provider.auth(retry=FAST_RETRY).get_token().access_token
    assert cognito_provider.token_calls == 2


def test_faults_outlasting_the_retries_surface_as_token_request_error(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.inject(Reply(500, "boom"), times=3)
    with pytest.raises(TokenRequestError) as caught:
        cognito_provider.auth(retry=FAST_RETRY).get_token()
    assert caught.value.status_code == 500
    assert cognito_provider.token_calls == 3


def test_faults_can_target_the_api(dataloy_provider: DataloyEmulator) -> None:
    dataloy_provider.inject(Reply(503, "busy"), at="api")
    session, auth = dataloy_provider.api_session(), dataloy_provider.auth()
    assert session.get(dataloy_provider.api_url + "Cargo", auth=auth).status_code == 503
    assert session.get(dataloy_provider.api_url + "Cargo", auth=auth).status_code == 200
    with pytest.raises(ValueError, match="at="):
        dataloy_provider.inject(Reply(500), at="elsewhere")


def test_latency_slows_the_token_endpoint_past_a_short_read_timeout(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.latency = 1.0
    auth = cognito_provider.auth(timeout=(3.0, 0.1), retry=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(TokenRequestError, match="read timeout"):
        auth.get_token()
    assert cognito_provider.token_calls == 2


def test_reset_zeroes_counters_empties_the_log_and_restores_settings(opsnow_provider: OpsNowEmulator) -> None:
    opsnow_provider.answer_shape = "opaque"
    opsnow_provider.lifetime = 5
    opsnow_provider.inject(Reply(500), times=5)
    opsnow_provider.api_session().post(opsnow_provider.token_url, json={"apiKey": opsnow_provider.api_key})
    opsnow_provider.reset()
    assert (opsnow_provider.token_calls, opsnow_provider.api_calls, opsnow_provider.server.requests) == (0, 0, [])
    assert (opsnow_provider.answer_shape, opsnow_provider.lifetime) == ("data", 3600)
    assert opsnow_provider.auth().get_token().access_token  # the fault queue is gone too


def test_token_requests_and_api_requests_split_the_log(dataloy_provider: DataloyEmulator) -> None:
    session = dataloy_provider.api_session()
    session.get(dataloy_provider.api_url + "Cargo", auth=dataloy_provider.auth())
    assert [r.path for r in dataloy_provider.token_requests()] == ["/oauth/token"]
    assert [r.path for r in dataloy_provider.api_requests()] == ["/ws/rest/Cargo"]


# -- LocalProviders ------------------------------------------------------------------------------------


def test_local_providers_are_five_origins_indexable_by_name(local_providers: LocalProviders) -> None:
    names = [p.name for p in local_providers]
    assert names[:5] == ["rated", "opsnow", "cognito", "dataloy", "diagrams"]  # then the vendor presets
    assert names == list(LocalProviders.NAMES)
    assert len({p.url for p in local_providers}) == len(names)
    assert local_providers["cognito"] is local_providers.cognito
    with pytest.raises(KeyError, match="rated, opsnow"):
        local_providers["github"]


def test_the_fixtures_are_members_of_one_set(
    local_providers: LocalProviders, rated_provider: RatedEmulator, diagrams_provider: DiagramsEmulator
) -> None:
    assert rated_provider is local_providers.rated
    assert diagrams_provider is local_providers.diagrams


def test_one_ca_bundle_verifies_all_five(local_providers: LocalProviders) -> None:
    assert local_providers.tls
    with requests.Session() as session:
        session.trust_env = False
        for provider in local_providers:
            assert session.get(provider.url + "/nowhere", verify=local_providers.verify).status_code == 404


def test_every_preset_works_over_plain_http_on_loopback_without_tls() -> None:
    with LocalProviders(tls=False) as providers:
        for provider in providers:
            assert provider.url.startswith("http://127.0.0.1:")
            response = provider.api_session().get(provider.api_url + "resource", auth=provider.auth())
            assert response.status_code == 200, provider.name


def test_without_trustme_the_providers_fall_back_to_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "_trustme", lambda: None)
    with LocalProviders() as providers:
        assert not providers.tls
        assert providers.verify is True
        dataloy = providers.dataloy
        assert dataloy.url.startswith("http://")
        assert dataloy.auth().allow_insecure_loopback
        assert dataloy.api_session().get(dataloy.api_url + "Cargo", auth=dataloy.auth()).status_code == 200
    with pytest.raises(RuntimeError, match="trustme"):
        LocalProviders(tls=True)


def test_environ_names_every_variable_of_every_preset(local_providers: LocalProviders) -> None:
    environ = set(local_providers.environ())
    for emulator in local_providers:  # every required variable of every preset's record
        assert {var.name for var in get_provider(emulator.name).env if var.required} <= environ, emulator.name
    assert environ >= {
        "RATED_TOKEN",
        "OPSNOW_API_KEY",
        "OPSNOW_TOKEN_URL",
        "COGNITO_CLIENT_ID",
        "COGNITO_CLIENT_SECRET",
        "COGNITO_TOKEN_URL",
        "COGNITO_SCOPE",
        "DATALOY_CLIENT_ID",
        "DATALOY_CLIENT_SECRET",
        "DATALOY_TOKEN_URL",
        "DATALOY_AUDIENCE",
        "DIAGRAMS_APPLICATION_ID",
        "DIAGRAMS_APPLICATION_SECRET",
        "DIAGRAMS_TOKEN_URL",
        # over HTTPS, the CA bundle each renewing preset's token calls trust
        "OPSNOW_CA_BUNDLE",
        "COGNITO_CA_BUNDLE",
        "DATALOY_CA_BUNDLE",
        "DIAGRAMS_CA_BUNDLE",
        # each protected API's base URL, which the quick start reads
        "RATED_API_URL",
        "OPSNOW_API_URL",
        "COGNITO_API_URL",
        "DATALOY_API_URL",
        "DIAGRAMS_API_URL",
    }


def test_an_emulator_runs_on_its_own_as_a_context_manager() -> None:
    with CognitoEmulator() as cognito:
        auth = cognito.auth()
        assert isinstance(auth, CognitoAuth)
        assert cognito.api_session().get(cognito.api_url + "x", auth=auth).status_code == 200
        assert cognito.server.tls


def test_importing_the_testing_module_does_not_import_pytest() -> None:
    code = (
        "import sys, requests_multiauth.testing as t; "
        "assert 'pytest' not in sys.modules; assert not hasattr(t, 'local_providers')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(1000.0)
    assert clock() == clock() == 1000.0
    assert clock.advance(30) == 1030.0 == clock()


def jwt_claims(token: str) -> Dict[str, Any]:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_each_emulators_environ_names_its_api_url(local_providers: LocalProviders) -> None:
    # Every emulator whose environ() is the registry-generated one (the stage-one five among them).
    for emulator in (local_providers[name] for name in ("rated", "opsnow", "cognito", "dataloy", "diagrams")):
        assert emulator.environ()[f"{emulator.name.upper().replace('-', '_')}_API_URL"] == emulator.api_url


def test_the_quick_start_runs_from_the_emulators_environ(local_providers: LocalProviders, tmp_path: Any) -> None:
    from pathlib import Path

    dataloy = local_providers.dataloy
    example = Path(__file__).parent.parent / "docs" / "examples" / "quickstart.py"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATALOY_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP", "http", "ALL_PROXY"))
    }
    env.update(dataloy.environ())
    env["REQUESTS_CA_BUNDLE"] = str(dataloy.verify)  # the API requests of a plain Session trust the CA this way
    done = subprocess.run(
        [sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("200 ")
    assert dataloy.token_calls == 1
