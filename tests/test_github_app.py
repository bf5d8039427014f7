"""GitHubAppAuth and GitHubAppJwtAuth against the local GitHub API emulator, and PyGithub on it.

The peer is PyGithub 2.10 (``GithubIntegration`` with ``Auth.AppAuth``, and ``Github`` with
its installation auth), pointed at the emulator by ``base_url=``. The test compares its
lookup and access-token requests with ours, header by header and claim by claim.
Documented differences: PyGithub asks for the old ``machine-man-preview`` media type
and sends no ``X-GitHub-Api-Version``, where GitHub's REST pages ask for
``application/vnd.github+json`` and the version header; its app JWT lives 300 s past
now, ours 540 s (GitHub allows up to 600); it always posts ``{"permissions": {}}``,
we post no body unless narrowing is asked for.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import requests

from requests_multiauth import (
    ConfigurationError,
    GitHubAppAuth,
    GitHubAppJwtAuth,
    InvalidClientError,
    TokenRequestError,
    get_provider,
)
from requests_multiauth.providers.github_app import GITHUB_API_URL
from requests_multiauth.testing import GitHubEmulator, ManualClock

from .fixtures_secrets import SecretWatch
from .fixtures_vendors import BURST_THREADS, PROCESSES, burst_after_expiry, processes_share_a_file_cache


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator() as emulator:
        yield emulator


def repo(session: requests.Session, auth: Any, github: GitHubEmulator) -> requests.Response:
    return session.get(github.url + "/repos/octo-org/hello-world", auth=auth)


def headers_of(seen: Dict[str, Any]) -> Dict[str, str]:
    return {name.lower(): value for name, value in seen["headers"].items()}


# -- what is sent ---------------------------------------------------------------------------------------


def test_the_app_jwt_is_rs256_backdated_60_s_and_expires_within_10_minutes(github: GitHubEmulator) -> None:
    clock = ManualClock()
    github.clock = clock
    github.auth().get_token()
    seen = github.jwts()
    assert [entry["path"] for entry in seen] == [
        "/orgs/octo-org/installation",
        f"/app/installations/{github.installation('octo-org').id}/access_tokens",
    ]
    for entry in seen:
        assert entry["header"] == {"alg": "RS256", "typ": "JWT"}
        claims = entry["claims"]
        assert claims["iss"] == str(github.app_id)
        assert claims["iat"] == int(clock()) - 60
        assert claims["exp"] - int(clock()) == 540
        assert headers_of(entry)["accept"] == "application/vnd.github+json"
        assert headers_of(entry)["x-github-api-version"] == "2022-11-28"


def test_the_client_id_may_be_the_issuer(github: GitHubEmulator) -> None:
    auth = GitHubAppAuth(
        github.client_id, github.private_key, owner="octo-org", api_url=github.url, session=github.api_session()
    )
    assert auth.get_token().access_token.startswith("ghs_")
    assert github.jwts()[0]["claims"]["iss"] == github.client_id


def test_the_installation_token_and_its_iso_expires_at_are_used_as_given(github: GitHubEmulator) -> None:
    clock = ManualClock()
    github.clock = clock
    token = github.auth().get_token()
    assert token.expires_at == pytest.approx(int(clock()) + 3600, abs=1)
    assert token.extra["repository_selection"] == "all"
    assert token.extra["permissions"] == {"issues": "write", "contents": "read", "metadata": "read"}


def test_the_installation_is_looked_up_once_per_auth_from_owner_or_repo(github: GitHubEmulator) -> None:
    clock = ManualClock()
    github.clock = clock
    auth = github.auth(owner="octocat", repo="linguist")
    auth.get_token()
    clock.advance(3601)
    auth.get_token()
    assert github.token_calls == 2
    assert github.lookups == 1
    assert auth.installation_id == github.installation("octocat").id
    assert github.jwts()[0]["path"] == "/repos/octocat/linguist/installation"


def test_a_user_account_is_found_after_the_organization_lookup_says_404(github: GitHubEmulator) -> None:
    auth = github.auth(owner="octocat")
    auth.get_token()
    assert [entry["path"] for entry in github.jwts()][:2] == [
        "/orgs/octocat/installation",
        "/users/octocat/installation",
    ]


def test_an_installation_id_skips_the_lookup(github: GitHubEmulator) -> None:
    github.auth(installation_id=github.installation("octo-org").id).get_token()
    assert github.lookups == 0
    assert github.token_calls == 1


def test_repositories_and_permissions_narrow_the_token_request(github: GitHubEmulator) -> None:
    auth = github.auth(owner="octo-org", repositories=["hello-world"], permissions={"issues": "read"})
    token = auth.get_token()
    (sent,) = [r for r in github.server.received() if r.path.endswith("/access_tokens")]
    assert sent.json() == {"repositories": ["hello-world"], "permissions": {"issues": "read"}}
    assert token.extra["permissions"] == {"issues": "read"}
    session = github.api_session()
    refused = session.post(
        github.url + "/repos/octo-org/hello-world/issues/1/comments", json={"body": "x"}, auth=auth
    )
    assert refused.status_code == 403  # read-only token: GitHub refuses, and nothing is renewed
    assert github.token_calls == 1


def another_rsa_key() -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()


def test_github_enterprise_server_by_api_url(github: GitHubEmulator) -> None:
    auth_url = "https://ghe.example.com/api/v3/"
    key = github.private_key
    auth = GitHubAppAuth(1234, key, installation_id=42, api_url=auth_url)
    assert auth.api_url == "https://ghe.example.com/api/v3"
    assert GitHubAppAuth(1234, key, installation_id=42).api_url == GITHUB_API_URL


def test_an_installation_or_owner_is_required_and_a_key_must_be_private(github: GitHubEmulator) -> None:
    with pytest.raises(ConfigurationError, match="installation_id"):
        GitHubAppAuth(github.app_id, github.private_key)
    with pytest.raises(ConfigurationError, match="private key"):
        GitHubAppAuth(github.app_id, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", owner="o")


# -- GitHub's refusals --------------------------------------------------------------------------------------


def test_a_key_of_another_app_is_refused_with_githubs_words_and_advice(github: GitHubEmulator) -> None:
    other = GitHubEmulator()
    auth = GitHubAppAuth(
        github.app_id, other.private_key, owner="octo-org", api_url=github.url, session=github.api_session()
    )
    with pytest.raises(InvalidClientError) as raised:
        auth.get_token()
    assert "could not be decoded" in str(raised.value)
    assert "private key generated for this app" in str(raised.value)


def test_an_app_not_installed_on_the_owner_says_so(github: GitHubEmulator) -> None:
    with pytest.raises(TokenRequestError, match="not installed on nobody"):
        github.auth(owner="nobody").get_token()


def test_permissions_beyond_the_installation_are_refused_with_advice(github: GitHubEmulator) -> None:
    with pytest.raises(TokenRequestError, match="narrow permissions=") as raised:
        github.auth(permissions={"issues": "admin"}).get_token()
    assert raised.value.status_code == 422


def test_a_rate_limit_answer_is_returned_and_not_a_reason_to_renew(github: GitHubEmulator) -> None:
    auth = github.auth()
    session = github.api_session()
    assert repo(session, auth, github).status_code == 200
    github.rate_limited = True
    limited = repo(session, auth, github)
    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.history == []
    assert github.token_calls == 1


# -- GitHubAppJwtAuth -----------------------------------------------------------------------------------------


def test_the_app_jwt_auth_presents_the_jwt_for_app_endpoints_and_renews_it_ahead(github: GitHubEmulator) -> None:
    clock = ManualClock()
    github.clock = clock
    auth = github.jwt_auth()
    session = github.api_session()
    assert session.get(github.url + "/app", auth=auth).json()["id"] == github.app_id
    first = auth.get_token()
    assert first.expires_at == int(clock()) + 540
    clock.advance(540 - 10)  # within the renewal window before its expiry
    second = auth.get_token()
    assert second.access_token != first.access_token
    assert session.get(github.url + "/app/installations", auth=auth).status_code == 200
    assert github.token_calls == 0  # a JWT is signed here, never fetched


# -- the guarantees ------------------------------------------------------------------------------------------


def test_32_threads_right_after_expiry_make_one_token_call_and_one_lookup_in_all(github: GitHubEmulator) -> None:
    clock = ManualClock()
    github.clock = clock
    statuses = burst_after_expiry(github, github.auth(), clock, lambda session, a: repo(session, a, github))
    assert statuses == [200] * BURST_THREADS
    assert github.token_calls == 2
    assert github.lookups == 1


def test_8_processes_sharing_a_file_cache_make_one_github_call_in_all(github: GitHubEmulator, tmp_path: Path) -> None:
    results = processes_share_a_file_cache("github-app", github.environ(), tmp_path)
    assert len(results) == PROCESSES
    assert len({result["expires_at"] for result in results}) == 1
    assert github.token_calls == 1
    assert github.lookups == 1


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(github: GitHubEmulator) -> None:
    auth = github.auth()
    session = github.api_session()
    assert repo(session, auth, github).status_code == 200
    github.revoke()
    response = repo(session, auth, github)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()["message"] == "Bad credentials"
    assert github.token_calls == 2


def test_a_job_comments_on_an_issue(github: GitHubEmulator) -> None:
    auth = github.auth(owner="octo-org", repo="hello-world")
    with github.multiauth_session(auth, base_url=github.url + "/") as session:
        session.post("repos/octo-org/hello-world/issues/7/comments", json={"body": "Build passed"}).raise_for_status()
    assert [comment["body"] for comment in github.comments("octo-org", "hello-world", 7)] == ["Build passed"]


def test_from_env_through_the_registry(github: GitHubEmulator) -> None:
    provider = get_provider("github-app")
    assert provider.auth_class is GitHubAppAuth
    assert provider.auth_class.from_env(github.environ()).get_token().access_token
    jwt_auth = get_provider("github-app-jwt").auth_class.from_env(github.environ())
    assert isinstance(jwt_auth, GitHubAppJwtAuth)
    assert jwt_auth.get_token().expires_at is not None


def test_no_key_jwt_or_token_in_reprs_errors_or_logs(github: GitHubEmulator, secret_strings: SecretWatch) -> None:
    secret_strings.add_private_key(github.private_key)
    auth, jwt_auth = github.auth(), github.jwt_auth()
    token, app_jwt = auth.get_token().access_token, jwt_auth.get_token().access_token
    secret_strings.add(token, app_jwt)
    jwts = [entry["headers"]["Authorization"].split(" ", 1)[1] for entry in github.jwts()]
    secret_strings.add_assertions(jwts)
    github.revoke()
    repo(github.api_session(), auth, github)
    with pytest.raises(TokenRequestError) as raised:
        github.auth(owner="nobody").get_token()
    for text in (repr(auth), repr(jwt_auth), str(raised.value), str(auth.telemetry.snapshot())):
        assert token not in text
        assert app_jwt not in text
        assert all(value not in text for value in jwts)
        assert "PRIVATE KEY" not in text


# -- the peer --------------------------------------------------------------------------------------------------


def test_pygithub_sends_the_same_jwt_claims_and_lookup_and_token_requests_as_ours(github: GitHubEmulator) -> None:
    from github import Auth, GithubIntegration

    integration = GithubIntegration(
        auth=Auth.AppAuth(github.app_id, github.private_key), base_url=github.url, verify=github.verify
    )
    installation = integration.get_org_installation("octo-org")
    their_token = integration.get_access_token(installation.id)
    theirs = github.jwts()
    github.auth().get_token()
    ours = github.jwts()[len(theirs) :]
    assert [entry["path"] for entry in theirs] == [entry["path"] for entry in ours]
    for their, our in zip(theirs, ours):
        assert their["header"] == our["header"] == {"alg": "RS256", "typ": "JWT"}
        assert set(their["claims"]) == set(our["claims"]) == {"iat", "exp", "iss"}
        assert their["claims"]["iss"] == our["claims"]["iss"] == str(github.app_id)
        assert abs(their["claims"]["iat"] - our["claims"]["iat"]) < 30
        assert their["claims"]["exp"] - their["claims"]["iat"] == 360  # PyGithub: 300 s past now, iat 60 s back
        assert our["claims"]["exp"] - our["claims"]["iat"] == 600  # ours: 540 s past now, iat 60 s back
        assert headers_of(their)["authorization"].startswith("Bearer ")
        assert headers_of(our)["authorization"].startswith("Bearer ")
        assert headers_of(their)["accept"] == "application/vnd.github.machine-man-preview+json"  # documented
        assert headers_of(our)["accept"] == "application/vnd.github+json"
    ours_answer = github.auth().get_token()
    assert isinstance(their_token.expires_at, datetime.datetime)
    assert abs(their_token.expires_at.timestamp() - (ours_answer.expires_at or 0)) < 30


def test_a_rate_limited_token_call_says_it_is_a_rate_limit_not_a_credential_problem(github: GitHubEmulator) -> None:
    from requests_multiauth.testing import Reply

    reset = str(int(github.clock()) + 600)
    github.inject(
        Reply(
            403,
            {"message": "API rate limit exceeded for 127.0.0.1.", "documentation_url": "https://docs.github.com/rest"},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
        )
    )
    with pytest.raises(TokenRequestError) as raised:
        github.auth(installation_id=github.installation("octo-org").id).get_token()
    assert not isinstance(raised.value, InvalidClientError)
    assert raised.value.status_code == 403
    assert "not a credential problem" in str(raised.value)
    assert "x-ratelimit-reset" in str(raised.value)
    assert github.token_calls == 1
