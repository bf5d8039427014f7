"""GitHubActionsToken against a local emulation of the runner's OIDC endpoint.

The wire is actions/toolkit's ``core.getIDToken`` (the runner's own client):
``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<encodeURIComponent(aud)>`` with
``Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN``, answered ``{"value": ...}``.
"""

from __future__ import annotations

import traceback
from typing import Iterator, List

import pytest

from requests_multiauth import (
    ClientAssertion,
    ClientCredentialsAuth,
    ConfigurationError,
    GitHubActionsToken,
    TokenExchangeAuth,
    TokenRequestError,
)
from requests_multiauth.testing import (
    GITHUB_ACTIONS_ISSUER,
    GitHubActionsEmulator,
    LocalServer,
    Reply,
    Request,
    TokenExchangeEmulator,
)

from .fixtures_secrets import SecretWatch

AZURE_AUDIENCE = "api://AzureADTokenExchange"
GOOGLE_AUDIENCE = (
    "https://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/github/providers/octo"
)


@pytest.fixture
def runner() -> Iterator[GitHubActionsEmulator]:
    with GitHubActionsEmulator() as emulator:
        yield emulator


def test_the_request_is_the_runner_clients_get_with_the_bearer_request_token_and_the_encoded_audience(
    runner: GitHubActionsEmulator, secret_strings: SecretWatch
) -> None:
    secret_strings.add(runner.request_token)
    value = runner.token_source(GOOGLE_AUDIENCE).token()
    secret_strings.add(value)
    (request,) = runner.token_requests()
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {runner.request_token}"
    assert request.headers["Accept"] == "application/json"
    assert request.query == {"api-version": ["2.0"], "audience": [GOOGLE_AUDIENCE]}
    # encodeURIComponent: "/" and ":" are escaped as the runner's own client does (urllib3's log has the raw line).
    assert "?api-version=2.0&audience=https%3A%2F%2Fiam.googleapis.com%2Fprojects%2F123456%2F" in secret_strings.text
    claims = runner.issuer.verify(value, GOOGLE_AUDIENCE)
    assert claims["iss"] == GITHUB_ACTIONS_ISSUER
    assert claims["sub"] == "repo:octo-org/octo-repo:ref:refs/heads/main"


def test_no_audience_asks_for_githubs_default_one(runner: GitHubActionsEmulator) -> None:
    value = runner.token_source().token()
    assert runner.token_requests()[0].query == {"api-version": ["2.0"]}
    assert runner.issuer.verify(value, "https://github.com/octo-org")["repository"] == "octo-org/octo-repo"


def test_outside_a_runner_it_is_refused_naming_the_missing_variables_and_the_permission() -> None:
    with pytest.raises(ConfigurationError) as both:
        GitHubActionsToken("sts.amazonaws.com", environ={})
    message = str(both.value)
    assert "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set" in message
    assert "permissions: id-token: write" in message
    with pytest.raises(ConfigurationError, match=r"^GitHubActionsToken: ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set"):
        GitHubActionsToken(environ={"ACTIONS_ID_TOKEN_REQUEST_URL": "https://runner.test/idtoken?api-version=2.0"})


def test_a_refused_request_token_is_a_token_request_error_that_shows_no_token(
    runner: GitHubActionsEmulator, secret_strings: SecretWatch
) -> None:
    secret_strings.add(runner.request_token)
    source = runner.token_source(AZURE_AUDIENCE)
    runner.request_token = "another-request-token-9c1d"  # the runner now expects another one
    with pytest.raises(TokenRequestError) as caught:
        source.token()
    assert caught.value.status_code == 401
    shown = "".join(traceback.format_exception(caught.value)) + repr(source)
    assert secret_strings.leaks() == []
    assert "another-request-token" not in shown


def test_as_a_client_assertion_each_token_call_sends_a_new_runner_token(runner: GitHubActionsEmulator) -> None:
    seen: List[str] = []

    def entra_like(request: Request) -> Reply:
        form = {k: v[0] for k, v in request.form().items()}
        assertion = form.get("client_assertion", "")
        try:
            claims = runner.issuer.verify(assertion, AZURE_AUDIENCE)
        except ValueError as exc:
            return Reply(401, {"error": "invalid_client", "error_description": str(exc)})
        seen.append(assertion)
        assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        return Reply(200, {"access_token": f"for-{claims['sub']}-{len(seen)}", "expires_in": 3600})

    with LocalServer(entra_like, ca=runner.server.ca) as idp:
        auth = ClientCredentialsAuth(
            "app-id",
            token_url=idp.url + "/token",
            client_auth=ClientAssertion(runner.token_source(AZURE_AUDIENCE)),
            verify=idp.verify,
        )
        assert auth.get_token().access_token == "for-repo:octo-org/octo-repo:ref:refs/heads/main-1"
        auth.invalidate()
        auth.get_token()
    assert runner.token_calls == 2
    assert len(set(seen)) == 2
    assert runner.audiences == [AZURE_AUDIENCE, AZURE_AUDIENCE]


def test_as_a_subject_token_a_token_exchange_gets_one_runner_token_per_exchange(
    runner: GitHubActionsEmulator,
) -> None:
    with TokenExchangeEmulator(issuer=runner.issuer, subject_audience="sts.example.test", ca=runner.server.ca) as sts:
        auth = TokenExchangeAuth(
            runner.token_source("sts.example.test"), sts.token_url, audience="deploy", verify=sts.verify
        )
        auth.get_token()
        auth.invalidate()
        auth.get_token()
        assert [e.subject for e in sts.exchanges] == ["repo:octo-org/octo-repo:ref:refs/heads/main"] * 2
    assert runner.token_calls == 2
