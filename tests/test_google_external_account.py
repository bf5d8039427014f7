"""GoogleExternalAccountAuth against a local Google STS + IAM Credentials, with google-auth as the wire peer.

The peer is google-auth's ``identity_pool.Credentials`` (the library Google's own
clients use), built from the same ``external_account`` configuration and pointed at
the same emulator (google-auth takes ``token_url`` and
``service_account_impersonation_url`` from the file, so it reaches loopback as is).
Its requests and ours are compared field by field. Documented differences, by design:

* google-auth adds an ``x-goog-api-client`` metrics header to its STS and IAM calls;
  we send no telemetry header to Google;
* google-auth's generateAccessToken body carries ``"delegates": null``; we leave the
  optional field out (the IAM reference lists it as optional; null and absent mean the same).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from requests_multiauth import ConfigurationError, GoogleExternalAccountAuth, get_provider
from requests_multiauth.providers.google_external_account import CLOUD_PLATFORM_SCOPE, IAM_SCOPE
from requests_multiauth.testing import GitHubActionsEmulator, GoogleStsEmulator, ManualClock, Request

from .fixtures_secrets import SecretWatch

google_auth = pytest.importorskip("google.auth")
from google.auth import identity_pool  # noqa: E402 - after the skip
from google.auth.transport.requests import AuthorizedSession  # noqa: E402
from google.auth.transport.requests import Request as GoogleRequest  # noqa: E402

THREADS = 32
PROCESSES = 8
WAIT = 60.0
STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
PEER_ONLY_HEADERS = {"x-goog-api-client"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def google(clock: ManualClock) -> Iterator[GoogleStsEmulator]:
    with GoogleStsEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def subject_file(google: GoogleStsEmulator, tmp_path: Path, secret_strings: SecretWatch) -> Path:
    path = tmp_path / "subject-token"
    token = google.subject_token()
    secret_strings.add(token)
    path.write_text(token)
    return path


def peer_session(google: GoogleStsEmulator) -> requests.Session:
    session = requests.Session()
    session.verify = google.verify
    session.trust_env = False
    return session


def headers_of(request: Request) -> Dict[str, str]:
    skip = {"host", "user-agent", "content-length", "accept-encoding", "connection", "accept", "authorization"}
    return {k.lower(): v for k, v in request.headers.items() if k.lower() not in skip}


def form_of(request: Request) -> Dict[str, List[str]]:
    return request.form()


def test_sts_and_impersonation_requests_equal_google_auths_field_by_field(
    google: GoogleStsEmulator, subject_file: Path, secret_strings: SecretWatch
) -> None:
    config = google.credential_config(str(subject_file))
    ours = google.auth(path_or_info=config, scopes=[STORAGE_SCOPE])
    token = ours.get_token()
    secret_strings.add(token.access_token)
    peer = identity_pool.Credentials.from_info(config, scopes=[STORAGE_SCOPE])
    peer.refresh(GoogleRequest(peer_session(google)))
    secret_strings.add(peer.token)
    sts_ours, iam_ours, sts_peer, iam_peer = (
        google.token_requests()[0],
        *[r for r in google.server.received() if r.path.endswith(":generateAccessToken")][:1],
        google.token_requests()[1],
        [r for r in google.server.received() if r.path.endswith(":generateAccessToken")][1],
    )
    # STS: every form field equal, the subject token included; the STS token only serves impersonation.
    assert form_of(sts_ours) == form_of(sts_peer)
    assert form_of(sts_ours)["scope"] == [IAM_SCOPE]
    assert form_of(sts_ours)["subject_token"] == [subject_file.read_text()]
    assert headers_of(sts_ours) == {k: v for k, v in headers_of(sts_peer).items() if k not in PEER_ONLY_HEADERS}
    assert "Authorization" not in sts_ours.headers  # no client authentication in this configuration
    # IAM: the same JSON (but the peer's "delegates": null), each with a live STS token as bearer.
    assert iam_ours.json() == {k: v for k, v in iam_peer.json().items() if not (k == "delegates" and v is None)}
    assert iam_ours.json() == {"scope": [STORAGE_SCOPE], "lifetime": "3600s"}
    assert iam_ours.headers["Authorization"].split()[0] == iam_peer.headers["Authorization"].split()[0] == "Bearer"
    assert headers_of(iam_ours) == {k: v for k, v in headers_of(iam_peer).items() if k not in PEER_ONLY_HEADERS}
    assert google.sts_calls == google.iam_calls == 2
    # Both tokens open the API.
    with google.multiauth_session(ours) as session:
        assert session.get("b/bucket/o").json()["subject"] == google.service_account


def test_without_impersonation_the_sts_token_is_the_token_and_the_scopes_are_asked_of_sts_as_google_auth_does(
    google: GoogleStsEmulator, subject_file: Path
) -> None:
    config = google.credential_config(str(subject_file), impersonate=False)
    ours = google.auth(path_or_info=config)
    ours.get_token()
    peer = identity_pool.Credentials.from_info(config, scopes=[CLOUD_PLATFORM_SCOPE])
    peer.refresh(GoogleRequest(peer_session(google)))
    first, second = google.token_requests()
    assert form_of(first) == form_of(second)
    assert form_of(first)["scope"] == [CLOUD_PLATFORM_SCOPE]
    assert ours.sts is ours
    assert google.iam_calls == 0
    with google.multiauth_session(ours) as session:
        assert session.get("b").status_code == 200


def test_a_json_file_source_and_a_url_source_with_headers_read_the_named_field_like_google_auth(
    google: GoogleStsEmulator, tmp_path: Path, secret_strings: SecretWatch
) -> None:
    # A URL source with headers and a JSON answer: how google-github-actions/auth writes a
    # GitHub Actions configuration (the runner's URL, its bearer request token, field "value").
    with GitHubActionsEmulator(ca=google.server.ca) as runner:
        google.issuer = runner.issuer
        url = runner.request_url + "&audience=" + google.subject_audience
        headers = {"Authorization": f"Bearer {runner.request_token}"}
        secret_strings.add(runner.request_token)
        config = google.credential_config(url=url, headers=headers, json_field="value")
        ours = google.auth(path_or_info=config)
        ours.get_token()
        peer = identity_pool.Credentials.from_info(config, scopes=[CLOUD_PLATFORM_SCOPE])
        peer.refresh(GoogleRequest(peer_session(google)))
        ours_get, peer_get = runner.token_requests()
        assert ours_get.query == peer_get.query
        assert ours_get.headers["Authorization"] == peer_get.headers["Authorization"]
        (ours_sts, peer_sts) = google.token_requests()
        assert form_of(ours_sts).keys() == form_of(peer_sts).keys()
        assert {k: v for k, v in form_of(ours_sts).items() if k != "subject_token"} == {
            k: v for k, v in form_of(peer_sts).items() if k != "subject_token"
        }  # each read its own runner token (a new jti each time)
        assert repr(ours).count(runner.request_token) == 0
    file_json = tmp_path / "token.json"
    file_json.write_text(json.dumps({"id_token": google.subject_token("json-file"), "other": 1}))
    json_config = google.credential_config(str(file_json), json_field="id_token")
    google.issuer = type(google.issuer)("https://oidc.example.test")  # a new identity provider...
    file_json.write_text(json.dumps({"id_token": google.subject_token("json-file")}))  # ...whose token it is
    google.auth(path_or_info=json_config).get_token()
    assert form_of(google.token_requests()[-1])["subject_token"] == [json.loads(file_json.read_text())["id_token"]]


def test_32_threads_right_after_expiry_make_one_sts_and_one_iam_call_with_0_failures(
    google: GoogleStsEmulator, subject_file: Path, clock: ManualClock
) -> None:
    auth = google.auth(path_or_info=google.credential_config(str(subject_file)))
    auth.get_token()
    clock.advance(3601)
    google.reset()
    barrier = threading.Barrier(THREADS)

    def call(_: int) -> int:
        barrier.wait(WAIT)
        with google.api_session() as session:
            return session.get(google.api_url + "b", auth=auth, timeout=WAIT).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(call, range(THREADS)))
    assert statuses == [200] * THREADS
    assert (google.sts_calls, google.iam_calls) == (1, 1)


def test_a_server_side_revocation_renews_each_link_once_and_replays(
    google: GoogleStsEmulator, subject_file: Path
) -> None:
    auth = google.auth(path_or_info=google.credential_config(str(subject_file)))
    with google.multiauth_session(auth) as session:
        assert session.get("b").status_code == 200
        google.reset()
        google.revoke()  # every token issued so far, the STS token included
        response = session.get("b")
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]
    assert google.sts_calls == 1  # the revoked STS token was renewed once ...
    assert google.iam_calls == 2  # ... after IAM refused it, then the impersonation again


def test_a_file_token_cache_shared_by_8_processes_makes_one_call_per_link_in_all(
    google: GoogleStsEmulator, tmp_path: Path
) -> None:
    environ = google.environ()
    script = textwrap.dedent(
        """
        import json, sys
        from requests_multiauth import FileTokenCache, get_provider
        environ, cache_dir = json.loads(sys.argv[1]), sys.argv[2]
        auth = get_provider("google-external-account").auth_class.from_env(environ, cache=FileTokenCache(cache_dir))
        print(json.dumps({"ok": bool(auth.get_token().access_token)}))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, json.dumps(environ), str(tmp_path / "cache")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        for _ in range(PROCESSES)
    ]
    outputs = [proc.communicate(timeout=WAIT) for proc in procs]
    assert [json.loads(out)["ok"] for out, _ in outputs] == [True] * PROCESSES, [err for _, err in outputs]
    assert (google.sts_calls, google.iam_calls) == (1, 1)


