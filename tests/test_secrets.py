"""Secrets stay secret where the other suites do not already look.

The suite-wide watch (``tests/fixtures_secrets.py``, installed by ``conftest.py``)
checks every test's DEBUG logs for the strings it registers; the first tests here prove
that the watch itself catches a leak. The rest cover reprs of every public object,
the ``multiauth`` command against a server that echoes what it was sent, token files
after a renewal, and redirects that would downgrade to plain HTTP. (Full flows, cache
keys, cross-host redirects and ``http://`` URLs are covered in test_redaction.py,
test_cache_keys.py, test_auth.py and test_cache_file.py.)
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
import requests

from requests_multiauth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    CognitoAuth,
    DataloyAuth,
    DiagramsAuth,
    FileTokenCache,
    MemoryTokenCache,
    MultiAuthError,
    OpsNowAuth,
    RatedAuth,
    StaticTokenAuth,
    TokenAuth,
    TokenRequestError,
)
from requests_multiauth.testing import LocalServer, Reply, Request
from tests.wire import basic_credentials

from .fixtures_secrets import SecretWatch

CLIENT_ID = "secrets-client"
SECRET = "secrets-client-secret-0d8c31"
API_KEY = "secrets-api-key-7e55a2"
STATIC_TOKEN = "secrets-static-token-b91f04"
WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A token endpoint issuing distinct access and refresh tokens, and an API at ``/api``
    that accepts them; it records every request."""

    def __init__(self, serve: Callable[..., LocalServer], **options: Any) -> None:
        self.issued: List[str] = []
        self.server = serve(self.handle, **options)

    def handle(self, request: Request) -> Reply:
        if request.path.endswith("/token"):
            number = len(self.issued) // 2 + 1
            access, refresh = f"secrets-access-{number:04d}-a7f2", f"secrets-refresh-{number:04d}-c3e8"
            self.issued += [access, refresh]
            return Reply(200, {"access_token": access, "expires_in": 3600, "refresh_token": refresh})
        return Reply(200, {"ok": True})


# -- the watch itself ----------------------------------------------------------------------------


def test_the_watch_finds_a_secret_in_any_logger_in_arguments_and_in_tracebacks() -> None:
    with SecretWatch() as watch:
        watch.add("watched-secret-0001", "watched-secret-0002", "watched-secret-0003")
        logging.getLogger("urllib3.connectionpool").debug('"GET /?key=%s HTTP/1.1" 200', "watched-secret-0001")
        logging.getLogger("some.library").debug("%r", {"password": "watched-secret-0002"})
        try:
            raise ValueError("watched-secret-0003")
        except ValueError:
            logging.getLogger("requests_multiauth").exception("failed")

    assert len(watch.leaks()) == 3
    assert all("watched-secret" not in leak for leak in watch.leaks())  # the report masks them
    with pytest.raises(pytest.fail.Exception):
        watch.check()


def test_the_watch_sees_debug_records_even_of_loggers_set_to_warning() -> None:
    urllib3_logger = logging.getLogger("urllib3")
    previous = urllib3_logger.level
    urllib3_logger.setLevel(logging.WARNING)
    try:
        with SecretWatch() as watch:
            urllib3_logger.debug("a debug line")
        assert urllib3_logger.level == logging.WARNING  # restored afterwards
    finally:
        urllib3_logger.setLevel(previous)

    assert watch.lines == ["DEBUG urllib3: a debug line"]


def test_the_suite_wide_watch_is_installed_for_this_test(secret_strings: SecretWatch) -> None:
    logging.getLogger("requests_multiauth").debug("visible to the watch")

    assert "visible to the watch" in secret_strings.text
    assert secret_strings in logging.getLogger().handlers


# -- reprs ---------------------------------------------------------------------------------------


def _auths(url: str, session: requests.Session) -> Dict[str, TokenAuth]:
    options: Dict[str, Any] = {"session": session}
    return {
        "ClientCredentialsAuth": ClientCredentialsAuth(CLIENT_ID, SECRET, url, scope="api/read", **options),
        "AudienceClientCredentialsAuth": AudienceClientCredentialsAuth(
            CLIENT_ID, SECRET, url, audience="https://api", **options
        ),
        "ApiKeyTokenAuth": ApiKeyTokenAuth(API_KEY, url, **options),
        "CognitoAuth": CognitoAuth(CLIENT_ID, SECRET, url, scope="api/write", **options),
        "DataloyAuth": DataloyAuth(CLIENT_ID, SECRET, url, **options),
        "DiagramsAuth": DiagramsAuth(CLIENT_ID, SECRET, token_url=url, **options),
        "OpsNowAuth": OpsNowAuth(API_KEY, token_url=url, **options),
    }


