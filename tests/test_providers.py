"""The five presets on the wire, each against the local emulation of its provider's page
(requests_multiauth.testing): the exact request each sends, how it reads the answer,
how it renews, and how it reports a refusal. Expiry is moved with a ManualClock."""

from __future__ import annotations

import json
import logging
import warnings
from datetime import datetime
from typing import Any, Dict, List, Mapping, Type
from urllib.parse import quote_plus

import pytest

from requests_multiauth import (
    CognitoAuth,
    ConfigurationError,
    DataloyAuth,
    DiagramsAuth,
    InvalidClientError,
    OpsNowAuth,
    RatedAuth,
    TokenExpiredError,
    TokenExpiryWarning,
    TokenRequestError,
    get_provider,
)
from requests_multiauth.testing import (
    OPSNOW_SHAPES,
    CognitoEmulator,
    DataloyEmulator,
    DiagramsEmulator,
    LocalProviders,
    ManualClock,
    OpsNowEmulator,
    ProviderEmulator,
    RatedEmulator,
    Request,
)
from tests.wire import FORM, basic

DAY = 86400.0

#: The five presets of stage one (the registry may hold more: every vendor preset with an emulator).
STAGE_ONE = ("rated", "opsnow", "cognito", "dataloy", "diagrams")


def only(requests_: List[Request]) -> Request:
    assert len(requests_) == 1, requests_
    return requests_[0]


# -- every preset ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LocalProviders.NAMES)
def test_every_preset_gets_a_token_and_calls_a_protected_resource(local_providers: LocalProviders, name: str) -> None:
    provider = local_providers[name]
    session = provider.api_session()
    auth = provider.auth()
    first = session.get(provider.api_url + "resource", auth=auth)
    second = session.post(provider.api_url + "resource", json={"n": 2}, auth=auth)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["received"] == {"n": 2}
    assert provider.token_calls == (0 if name == "rated" else 1)  # then reused
    bearer = {r.headers["Authorization"] for r in provider.api_requests()}
    assert len(bearer) == 1
    sent = bearer.pop()
    assert sent == "Bearer " + auth.get_token().access_token
    if name in STAGE_ONE:  # their providers issue JWTs; Google's and Salesforce's tokens are opaque
        assert sent.startswith("Bearer ey")


# -- Rated -------------------------------------------------------------------------------------------


def test_rated_sends_the_browser_made_jwt_as_a_bearer_token(rated_provider: RatedEmulator) -> None:
    jwt = rated_provider.browser_session().get(rated_provider.token_url).json()["jwt"]  # the page's console snippet
    response = rated_provider.api_session().post(
        rated_provider.api_url + "slos/",
        json={"name": "Uptime percentage SLO", "interval": 86400},
        auth=RatedAuth(jwt, allow_insecure_loopback=not rated_provider.tls),
    )
    assert response.status_code == 200
    sent = only(rated_provider.api_requests())
    assert sent.headers["Authorization"] == f"Bearer {jwt}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json() == {"name": "Uptime percentage SLO", "interval": 86400}


def test_rated_expired_jwt_raises_before_any_connection(rated_provider: RatedEmulator, clock: ManualClock) -> None:
    token = rated_provider.mint(lifetime=365 * DAY)
    auth = rated_provider.auth(token=token)
    clock.advance(365 * DAY)
    with pytest.raises(TokenExpiredError) as caught:
        rated_provider.api_session().get(rated_provider.api_url + "slos/", auth=auth)
    assert rated_provider.server.requests == []
    message = str(caught.value)
    expiry = datetime.utcfromtimestamp(int(clock())).strftime("%Y-%m-%d")
    assert expiry in message
    assert "/api/slaos/v1/users/m2m-token" in message
    assert token not in message