def test_from_env_reads_google_application_credentials_through_the_registry(google: GoogleStsEmulator) -> None:
    provider = get_provider("google-external-account")
    assert [var.name for var in provider.env] == ["GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_EXTERNAL_ACCOUNT_CA_BUNDLE"]
    auth = provider.auth_class.from_env(google.environ())
    assert auth.get_token().scope == CLOUD_PLATFORM_SCOPE
    assert auth.service_account == google.service_account


def test_configurations_it_cannot_run_are_refused_saying_why(google: GoogleStsEmulator, tmp_path: Path) -> None:
    base = google.credential_config(str(tmp_path / "none"))
    executable = {**base, "credential_source": {"executable": {"command": "/usr/bin/get-token"}}}
    with pytest.raises(ConfigurationError, match="does not run commands named in credential files"):
        GoogleExternalAccountAuth.from_file(executable)
    with pytest.raises(ConfigurationError, match="type 'service_account', not 'external_account'"):
        GoogleExternalAccountAuth.from_file({**base, "type": "service_account"})
    with pytest.raises(ConfigurationError, match="has no 'audience'"):
        GoogleExternalAccountAuth.from_file({k: v for k, v in base.items() if k != "audience"})
    with pytest.raises(ConfigurationError, match="credential_source: no file at"):
        GoogleExternalAccountAuth.from_file(base)
    with pytest.raises(ConfigurationError, match="AWS credential source"):
        GoogleExternalAccountAuth.from_file({**base, "credential_source": {"environment_id": "aws1"}})
    with pytest.raises(ConfigurationError, match="no external_account configuration file at"):
        GoogleExternalAccountAuth.from_file(tmp_path / "missing.json")