def _texts(obj: object) -> List[str]:
    return [repr(obj), str(obj), f"{obj!r:>20}", f"{obj}"]


@pytest.mark.parametrize(
    "name",
    [
        "ClientCredentialsAuth",
        "AudienceClientCredentialsAuth",
        "ApiKeyTokenAuth",
        "CognitoAuth",
        "DataloyAuth",
        "DiagramsAuth",
        "OpsNowAuth",
    ],
)
def test_reprs_of_every_renewing_auth_its_token_and_cache_hold_no_secret(
    serve: Callable[..., LocalServer], secret_strings: SecretWatch, name: str
) -> None:
    issuer = Issuer(serve)
    cache = MemoryTokenCache()
    auth = _auths(issuer.server.url + "/oauth2/token", issuer.server.session())[name]
    texts = _texts(auth)

    token = auth.get_token()
    texts += _texts(auth) + _texts(token) + _texts(cache) + _texts(auth._endpoint) + _texts(auth._manager.cache)
    secrets = [SECRET, API_KEY, basic_credentials(CLIENT_ID, SECRET), *issuer.issued]
    secret_strings.add(*secrets)

    assert "expires_at" in repr(token)
    assert [(s[:8], t) for t in texts for s in secrets if s in t] == []


@pytest.mark.parametrize("make", [lambda: StaticTokenAuth(STATIC_TOKEN), lambda: RatedAuth(STATIC_TOKEN)])
def test_reprs_of_static_token_auths_hold_no_token(make: Callable[[], StaticTokenAuth]) -> None:
    auth = make()

    texts = _texts(auth) + _texts(auth.get_token())

    assert [t for t in texts if STATIC_TOKEN in t] == []


# -- exceptions and tracebacks -------------------------------------------------------------------


def test_a_refusal_after_a_refused_refresh_token_holds_no_secret_in_its_traceback_or_chain(
    serve: Callable[..., LocalServer], secret_strings: SecretWatch
) -> None:
    sent: List[str] = []
    plan = ["ok"]

    def handle(request: Request) -> Reply:
        quote = f"{request.body.decode()} {request.headers.get('Authorization')}"
        sent.append(quote)
        answer = plan.pop(0) if plan else "refuse"
        if answer == "ok":
            return Reply(
                200,
                {"access_token": "chain-access-0001-9b", "expires_in": 3600, "refresh_token": "chain-refresh-0001-4d"},
            )
        if "refresh_token" in request.body.decode():
            return Reply(400, {"error": "invalid_grant", "error_description": f"refresh refused: {quote}"})
        return Reply(401, {"error": "invalid_client", "error_description": f"bad client: {quote}"})

    server = serve(handle)
    clock = Clock()
    auth = DiagramsAuth(
        CLIENT_ID, SECRET, token_url=server.url + "/oauth2/token", session=server.session(), clock=clock
    )
    auth.get_token()
    clock.now += 3600  # expired: renewal tries the refresh token first, then the credentials
    secret_strings.add(SECRET, basic_credentials(CLIENT_ID, SECRET), "chain-access-0001-9b", "chain-refresh-0001-4d")

    with pytest.raises(TokenRequestError) as caught:
        requests.get(server.url + "/api", auth=auth, verify=server.verify, timeout=WAIT)

    assert len(sent) == 3  # the first token, the refused refresh, the refused credentials
    assert "chain-refresh-0001-4d" in sent[1]
    assert SECRET in sent[2] or basic_credentials(CLIENT_ID, SECRET) in sent[2]  # the server did echo them
    error: BaseException = caught.value
    texts = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
        texts += [str(error), repr(error)]
    assert "bad client" in texts[0]  # the server's words arrive, redacted
    leaked = [
        s for s in (SECRET, basic_credentials(CLIENT_ID, SECRET), "chain-refresh-0001-4d") for t in texts if s in t
    ]
    assert leaked == []


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def echoing_endpoint(serve: Callable[..., LocalServer]) -> LocalServer:
    """A token endpoint that quotes the request (body and Authorization) in every answer."""

    def handle(request: Request) -> Reply:
        quote = f"{request.body.decode()} / {request.headers.get('Authorization')}"
        if request.query.get("answer") == ["html"]:
            return Reply(200, f"<html><body>Welcome {quote}</body></html>", {"Content-Type": "text/html"})
        return Reply(400, {"error": "invalid_client", "error_description": f"unknown client: {quote}"})

    return serve(handle)


