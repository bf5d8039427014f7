"""``multiauth token oauth2`` / ``request oauth2``: any client-credentials server from the shell,
run as a subprocess against real HTTPS servers on loopback, with secrets only from the
environment, files or stdin, and none of them (nor a key or an assertion) in the output."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from requests_multiauth.testing import LocalServer
from tests.fixtures_client_auth import (
    BoundTokenServer,
    MtlsServer,
    TokenStub,
    assertions_of,
    issue_client_certificate,
    jwt_claims,
)
from tests.fixtures_oidc import OidcProvider
from tests.fixtures_secrets import SecretWatch
from tests.test_cli import Result, _base_environ, run_cli
from tests.test_cli import token_cache_dir as token_cache_dir  # autouse: tokens in a directory of each test's own

CLIENT_ID = "svc-cli"
SECRET = "cli-Hw4Np8Rt2Ky6Zm0Qs3Vb7Xc1Jf5Lg9De"


@pytest.fixture
def token_server(serve: Callable[..., LocalServer], secret_strings: SecretWatch) -> Iterator[LocalServer]:
    server = serve(TokenStub())
    secret_strings.add(SECRET)
    yield server
    secret_strings.add_assertions(assertions_of(server.received()))


def environ(server: Any, **variables: str) -> Dict[str, str]:
    env = {name: value for name, value in _base_environ().items() if not name.startswith("OAUTH2_")}
    env["REQUESTS_CA_BUNDLE"] = server.verify
    env.update(variables)
    return env


def assert_clean(result: Result, secrets: List[str]) -> None:
    leaked = [s[:6] + "..." for s in secrets if s and s in result.output]
    assert not leaked, f"secrets in the output: {leaked}"


def key_file(key: Any, directory: Path, password: bytes = b"") -> Path:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path = directory / "client-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    path.chmod(0o600)
    return path


def test_a_secret_from_stdin_with_client_secret_basic_by_default(token_server: LocalServer) -> None:
    url = token_server.url + "/token"
    result = run_cli(
        "token", "oauth2", "--token-url", url, "--client-id", CLIENT_ID, "--client-secret-stdin", "--scope", "ledger",
        env=environ(token_server), stdin=SECRET + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (sent,) = token_server.received("/token")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert sent.form() == {"grant_type": ["client_credentials"], "scope": ["ledger"]}
    assert result.stdout.strip().startswith("at-1-")
    assert_clean(result, [SECRET])


def test_client_secret_post_with_the_secret_from_the_environment(token_server: LocalServer) -> None:
    env = environ(
        token_server,
        OAUTH2_TOKEN_URL=token_server.url + "/token",
        OAUTH2_CLIENT_ID=CLIENT_ID,
        OAUTH2_CLIENT_SECRET=SECRET,
        OAUTH2_CLIENT_AUTH="client_secret_post",
    )
    result = run_cli("token", "oauth2", "--json", env=env)
    assert result.returncode == 0, result.stderr
    (sent,) = token_server.received("/token")
    assert sent.form()["client_secret"] == [SECRET]
    assert "Authorization" not in sent.headers
    assert_clean(result, [SECRET])


def test_private_key_jwt_from_a_key_file_with_audience_and_resource(
    token_server: LocalServer, client_keys: Dict[str, Any], tmp_path: Path, secret_strings: SecretWatch
) -> None:
    key = client_keys["ec"]
    secret_strings.add_private_key(key, password="cli-key-pass-93k")
    path = key_file(key, tmp_path, b"cli-key-pass-93k")
    url = token_server.url + "/token"
    result = run_cli(
        "token", "oauth2", "--token-url", url, "--client-id", CLIENT_ID, "--private-key-file", str(path),
        "--key-id", "cli-key-1", "--private-key-password-stdin",
        "--audience", "https://ledger.example", "--resource", "https://ledger.example/v2",
        env=environ(token_server), stdin="cli-key-pass-93k\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (sent,) = token_server.received("/token")
    form = sent.form()
    assert form["audience"] == ["https://ledger.example"]
    assert form["resource"] == ["https://ledger.example/v2"]
    (assertion,) = form["client_assertion"]
    assert jwt.get_unverified_header(assertion)["kid"] == "cli-key-1"
    claims = jwt.decode(assertion, key.public_key(), algorithms=["ES256"], audience=url)
    assert claims["sub"] == CLIENT_ID
    assert_clean(result, [assertion, "cli-key-pass-93k", path.read_text().splitlines()[1]])


def test_an_assertion_file_made_elsewhere(
    token_server: LocalServer, client_keys: Dict[str, Any], tmp_path: Path
) -> None:
    made = jwt.encode({"iss": "https://ci.example", "sub": CLIENT_ID}, client_keys["ec"], algorithm="ES256")
    path = tmp_path / "ci-token"
    path.write_text(made)
    url = token_server.url + "/token"
    result = run_cli(
        "token", "oauth2", "--token-url", url, "--client-id", CLIENT_ID, "--client-assertion-file", str(path),
        env=environ(token_server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert assertions_of(token_server.received("/token")) == [made]
    assert jwt_claims(made)["iss"] == "https://ci.example"
    assert_clean(result, [made])


def test_request_with_a_client_certificate_presents_it_to_the_token_endpoint_and_the_api(
    tmp_path: Path, secret_strings: SecretWatch
) -> None:
    import trustme

    client_ca = trustme.CA()
    client = issue_client_certificate(client_ca, tmp_path, "cli")
    secret_strings.add_private_key(client.key_pem)
    ca_path = str(tmp_path / "client-ca.pem")
    client_ca.cert_pem.write_to_path(ca_path)
    app = BoundTokenServer(clients={CLIENT_ID: client.thumbprint})
    server = MtlsServer(app, client_cas=[ca_path], directory=tmp_path).start()
    try:
        result = run_cli(
            "request", "oauth2", "GET", server.url + "/api/ledger",
            "--token-url", server.url + "/token", "--client-id", CLIENT_ID,
            "--cert-file", client.cert_path, "--key-file", client.key_path,
            env=environ(server),
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.output
    assert "HTTP 200" in result.stderr
    assert app.token_calls == 1
    assert app.api_statuses == [200]  # the bound token went with its certificate
    assert_clean(result, [*app.tokens, client.key_pem.splitlines()[1]])


URL = ["--client-id", CLIENT_ID, "--token-url", "https://a.example/t"]

INCOMPLETE = {
    "no server": (["--client-id", CLIENT_ID], "either by --issuer"),
    "two servers": ([*URL, "--issuer", "https://a.example"], "not both"),
    "no key": ([*URL, "--client-auth", "private_key_jwt"], "needs --private-key-file"),
    "no certificate": ([*URL, "--client-auth", "tls_client_auth"], "needs --cert-file"),
    "unknown method": ([*URL, "--client-auth", "magic"], "is not one of"),
    "no secret": (URL, "client_secret is missing"),
    "no client id": (["--token-url", "https://a.example/t"], "OAUTH2_CLIENT_ID is not set"),
    "missing key file": ([*URL, "--private-key-file", "/nonexistent.pem"], "no file at '/nonexistent.pem'"),
}


@pytest.mark.parametrize(("arguments", "complaint"), INCOMPLETE.values(), ids=INCOMPLETE.keys())
def test_incomplete_settings_exit_2_naming_the_option(arguments: List[str], complaint: str) -> None:
    env = {name: value for name, value in _base_environ().items() if not name.startswith("OAUTH2_")}
    result = run_cli("token", "oauth2", *arguments, env=env)
    assert result.returncode == 2, result.output
    assert complaint in result.stderr


# -- --issuer: discovery against oidc-provider -------------------------------------------------------


def test_issuer_finds_the_token_endpoint_and_the_method_by_discovery(
    oidc: OidcProvider, secret_strings: SecretWatch
) -> None:
    client = oidc.client("basic")
    secret_strings.add(client.secret)
    result = run_cli(
        "token", "oauth2", "--issuer", oidc.issuer, "--client-id", client.client_id, "--client-secret-stdin",
        "--resource", oidc.resource, "--json",
        env=environ_for(oidc.ca_path), stdin=f"{client.secret}\n",
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert oidc.token_calls("basic", outcome="ok") == 1
    assert_clean(result, [client.secret or ""])


def test_issuer_with_a_private_key_file(oidc: OidcProvider, secret_strings: SecretWatch) -> None:
    client = oidc.client("jwt-ec")
    secret_strings.add_private_key(client.private_key_pem().decode())
    result = run_cli(
        "token", "oauth2", "--issuer", oidc.issuer, "--client-id", client.client_id,
        "--private-key-file", str(client.key_path), "--key-id", str(client.kid), "--resource", oidc.resource,
        env=environ_for(oidc.ca_path),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert oidc.token_calls("jwt-ec", outcome="ok") == 1
    assert oidc.counters()["assertion_replays_refused"] == 0


def environ_for(ca_path: str) -> Dict[str, str]:
    env = {name: value for name, value in _base_environ().items() if not name.startswith("OAUTH2_")}
    env["REQUESTS_CA_BUNDLE"] = ca_path
    return env