def test_an_sts_refusal_is_a_typed_error_with_googles_code_and_no_subject_token(
    google: GoogleStsEmulator, tmp_path: Path, secret_strings: SecretWatch
) -> None:
    from requests_multiauth import TokenRequestError

    path = tmp_path / "subject-token"
    foreign = type(google.issuer)("https://elsewhere.example.test").token("x", google.subject_audience)
    secret_strings.add(foreign)
    path.write_text(foreign)
    auth = google.auth(path_or_info=google.credential_config(str(path)))
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_grant"
    assert "one of the pool provider's allowed audiences" in str(caught.value)
    assert foreign not in "".join(traceback.format_exception(caught.value))


def test_an_iam_refusal_says_which_role_the_pool_needs(google: GoogleStsEmulator, subject_file: Path) -> None:
    from requests_multiauth import TokenRequestError

    config = google.credential_config(str(subject_file))
    config["service_account_impersonation_url"] = config["service_account_impersonation_url"].replace(
        google.service_account, "stranger@other-project.iam.gserviceaccount.com"
    )
    with pytest.raises(TokenRequestError) as caught:
        google.auth(path_or_info=config).get_token()
    assert caught.value.status_code == 403
    assert "roles/iam.workloadIdentityUser" in str(caught.value)


def test_the_peer_runs_on_the_same_emulator_through_its_documented_requests_integration(
    google: GoogleStsEmulator, subject_file: Path
) -> None:
    peer = identity_pool.Credentials.from_info(google.credential_config(str(subject_file)), scopes=[STORAGE_SCOPE])
    session: Any = AuthorizedSession(peer, auth_request=GoogleRequest(peer_session(google)))
    session.verify = google.verify
    assert session.get(google.api_url + "b").json()["subject"] == google.service_account