def test_rated_warns_once_when_fewer_than_30_days_remain(rated_provider: RatedEmulator, clock: ManualClock) -> None:
    auth = rated_provider.auth(token=rated_provider.mint(lifetime=40 * DAY))
    session = rated_provider.api_session()
    assert session.get(rated_provider.api_url + "slos/", auth=auth).status_code == 200  # 40 days left: no warning
    clock.advance(11 * DAY)
    with pytest.warns(TokenExpiryWarning, match="m2m-token") as caught:
        statuses = [session.get(rated_provider.api_url + "slos/", auth=auth).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert len([w for w in caught if issubclass(w.category, TokenExpiryWarning)]) == 1
    assert "in 29 days" in str(caught[0].message)


@pytest.mark.parametrize(
    ("kind", "options"), [("opaque", {"jwt": False, "with_exp": False}), ("no exp", {"with_exp": False})]
)
def test_rated_sends_a_token_it_cannot_date_as_is(
    rated_provider: RatedEmulator, clock: ManualClock, kind: str, options: Dict[str, bool]
) -> None:
    token = rated_provider.mint(**options)
    auth = rated_provider.auth(token=token)
    clock.advance(2 * 365 * DAY)  # nothing says when it expires: it is sent, and the server decides
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response = rated_provider.api_session().get(rated_provider.api_url + "slos/", auth=auth)
    assert response.status_code == 200
    assert only(rated_provider.api_requests()).headers["Authorization"] == f"Bearer {token}"
    assert auth.get_token().expires_at is None


def test_rated_401_is_returned_with_a_logged_hint(
    rated_provider: RatedEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    token = rated_provider.mint()
    auth = rated_provider.auth(token=token)
    rated_provider.revoke()
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        response = rated_provider.api_session().get(rated_provider.api_url + "slos/", auth=auth)
    assert response.status_code == 401
    assert response.history == []
    assert rated_provider.api_calls == 1  # nothing to renew: no replay
    hints = [r.getMessage() for r in caplog.records if "m2m-token" in r.getMessage()]
    assert len(hints) == 1
    assert "401" in hints[0]
    assert token not in caplog.text


# -- OpsNow ------------------------------------------------------------------------------------------


def test_opsnow_posts_exactly_the_api_key_as_json(opsnow_provider: OpsNowEmulator) -> None:
    response = opsnow_provider.api_session().get(opsnow_provider.api_url + "costs", auth=opsnow_provider.auth())
    assert response.status_code == 200
    sent = only(opsnow_provider.token_requests())
    assert sent.method == "POST"
    assert sent.path == "/platform/v2/identity/api-keys/token"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == json.dumps({"apiKey": opsnow_provider.api_key}).encode()
    assert "Authorization" not in sent.headers


@pytest.mark.parametrize("shape", OPSNOW_SHAPES)
def test_opsnow_reads_every_answer_shape(opsnow_provider: OpsNowEmulator, clock: ManualClock, shape: str) -> None:
    opsnow_provider.answer_shape = shape
    opsnow_provider.lifetime = 600  # unlike the documented 3600 s, so the test sees which one is used
    token = opsnow_provider.auth().get_token()
    if shape == "opaque":  # nothing in the answer says: the page's 3600 s
        assert token.expires_at == clock() + 3600
    else:
        assert token.expires_at == pytest.approx(clock() + 600, abs=1)
    response = opsnow_provider.api_session().get(opsnow_provider.api_url + "costs", auth=opsnow_provider.auth())
    assert response.status_code == 200


def test_opsnow_exchanges_the_key_again_after_the_documented_3600_s(
    opsnow_provider: OpsNowEmulator, clock: ManualClock
) -> None:
    opsnow_provider.answer_shape = "opaque"
    auth = opsnow_provider.auth()
    session = opsnow_provider.api_session()
    session.get(opsnow_provider.api_url + "costs", auth=auth)
    clock.advance(3599)  # within the leeway of 3600 s: counts as expired
    assert session.get(opsnow_provider.api_url + "costs", auth=auth).status_code == 200
    assert opsnow_provider.token_calls == 2
    tokens = [r.headers["Authorization"] for r in opsnow_provider.api_requests()]
    assert tokens[0] != tokens[1]


def test_opsnow_wrong_key_is_invalid_client_without_retry(opsnow_provider: OpsNowEmulator) -> None:
    auth = OpsNowAuth(
        "not-the-key-at-all",
        token_url=opsnow_provider.token_url,
        session=opsnow_provider.api_session(),
        allow_insecure_loopback=not opsnow_provider.tls,
    )
    with pytest.raises(InvalidClientError, match="invalid API key") as caught:
        auth.get_token()
    assert caught.value.status_code == 401
    assert opsnow_provider.token_calls == 1
    assert "not-the-key-at-all" not in str(caught.value)


# -- Cognito -----------------------------------------------------------------------------------------


def test_cognito_sends_the_form_and_basic_header_of_the_page(cognito_provider: CognitoEmulator) -> None:
    c = cognito_provider
    assert c.api_session().get(c.api_url + "items", auth=c.auth()).status_code == 200
    sent = only(c.token_requests())
    assert sent.method == "POST"
    assert sent.path == "/oauth2/token"
    assert sent.headers["Content-Type"] == FORM
    assert sent.body == b"grant_type=client_credentials&scope=api%2Fwrite"
    assert sent.headers["Authorization"] == basic(c.client_id, c.client_secret)


def test_cognito_request_is_byte_for_byte_the_pages_python_example(cognito_provider: CognitoEmulator) -> None:
    c = cognito_provider
    # The page's own example, verbatim but for the URL and the session's CA.
    params = {"grant_type": "client_credentials", "scope": "api/write"}
    c.api_session().post(c.token_url, data=params, auth=(c.client_id, c.client_secret), headers={"Content-Type": FORM})
    c.auth().get_token()
    theirs, ours = c.token_requests()
    assert ours.body == theirs.body
    for header in ("Authorization", "Content-Type", "Content-Length"):
        assert ours.headers[header] == theirs.headers[header]


def test_cognito_client_auth_post_puts_id_and_secret_in_the_form(cognito_provider: CognitoEmulator) -> None:
    c = cognito_provider
    c.accept_client_secret_post = True
    c.auth(client_auth="post").get_token()
    sent = only(c.token_requests())
    assert "Authorization" not in sent.headers
    assert sent.body.startswith(b"grant_type=client_credentials&")
    assert sent.form() == {
        "grant_type": ["client_credentials"],
        "scope": ["api/write"],
        "client_id": [c.client_id],
        "client_secret": [c.client_secret],
    }


def test_cognito_refuses_client_auth_post_unless_enabled(cognito_provider: CognitoEmulator) -> None:
    with pytest.raises(InvalidClientError):
        cognito_provider.auth(client_auth="post").get_token()
    assert cognito_provider.token_calls == 1


@pytest.mark.parametrize("scope", ["api/write api/read", ["api/write", "api/read"]], ids=["string", "list"])
def test_cognito_scope_as_string_or_list_sends_one_space_separated_field(
    cognito_provider: CognitoEmulator, scope: Any
) -> None:
    token = cognito_provider.auth(scope=scope).get_token()
    assert only(cognito_provider.token_requests()).body == b"grant_type=client_credentials&scope=api%2Fwrite+api%2Fread"
    assert token.access_token


def test_cognito_invalid_client_raises_with_the_servers_description_and_no_retry(
    cognito_provider: CognitoEmulator,
) -> None:
    secret = "a-wrong-secret-that-must-stay-hidden"
    auth = CognitoAuth(
        cognito_provider.client_id,
        secret,
        cognito_provider.token_url,
        scope="api/write",
        session=cognito_provider.api_session(),
        allow_insecure_loopback=not cognito_provider.tls,
    )
    with pytest.raises(InvalidClientError) as caught:
        auth.get_token()
    error = caught.value
    assert (error.status_code, error.error) == (400, "invalid_client")
    assert error.error_description == "Client authentication failed"
    assert "Client authentication failed" in str(error)
    assert "check the client id and secret" in str(error)
    assert secret not in str(error)
    assert cognito_provider.token_calls == 1


@pytest.mark.parametrize(
    ("setting", "scope", "code"),
    [
        ({}, "api/delete", "invalid_scope"),
        ({"client_credentials_allowed": False}, "api/write", "unauthorized_client"),
    ],
)
def test_cognito_refusals_other_than_invalid_client_raise_token_request_error_without_retry(
    cognito_provider: CognitoEmulator, setting: Mapping[str, Any], scope: str, code: str
) -> None:
    for name, value in setting.items():
        setattr(cognito_provider, name, value)
    with pytest.raises(TokenRequestError) as caught:
        cognito_provider.auth(scope=scope).get_token()
    assert type(caught.value) is TokenRequestError
    assert (caught.value.status_code, caught.value.error) == (400, code)
    assert caught.value.error_description
    assert cognito_provider.token_calls == 1


def test_cognito_narrower_granted_scope_is_accepted(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.granted_scope = "api/read"
    auth = cognito_provider.auth(scope="api/write api/read")
    assert auth.get_token().scope == "api/read"
    assert cognito_provider.api_session().get(cognito_provider.api_url + "items", auth=auth).status_code == 200


def test_cognito_answer_without_scope_means_the_requested_scope_was_granted(cognito_provider: CognitoEmulator) -> None:
    # RFC 6749 5.1: the scope is stated only when it differs from the request; Cognito never states it.
    token = cognito_provider.auth(scope=["api/write"]).get_token()
    assert token.scope == "api/write"


def test_cognito_renews_with_a_new_grant_at_expiry(cognito_provider: CognitoEmulator, clock: ManualClock) -> None:
    auth = cognito_provider.auth()
    session = cognito_provider.api_session()
    session.get(cognito_provider.api_url + "items", auth=auth)
    clock.advance(3600)
    assert session.get(cognito_provider.api_url + "items", auth=auth).status_code == 200
    bodies = [r.body for r in cognito_provider.token_requests()]
    assert bodies == [b"grant_type=client_credentials&scope=api%2Fwrite"] * 2


# -- Dataloy -----------------------------------------------------------------------------------------


def test_dataloy_posts_the_pages_json_payload_in_its_order(
    dataloy_provider: DataloyEmulator, clock: ManualClock
) -> None:
    d = dataloy_provider
    auth = d.auth()
    assert d.api_session().get(d.api_url + "Cargo", auth=auth).status_code == 200
    sent = only(d.token_requests())
    assert (sent.method, sent.path) == ("POST", "/oauth/token")
    assert sent.headers["Content-Type"] == "application/json"
    assert "Authorization" not in sent.headers
    assert list(sent.json().items()) == [
        ("client_id", d.client_id),
        ("client_secret", d.client_secret),
        ("audience", "https://dataloy"),
        ("grant_type", "client_credentials"),
    ]
    assert auth.get_token().expires_at == clock() + 86400


@pytest.mark.parametrize(
    "audience", ["https://dataloy", "https://dataloy.dev", "https://dataloy.internal", "urn:any:string"]
)
def test_dataloy_audience_is_any_string(dataloy_provider: DataloyEmulator, audience: str) -> None:
    if audience not in dataloy_provider.audiences:
        dataloy_provider.audiences.append(audience)
    dataloy_provider.auth(audience=audience).get_token()
    assert only(dataloy_provider.token_requests()).json()["audience"] == audience


def test_dataloy_extra_params_pass_through_after_the_pages_fields(dataloy_provider: DataloyEmulator) -> None:
    dataloy_provider.extra_fields = ["scope", "organization"]
    dataloy_provider.auth(params={"scope": "read:cargo", "organization": "org_42"}).get_token()
    body = only(dataloy_provider.token_requests()).json()
    assert list(body) == ["client_id", "client_secret", "audience", "grant_type", "scope", "organization"]
    assert (body["scope"], body["organization"]) == ("read:cargo", "org_42")


def test_dataloy_basic_client_auth_moves_id_and_secret_to_the_header(dataloy_provider: DataloyEmulator) -> None:
    d = dataloy_provider
    d.accept_basic = True
    d.auth(client_auth="basic").get_token()
    sent = only(d.token_requests())
    assert sent.headers["Authorization"] == basic(d.client_id, d.client_secret)
    assert sent.json() == {"audience": "https://dataloy", "grant_type": "client_credentials"}


def test_dataloy_token_expired_401_renews_and_replays_once(
    dataloy_provider: DataloyEmulator, clock: ManualClock
) -> None:
    d = dataloy_provider
    auth = d.auth(clock=ManualClock(clock()))  # the client's clock lags: only the server sees the expiry
    session = d.api_session()
    session.get(d.api_url + "Cargo", auth=auth)
    clock.advance(86400)
    response = session.post(d.api_url + "Cargo", json={"freight": 2500000}, auth=auth)
    assert response.status_code == 200
    assert response.json()["received"] == {"freight": 2500000}  # the body was replayed whole
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()["message"] == "Token expired."
    assert d.token_calls == 2
    first, rejected, replayed = (r.headers["Authorization"] for r in d.api_requests())
    assert first == rejected != replayed


def test_dataloy_wrong_secret_is_invalid_client_without_retry(dataloy_provider: DataloyEmulator) -> None:
    auth = DataloyAuth(
        dataloy_provider.client_id,
        "wrong-secret-for-dataloy",
        dataloy_provider.token_url,
        session=dataloy_provider.api_session(),
        allow_insecure_loopback=not dataloy_provider.tls,
    )
    with pytest.raises(InvalidClientError, match="Unauthorized") as caught:
        auth.get_token()
    assert caught.value.status_code == 401
    assert dataloy_provider.token_calls == 1


# -- Diagrams ----------------------------------------------------------------------------------------


def refresh_body(refresh_token: str) -> bytes:
    return b"grant_type=refresh_token&scope=data&refresh_token=" + quote_plus(refresh_token).encode()


def test_diagrams_first_request_is_the_pages_curl(diagrams_provider: DiagramsEmulator, clock: ManualClock) -> None:
    d = diagrams_provider
    token = d.auth().get_token()
    sent = only(d.token_requests())
    assert (sent.method, sent.path) == ("POST", "/v0/oauth2/token")
    assert sent.headers["Content-Type"] == FORM
    assert sent.headers["Authorization"] == basic(d.application_id, d.application_secret)
    assert sent.body == b"grant_type=client_credentials"  # curl --data-binary 'grant_type=client_credentials'
    assert token.expires_at == clock() + 172800
    assert token.refresh_token
    assert token.refresh_expires_at == clock() + 31557600


def test_diagrams_renews_with_the_refresh_token_while_it_lives(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    auth = d.auth()
    session = d.api_session()
    session.get(d.api_url + "anomalies", auth=auth)
    first_refresh = auth.get_token().refresh_token
    assert first_refresh is not None
    clock.advance(172800)
    assert session.get(d.api_url + "anomalies", auth=auth).status_code == 200
    assert (d.token_calls, d.refresh_calls) == (2, 1)
    refresh = d.token_requests()[1]
    assert refresh.body == refresh_body(first_refresh)
    assert refresh.headers["Authorization"] == basic(d.application_id, d.application_secret)
    assert refresh.headers["Content-Type"] == FORM
    assert auth.get_token().refresh_token not in (None, first_refresh)  # the answer's new one is kept


def test_diagrams_falls_back_to_client_credentials_when_the_refresh_is_refused(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    auth = d.auth()
    auth.get_token()
    d.refuse_refresh = True
    clock.advance(172800)
    assert d.api_session().get(d.api_url + "anomalies", auth=auth).status_code == 200
    assert (d.token_calls, d.refresh_calls) == (3, 1)
    assert d.token_requests()[2].body == b"grant_type=client_credentials"


def test_diagrams_falls_back_when_the_server_ended_the_refresh_token(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    auth = d.auth()
    auth.get_token()
    d.expire_refresh_tokens()
    clock.advance(172800)
    assert auth.get_token().access_token
    assert [r.body.split(b"&")[0] for r in d.token_requests()] == [
        b"grant_type=client_credentials",
        b"grant_type=refresh_token",
        b"grant_type=client_credentials",
    ]


def test_diagrams_skips_a_refresh_token_it_knows_has_expired(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    d.refresh_lifetime = 3600  # ends long before the access token
    auth = d.auth()
    auth.get_token()
    clock.advance(172800)
    auth.get_token()
    assert (d.token_calls, d.refresh_calls) == (2, 0)
    assert [r.body for r in d.token_requests()] == [b"grant_type=client_credentials"] * 2


def test_diagrams_keeps_the_old_refresh_token_when_a_refresh_answer_omits_it(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    d.refresh_omits_token = True
    auth = d.auth()
    original = auth.get_token().refresh_token
    assert original is not None
    for _ in range(2):
        clock.advance(172800)
        assert auth.get_token().refresh_token == original
    assert (d.token_calls, d.refresh_calls) == (3, 2)
    assert [r.body for r in d.token_requests()[1:]] == [refresh_body(original)] * 2


@pytest.mark.parametrize("fields", [("expires_in", "expiration_date"), ("expires_in",), ("expiration_date",)], ids=str)
def test_diagrams_renews_by_expires_in_or_expiration_date(
    diagrams_provider: DiagramsEmulator, clock: ManualClock, fields: Any
) -> None:
    d = diagrams_provider
    d.expiry_fields = fields
    auth = d.auth()
    assert auth.get_token().expires_at == pytest.approx(clock() + 172800, abs=0.001)
    clock.advance(172800 - 1)
    auth.get_token()
    assert d.refresh_calls == 1


def test_diagrams_renews_by_the_jwt_exp_when_the_answer_states_no_expiry(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    d.expiry_fields = ()
    d.lifetime = 7200
    auth = d.auth()
    token = auth.get_token()
    assert token.expires_at == int(clock() + 7200)
    clock.advance(7200)
    assert auth.get_token().access_token != token.access_token
    assert d.refresh_calls == 1


def test_diagrams_renews_on_a_401_when_nothing_dates_the_token(
    diagrams_provider: DiagramsEmulator, clock: ManualClock
) -> None:
    d = diagrams_provider
    d.expiry_fields = ()
    d.opaque_tokens = True
    auth = d.auth()
    session = d.api_session()
    assert session.get(d.api_url + "anomalies", auth=auth).status_code == 200
    assert auth.get_token().expires_at is None
    clock.advance(172800)  # the server's token is dead; the client cannot know
    response = session.get(d.api_url + "anomalies", auth=auth)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()["error"] == "invalid_token"
    assert (d.token_calls, d.refresh_calls) == (2, 1)


def test_diagrams_wrong_secret_is_invalid_client(diagrams_provider: DiagramsEmulator) -> None:
    auth = DiagramsAuth(
        diagrams_provider.application_id,
        "not-the-application-secret",
        token_url=diagrams_provider.token_url,
        session=diagrams_provider.api_session(),
        allow_insecure_loopback=not diagrams_provider.tls,
    )
    with pytest.raises(InvalidClientError):
        auth.get_token()
    assert diagrams_provider.token_calls == 1


# -- from_env ----------------------------------------------------------------------------------------

PRESETS: Dict[str, Type[Any]] = {
    "rated": RatedAuth,
    "opsnow": OpsNowAuth,
    "cognito": CognitoAuth,
    "dataloy": DataloyAuth,
    "diagrams": DiagramsAuth,
}

REQUIRED = {
    "rated": ["RATED_TOKEN"],
    "opsnow": ["OPSNOW_API_KEY"],
    "cognito": ["COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET", "COGNITO_TOKEN_URL"],
    "dataloy": ["DATALOY_CLIENT_ID", "DATALOY_CLIENT_SECRET", "DATALOY_TOKEN_URL"],
    "diagrams": ["DIAGRAMS_APPLICATION_ID", "DIAGRAMS_APPLICATION_SECRET"],
}


def env_options(provider: ProviderEmulator) -> Dict[str, Any]:
    """What from_env() needs besides the environment to reach a local provider."""
    options: Dict[str, Any] = {"allow_insecure_loopback": not provider.tls}
    if provider.name != "rated":
        options["session"] = provider.api_session()
    return options


@pytest.mark.parametrize("name", LocalProviders.NAMES)
def test_from_env_builds_a_working_preset(local_providers: LocalProviders, name: str) -> None:
    provider = local_providers[name]
    preset = get_provider(name).auth_class
    auth = preset.from_env(provider.environ(), **env_options(provider))
    assert isinstance(auth, preset)
    assert provider.api_session().get(provider.api_url + "resource", auth=auth).status_code == 200


@pytest.mark.parametrize(("name", "variable"), [(n, v) for n, names in REQUIRED.items() for v in names])
@pytest.mark.parametrize("absent", ["unset", "blank"])
def test_from_env_names_a_missing_variable(
    local_providers: LocalProviders, name: str, variable: str, absent: str
) -> None:
    environ = local_providers[name].environ()
    if absent == "unset":
        del environ[variable]
    else:
        environ[variable] = "  "
    with pytest.raises(ConfigurationError, match=variable):
        PRESETS[name].from_env(environ)


def test_from_env_reads_the_optional_variables(local_providers: LocalProviders) -> None:
    cognito, dataloy = local_providers.cognito, local_providers.dataloy
    CognitoAuth.from_env({**cognito.environ(), "COGNITO_SCOPE": "api/read"}, **env_options(cognito)).get_token()
    assert only(cognito.token_requests()).body == b"grant_type=client_credentials&scope=api%2Fread"
    environ = {**dataloy.environ(), "DATALOY_AUDIENCE": "https://dataloy.dev"}
    DataloyAuth.from_env(environ, **env_options(dataloy)).get_token()
    assert only(dataloy.token_requests()).json()["audience"] == "https://dataloy.dev"


def test_from_env_reads_os_environ_by_default(local_providers: LocalProviders, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in local_providers.diagrams.environ().items():
        monkeypatch.setenv(variable, value)
    auth = DiagramsAuth.from_env(**env_options(local_providers.diagrams))
    assert auth.get_token().access_token


def test_presets_point_at_the_documented_production_urls() -> None:
    assert OpsNowAuth("k").token_url == "https://api.opsnow.io/platform/v2/identity/api-keys/token"
    assert DiagramsAuth("a", "s").token_url == "https://api.diagrams-technologies.com/v0/oauth2/token"
    assert DataloyAuth("i", "s", "https://login.example/oauth/token").audience == "https://dataloy"


#: The credential arguments that are secrets (the others are public ids).
SECRET_ARGUMENTS = ("token", "api_key", "client_secret", "application_secret")


@pytest.mark.parametrize("name", LocalProviders.NAMES)
def test_no_secret_or_token_appears_in_a_presets_repr(local_providers: LocalProviders, name: str) -> None:
    provider = local_providers[name]
    credentials = provider.credentials
    auth: Any = provider.auth(token=credentials["token"]) if name == "rated" else provider.auth()
    token = auth.get_token()
    shown = repr(auth) + repr(token) + str(token)
    for secret in [token.access_token, *(v for k, v in credentials.items() if k in SECRET_ARGUMENTS)]:
        assert secret not in shown