@pytest.mark.parametrize("answer", ["refusal", "html"])
def test_the_command_line_prints_no_secret_even_verbose_against_a_server_that_echoes_it(
    echoing_endpoint: LocalServer, answer: str
) -> None:
    url = echoing_endpoint.url + "/oauth2/token" + ("?answer=html" if answer == "html" else "")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "REQUESTS_CA", "CURL_CA"))}
    env.update(
        COGNITO_CLIENT_ID=CLIENT_ID,
        COGNITO_CLIENT_SECRET=SECRET,
        COGNITO_TOKEN_URL=url,
        REQUESTS_CA_BUNDLE=str(echoing_endpoint.verify),
    )

    completed = subprocess.run(
        [sys.executable, "-m", "requests_multiauth", "-v", "token", "cognito"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "***" in output  # the server's quote reached the user, redacted
    assert SECRET not in output
    assert basic_credentials(CLIENT_ID, SECRET) not in output
    assert len(echoing_endpoint.received()) == 1


# -- token files ------------------------------------------------------------------------------------


@pytest.fixture
def owner_only_umask() -> Iterator[None]:
    previous = os.umask(0)  # as permissive as it gets: the cache must not rely on the umask
    yield
    os.umask(previous)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.usefixtures("owner_only_umask")
def test_token_files_stay_owner_only_and_unnamed_by_secrets_across_renewals(
    serve: Callable[..., LocalServer], tmp_path: Path, secret_strings: SecretWatch
) -> None:
    issuer = Issuer(serve)
    directory = tmp_path / "tokens"
    auth = ApiKeyTokenAuth(
        API_KEY, issuer.server.url + "/token", session=issuer.server.session(), cache=FileTokenCache(directory)
    )
    for _ in range(3):  # the first write, then two rewrites
        auth.get_token()
        auth.invalidate()
    auth.get_token()
    secret_strings.add(API_KEY, *issuer.issued)

    files = list(directory.iterdir())
    assert files
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in files if API_KEY in p.name or any(t in p.name for t in issuer.issued)] == []


# -- redirects that downgrade to plain HTTP ---------------------------------------------------------


@pytest.mark.parametrize("header_name", ["Authorization", "X-Api-Token"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_from_https_to_plain_http_on_the_same_host_carries_no_token(
    serve: Callable[..., LocalServer], header_name: str, status: int
) -> None:
    issuer = Issuer(serve)
    plain = serve(lambda request: Reply(200, {"ok": True}), tls=False)
    issuer.server.handler = lambda request: (
        Reply(status, None, {"Location": plain.url + "/landing"})
        if request.path == "/api/moved"
        else Issuer.handle(issuer, request)
    )
    auth = ClientCredentialsAuth(
        CLIENT_ID, SECRET, issuer.server.url + "/token", session=issuer.server.session(), header_name=header_name
    )

    response = requests.post(
        issuer.server.url + "/api/moved", json={"a": 1}, auth=auth, verify=issuer.server.verify, timeout=WAIT
    )

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [status]
    (landing,) = plain.received()
    assert header_name not in landing.headers
    assert "Authorization" not in landing.headers
    assert not any(token in str(landing.headers) for token in issuer.issued)


# -- signed assertions: keys, assertions and the tokens they buy ---------------------------------------


def _assertion_auths(url: str, session: requests.Session, pem: str) -> Dict[str, TokenAuth]:
    from requests_multiauth import GoogleServiceAccountAuth, JwtBearerAuth, SalesforceJwtAuth

    google_info = {
        "type": "service_account",
        "client_email": "svc@project.iam.gserviceaccount.com",
        "private_key": pem,
        "private_key_id": "0123456789abcdef",
        "token_uri": url,
    }
    options: Dict[str, Any] = {"session": session}
    return {
        "JwtBearerAuth": JwtBearerAuth("svc-issuer", pem, url, subject="alice@example.com", **options),
        "GoogleServiceAccountAuth": GoogleServiceAccountAuth.from_file(google_info, scopes="api", **options),
        "SalesforceJwtAuth": SalesforceJwtAuth("3MVG9consumer", "user@example.com", pem, token_url=url, **options),
    }


@pytest.mark.parametrize("name", ["JwtBearerAuth", "GoogleServiceAccountAuth", "SalesforceJwtAuth"])
def test_keys_assertions_and_tokens_of_jwt_bearer_auths_stay_out_of_errors_reprs_and_logs(
    serve: Callable[..., LocalServer], secret_strings: SecretWatch, client_keys: Dict[str, Any], name: str
) -> None:
    """A server that quotes the assertion back in its refusal, then grants a token: the key's
    PEM, every assertion sent and the token are in no error, repr, log or telemetry event."""
    from cryptography.hazmat.primitives import serialization

    pem = (
        client_keys["rsa"]
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode("ascii")
    )
    issued = "jwt-bearer-access-token-5a1c9e"
    refused: List[str] = []

    def handle(request: Request) -> Reply:
        assertion = request.form()["assertion"][0]
        if not refused:
            refused.append(assertion)
            return Reply(400, {"error": "invalid_grant", "error_description": f"bad assertion {assertion}"})
        return Reply(200, {"access_token": issued, "expires_in": 3600, "token_type": "Bearer", "instance_url": "x"})

    server = serve(handle)
    auth = _assertion_auths(server.url + "/token", server.session(), pem)[name]
    secret_strings.add_private_key(client_keys["rsa"])
    secret_strings.add(issued)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    shown = [
        str(caught.value),
        repr(caught.value),
        "".join(traceback.format_exception(type(caught.value), caught.value, caught.value.__traceback__)),
    ]
    auth = _assertion_auths(server.url + "/token", server.session(), pem)[name]  # past the failure hold
    token = auth.get_token()
    shown += _texts(auth) + _texts(token) + _texts(token.extra) + _texts(auth._manager.cache)
    assertions = [request.form()["assertion"][0] for request in server.received()]
    secret_strings.add(*assertions)
    secrets = [*assertions, issued, *pem.splitlines()[1:-1]]
    assert "***" in str(caught.value)  # the server's quote reached the user, redacted
    assert [(s[:8], t[:60]) for t in shown for s in secrets if s in t] == []
# -- token sources, token exchange and workload identity federation ----------------------------------


def test_subject_tokens_runner_tokens_and_exchanged_tokens_stay_out_of_reprs_errors_and_logs(
    serve: Callable[..., LocalServer], tmp_path: Path, secret_strings: SecretWatch
) -> None:
    from requests_multiauth import GitHubActionsToken, TokenExchangeAuth
    from requests_multiauth.sources import FileToken, LiteralToken, token_source
    from requests_multiauth.testing import GitHubActionsEmulator, GoogleStsEmulator

    subject = "secrets-subject-token-4e1f0a77"
    exchanged = "secrets-exchanged-token-31bd"
    path = tmp_path / "subject"
    path.write_text(subject)

    def echoing_sts(request: Request) -> Reply:
        body = request.body.decode()
        if "refuse" in request.path:  # an STS that quotes the request in its refusal
            return Reply(400, {"error": "invalid_grant", "error_description": f"bad subject in {body}"})
        return Reply(200, {"access_token": exchanged, "issued_token_type": "urn:x", "expires_in": 60})

    server = serve(echoing_sts)
    secret_strings.add(subject, exchanged, SECRET, basic_credentials(CLIENT_ID, SECRET))
    auths = [
        TokenExchangeAuth(
            path, server.url + "/token", client_id=CLIENT_ID, client_secret=SECRET, session=server.session()
        ),
        TokenExchangeAuth(
            subject,
            server.url + "/token",
            actor_token=lambda: subject,
            actor_token_type="urn:x",
            session=server.session(),
        ),
    ]
    texts: List[str] = []
    for auth in auths:
        token = auth.get_token()
        texts += _texts(auth) + _texts(token) + _texts(auth.subject_token)
    texts += _texts(token_source(subject)) + _texts(LiteralToken(subject)) + _texts(FileToken(path))
    refused = TokenExchangeAuth(subject, server.url + "/refuse", session=server.session())
    with pytest.raises(TokenRequestError) as caught:
        refused.get_token()
    texts.append("".join(traceback.format_exception(caught.value)))
    with GitHubActionsEmulator() as runner, GoogleStsEmulator() as google:
        secret_strings.add(runner.request_token)
        source = GitHubActionsToken("aud", environ=runner.environ(), verify=runner.verify)
        secret_strings.add(source.token())
        texts += _texts(source)
        federated = google.auth()
        secret_strings.add(federated.get_token().access_token, federated.sts.get_token().access_token)
        secret_strings.add(*google.credentials.values())
        texts += _texts(federated) + _texts(federated.sts)
    leaked = [s for s in (subject, exchanged, SECRET, runner.request_token) for t in texts if s in t]
    assert leaked == []


# -- the vendor presets of Zoom, Entra ID and GitHub Apps ----------------------------------------------


def _vendor_secrets(name: str, emulator: Any) -> List[str]:
    """The long-lived secrets of *name*'s emulated credentials (keys go through add_private_key)."""
    if name == "zoom":
        return [emulator.client_secret, basic_credentials(emulator.client_id, emulator.client_secret)]
    if name == "entra-id":
        return [emulator.client_secret, emulator.pfx_password]
    return []


@pytest.mark.parametrize("name", ["zoom", "entra-id", "github-app"])
def test_vendor_presets_show_no_secret_key_assertion_or_token_in_reprs_errors_logs_telemetry_or_cache_keys(
    secret_strings: SecretWatch, name: str
) -> None:
    """Through the registry, as ``multiauth token NAME`` builds them: the auth from the
    emulator's environment, a token, a revocation and its replay, and a refused call."""
    from requests_multiauth import get_provider

    provider = get_provider(name)
    with provider.emulator() as emulator:
        cache = MemoryTokenCache()
        auth = provider.auth_class.from_env(emulator.environ(), cache=cache)
        token = auth.get_token()
        secrets = [*_vendor_secrets(name, emulator), token.access_token]
        if name == "entra-id":
            secret_strings.add_private_key(emulator.key_pem)
        if name == "github-app":
            secret_strings.add_private_key(emulator.private_key)
            secrets += [entry["headers"]["Authorization"].split(" ", 1)[1] for entry in emulator.jwts()]
        secret_strings.add(*secrets)
        emulator.revoke()
        session = emulator.api_session()
        path = {"zoom": "users/me", "entra-id": "me", "github-app": "/repos/octo-org/hello-world"}[name]
        assert session.get(emulator.api_url + path, auth=auth).status_code == 200
        secrets.append(auth.get_token().access_token)
        secret_strings.add(secrets[-1])
        broken = dict(emulator.environ())
        if name == "github-app":
            broken["GITHUB_APP_OWNER"] = "nobody-at-all"
        else:
            broken[{"zoom": "ZOOM_CLIENT_SECRET", "entra-id": "AZURE_CLIENT_SECRET"}[name]] = "wrong-secret-value"
        with pytest.raises(MultiAuthError) as raised:
            provider.auth_class.from_env(broken).get_token()
        error_text = "".join(traceback.format_exception(raised.type, raised.value, raised.tb))
        texts = [
            *_texts(auth),
            *_texts(auth.get_token()),
            *_texts(cache),
            error_text,
            str(auth.telemetry.snapshot()),
            repr(list(cache._tokens)),  # the cache keys
        ]
        assert list(cache._tokens)
        assert all(key.startswith("rma1-") for key in cache._tokens)
        assert [(s[:8], t[:80]) for t in texts for s in secrets if s in t] == []
        assert [t[:80] for t in texts if "PRIVATE KEY" in t] == []
# -- the cloud metadata presets (issue 21) -----------------------------------------------------------


@pytest.mark.parametrize("preset", ["google-access", "google-id", "azure-imds", "azure-app-service"])
def test_metadata_presets_show_no_token_or_identity_header_in_reprs_telemetry_logs_or_errors(
    secret_strings: SecretWatch, preset: str
) -> None:
    from requests_multiauth.testing import AzureManagedIdentityEmulator, GoogleMetadataEmulator

    emulator: Any
    if preset.startswith("google"):
        emulator = GoogleMetadataEmulator()
        options: Dict[str, Any] = {"target_audience": "https://aud.example"} if preset == "google-id" else {}
    else:
        emulator = AzureManagedIdentityEmulator(platform="imds" if preset == "azure-imds" else "app_service")
        options = {}
    with emulator:
        auth = emulator.auth(**options)
        session = emulator.api_session()
        assert session.get(emulator.api_url + "x", auth=auth, timeout=WAIT).status_code == 200
        token = auth.get_token()
        header = getattr(emulator, "identity_header", None)
        secret_strings.add(token.access_token, header)
        # A metadata server that quotes the request's headers in its refusal.
        quoted = f"bad request, headers were {dict(emulator.token_requests()[-1].headers)}"
        emulator.inject(Reply(400, {"error": "invalid_request", "error_description": quoted}))
        auth.invalidate()
        with pytest.raises(TokenRequestError) as caught:
            session.get(emulator.api_url + "y", auth=auth, timeout=WAIT)
        error: BaseException = caught.value
        texts = (
            _texts(auth)
            + _texts(token)
            + [
                str(auth.display_rows()),
                repr(auth.telemetry.snapshot()),
                "".join(traceback.format_exception(type(error), error, error.__traceback__)),
            ]
        )
    secrets = [s for s in (token.access_token, header) if s]
    assert [(s[:8], t[:60]) for t in texts for s in secrets if s in t] == []
