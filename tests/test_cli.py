"""The ``multiauth`` command, run as a user runs it: a subprocess against the local providers.

The child process gets the providers' URLs and credentials through the presets'
environment variables and trusts their CA through ``REQUESTS_CA_BUNDLE``, as a
real user's shell would. Every subprocess is bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional

import certifi
import pytest
import requests

from requests_multiauth import __version__
from requests_multiauth.cli import app as cli
from requests_multiauth.cli import settings as cli_settings
from requests_multiauth.testing import DataloyEmulator, LocalProviders, ProviderEmulator

#: No command of the CLI should take long against loopback; this bounds a hang.
SUBPROCESS_TIMEOUT = 60

#: The secret each preset reads, and the option that reads it from stdin.
SECRET_VARIABLES = {
    "rated": ("RATED_TOKEN", "--token-stdin"),
    "opsnow": ("OPSNOW_API_KEY", "--api-key-stdin"),
    "cognito": ("COGNITO_CLIENT_SECRET", "--client-secret-stdin"),
    "dataloy": ("DATALOY_CLIENT_SECRET", "--client-secret-stdin"),
    "diagrams": ("DIAGRAMS_APPLICATION_SECRET", "--application-secret-stdin"),
}

#: What each provider says when it refuses a wrong secret (its emulation words it as the provider does).
REFUSAL_MESSAGES = {
    "opsnow": "invalid API key",
    "cognito": "invalid_client",
    "dataloy": "Unauthorized",
    "diagrams": "invalid_client",
}

PROVIDER_PREFIXES = ("RATED_", "OPSNOW_", "COGNITO_", "DATALOY_", "DIAGRAMS_")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _base_environ() -> Dict[str, str]:
    """This process's environment without any provider variable or CA override."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(PROVIDER_PREFIXES) and name not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }


def run_cli(
    *args: str, env: Optional[Mapping[str, str]] = None, stdin: str = "", python_code: Optional[str] = None
) -> Result:
    """Run ``python -m requests_multiauth ARGS`` (or ``python -c CODE ARGS``) and collect its output."""
    command = (
        [sys.executable, "-c", python_code, *args] if python_code else [sys.executable, "-m", "requests_multiauth"]
    )
    if not python_code:
        command += list(args)
    completed = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env if env is not None else _base_environ()),
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(autouse=True)
def token_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test's commands keep tokens in a cache directory of its own (children inherit
    the variable through _base_environ), never in the user's real cache directory."""
    directory = str(tmp_path_factory.mktemp("multiauth-cache") / "tokens")
    monkeypatch.setenv("MULTIAUTH_CACHE_DIR", directory)
    return directory


@pytest.fixture(scope="module")
def started_providers() -> Iterator[LocalProviders]:
    with LocalProviders() as providers:
        yield providers


@pytest.fixture
def providers(started_providers: LocalProviders) -> LocalProviders:
    """The five local providers with zeroed counters and default settings."""
    for emulator in started_providers:
        emulator.reset()
    return started_providers


def child_environ(providers: LocalProviders, emulator: ProviderEmulator, **changes: Optional[str]) -> Dict[str, str]:
    """The environment a user would set for *emulator*: its variables, and its CA trusted."""
    env = _base_environ()
    env.update(emulator.environ())
    assert isinstance(providers.verify, str), "these tests run the providers over HTTPS (trustme is a test dependency)"
    env["REQUESTS_CA_BUNDLE"] = providers.verify
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def issued_tokens(emulator: ProviderEmulator) -> List[str]:
    """Every access token *emulator* issued (to look for in output)."""
    return list(emulator._tokens)


def refresh_tokens(emulator: ProviderEmulator) -> List[str]:
    return list(getattr(emulator, "_refresh_tokens", {}))


def secrets_of(emulator: ProviderEmulator) -> List[str]:
    """The client secret or API key of *emulator* (Rated's token is handled per test)."""
    return [value for name, value in emulator.credentials.items() if name != "token" and "id" not in name]


def assert_no_secret(result: Result, secrets: List[str]) -> None:
    leaked = [s[:4] + "..." for s in secrets if s and s in result.output]
    assert not leaked, f"secrets in the output: {leaked}"


def api_answers(emulator: ProviderEmulator, token: str) -> int:
    """What the provider's API answers a request carrying *token*, as curl would send it."""
    response = requests.get(
        emulator.api_url + "resource",
        headers={"Authorization": f"Bearer {token}"},
        verify=emulator.verify,
        timeout=10,
    )
    return response.status_code


# -- token ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LocalProviders.NAMES)
def test_token_prints_only_a_token_the_provider_api_accepts(providers: LocalProviders, name: str) -> None:
    emulator = providers[name]
    env = child_environ(providers, emulator)

    result = run_cli("token", name, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    token = result.stdout.rstrip("\n")
    assert result.stdout == token + "\n"
    assert token
    assert " " not in token
    assert api_answers(emulator, token) == 200
    assert emulator.token_calls == (0 if name == "rated" else 1)
    if name == "rated":
        assert token == env["RATED_TOKEN"]
    assert_no_secret(result, secrets_of(emulator) + refresh_tokens(emulator))


#: The presets whose secret is a variable's value; a key file's preset (google-service-account,
#: salesforce) keeps its secret in the file the variable names, so it has no ``--...-stdin`` option.
WITH_SECRET_VARIABLE = [name for name in LocalProviders.NAMES if name in SECRET_VARIABLES]


@pytest.mark.parametrize("name", WITH_SECRET_VARIABLE)
def test_token_reads_the_secret_from_stdin_instead_of_the_environment(providers: LocalProviders, name: str) -> None:
    emulator = providers[name]
    variable, option = SECRET_VARIABLES[name]
    env = child_environ(providers, emulator)
    secret = env.pop(variable)

    result = run_cli("token", name, option, env=env, stdin=secret + "\n")

    assert result.returncode == 0, result.stderr
    assert api_answers(emulator, result.stdout.strip()) == 200
    assert_no_secret(result, [] if name == "rated" else [secret])


@pytest.mark.parametrize("name", WITH_SECRET_VARIABLE)
def test_token_without_its_secret_exits_2_naming_the_variable(providers: LocalProviders, name: str) -> None:
    emulator = providers[name]
    variable, option = SECRET_VARIABLES[name]

    result = run_cli("token", name, env=child_environ(providers, emulator, **{variable: None}))

    assert result.returncode == 2
    assert result.stdout == ""
    assert variable in result.stderr
    assert option in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert emulator.token_calls == 0


def test_token_names_every_missing_variable(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.cognito, COGNITO_CLIENT_ID=None, COGNITO_TOKEN_URL=None)

    result = run_cli("token", "cognito", env=env)

    assert result.returncode == 2
    assert "COGNITO_CLIENT_ID" in result.stderr
    assert "COGNITO_TOKEN_URL" in result.stderr
    assert "COGNITO_CLIENT_SECRET" not in result.stderr


def test_token_with_an_empty_stdin_exits_2(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.dataloy, DATALOY_CLIENT_SECRET=None)

    result = run_cli("token", "dataloy", "--client-secret-stdin", env=env, stdin="")

    assert result.returncode == 2
    assert "--client-secret-stdin read nothing" in result.stderr
    assert providers.dataloy.token_calls == 0


@pytest.mark.parametrize("name", sorted(REFUSAL_MESSAGES))
def test_refused_credentials_exit_1_with_the_provider_message_and_no_secret(
    providers: LocalProviders, name: str
) -> None:
    emulator = providers[name]
    variable, _ = SECRET_VARIABLES[name]
    wrong = "wrong-" + os.urandom(8).hex()

    result = run_cli("token", name, env=child_environ(providers, emulator, **{variable: wrong}))

    assert result.returncode == 1
    assert result.stdout == ""
    assert REFUSAL_MESSAGES[name] in result.stderr
    assert result.stderr.startswith("multiauth: error: ")
    assert result.stderr.count("\n") == 1
    assert emulator.token_calls == 1  # a refusal is never retried
    assert_no_secret(result, [wrong, *secrets_of(emulator)])


def test_an_expired_rated_token_exits_1_saying_when_it_expired(providers: LocalProviders) -> None:
    expired = providers.rated.mint(lifetime=-3600)

    result = run_cli("token", "rated", env=child_environ(providers, providers.rated, RATED_TOKEN=expired))

    assert result.returncode == 1
    assert "expired on" in result.stderr
    assert "m2m-token" in result.stderr
    assert_no_secret(result, [expired])


def test_a_rated_token_near_expiry_is_printed_with_a_one_line_warning(providers: LocalProviders) -> None:
    token = providers.rated.mint(lifetime=5 * 24 * 3600)

    result = run_cli("token", "rated", env=child_environ(providers, providers.rated, RATED_TOKEN=token))

    assert result.returncode == 0
    assert result.stdout == token + "\n"
    assert result.stderr.startswith("multiauth: warning: the token expires on")
    assert result.stderr.count("\n") == 1
    assert_no_secret(Result(0, "", result.stderr), [token])


def test_token_json_shows_expiry_scope_and_type_but_not_the_token(providers: LocalProviders) -> None:
    providers.cognito.granted_scope = "api/read"  # narrower than asked: the answer says which scope it granted
    env = child_environ(providers, providers.cognito, COGNITO_SCOPE="api/write")

    result = run_cli("token", "cognito", "--output", "json", env=env)

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provider"] == "cognito"
    assert data["token_type"] == "Bearer"
    assert data["scope"] == "api/read"
    assert 3500 < data["expires_in"] <= 3600
    assert data["expires_at"].endswith("+00:00")
    assert abs(data["expires_at_epoch"] - providers.cognito.clock() - 3600) < 60
    assert "access_token" not in data
    assert_no_secret(result, issued_tokens(providers.cognito) + secrets_of(providers.cognito))


def test_token_json_show_token_adds_the_access_token_never_the_refresh_token(providers: LocalProviders) -> None:
    result = run_cli(
        "token", "diagrams", "--output", "json", "--show-token", env=child_environ(providers, providers.diagrams)
    )

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["has_refresh_token"] is True
    assert api_answers(providers.diagrams, data["access_token"]) == 200
    assert "refresh_token" not in data
    assert refresh_tokens(providers.diagrams), "the emulator issued a refresh token"
    assert_no_secret(result, refresh_tokens(providers.diagrams) + secrets_of(providers.diagrams))


def test_a_secret_typed_as_an_argument_is_rejected_without_echoing_it(providers: LocalProviders) -> None:
    secret = providers.dataloy.client_secret
    env = child_environ(providers, providers.dataloy, DATALOY_CLIENT_SECRET=None)

    spaced = run_cli("token", "dataloy", "--client-secret", secret, env=env)
    joined = run_cli("token", "dataloy", f"--client-secret={secret}", env=env)

    for result in (spaced, joined):
        assert result.returncode == 2
        assert "unrecognized arguments: --client-secret" in result.stderr
        assert_no_secret(result, [secret])
    assert providers.dataloy.token_calls == 0


def test_a_plain_http_token_url_is_a_usage_error_naming_the_option(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.dataloy, DATALOY_TOKEN_URL="http://token.example.com/oauth/token")

    result = run_cli("token", "dataloy", env=env)

    assert result.returncode == 2
    assert "plain HTTP" in result.stderr
    assert "--allow-insecure-loopback" in result.stderr


def test_options_override_the_environment(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.dataloy, DATALOY_TOKEN_URL="https://127.0.0.1:9/nothing")

    result = run_cli(
        "token", "dataloy", "--token-url", providers.dataloy.token_url, "--audience", "https://dataloy.dev", env=env
    )

    assert result.returncode == 0, result.stderr
    assert providers.dataloy.token_requests()[-1].json()["audience"] == "https://dataloy.dev"


def test_verbose_logs_the_token_call_without_any_secret(providers: LocalProviders) -> None:
    emulator = providers.diagrams

    result = run_cli("-v", "token", "diagrams", "--output", "json", env=child_environ(providers, emulator))

    assert result.returncode == 0, result.stderr
    assert "POST " + emulator.token_url in result.stderr
    assert_no_secret(result, issued_tokens(emulator) + refresh_tokens(emulator) + secrets_of(emulator))


# -- request ------------------------------------------------------------------------------------------


def test_request_prints_the_status_and_the_body_and_exits_0_on_2xx(providers: LocalProviders) -> None:
    emulator = providers.dataloy

    result = run_cli(
        "request",
        "dataloy",
        "POST",
        emulator.api_url + "Cargo",
        "--json",
        '{"name": "wheat"}',
        "-H",
        "X-Trace: demo",
        env=child_environ(providers, emulator),
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == "HTTP 200 OK\n"
    body = json.loads(result.stdout)
    assert body["provider"] == "dataloy"
    assert body["method"] == "POST"
    assert body["received"] == {"name": "wheat"}
    assert emulator.api_requests()[-1].headers["X-Trace"] == "demo"
    assert emulator.token_calls == 1
    assert_no_secret(result, issued_tokens(emulator) + secrets_of(emulator))


def test_request_exits_1_on_a_non_2xx_answer(providers: LocalProviders) -> None:
    emulator = providers.opsnow

    result = run_cli("request", "opsnow", "GET", emulator.url + "/elsewhere", env=child_environ(providers, emulator))

    assert result.returncode == 1
    assert result.stderr.startswith("HTTP 404")
    assert "no such path" in result.stdout


def test_request_with_refused_credentials_exits_1_without_calling_the_api(providers: LocalProviders) -> None:
    emulator = providers.cognito
    env = child_environ(providers, emulator, COGNITO_CLIENT_SECRET="not-the-secret")

    result = run_cli("request", "cognito", "GET", emulator.api_url + "items", env=env)

    assert result.returncode == 1
    assert "invalid_client" in result.stderr
    assert emulator.api_calls == 0
    assert_no_secret(result, ["not-the-secret"])


def test_request_refuses_plain_http_before_any_token_call(providers: LocalProviders) -> None:
    emulator = providers.dataloy

    result = run_cli(
        "request", "dataloy", "GET", "http://api.example.com/ws/rest/Cargo", env=child_environ(providers, emulator)
    )

    assert result.returncode == 2
    assert "plain HTTP" in result.stderr
    assert emulator.token_calls == 0


# -- help and version ---------------------------------------------------------------------------------


def test_token_help_lists_every_provider_variable() -> None:
    result = run_cli("token", "--help")

    assert result.returncode == 0
    for provider in cli_settings.PROVIDERS.values():
        for setting in provider.settings:
            assert setting.variable in result.stdout
    assert "REQUESTS_CA_BUNDLE" in result.stdout


@pytest.mark.parametrize("command", ["token", "request"])
@pytest.mark.parametrize("name", LocalProviders.NAMES)
def test_provider_help_lists_its_variables_and_options(
    command: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the same parser the subprocess tests run, without ten more interpreter starts.
    with pytest.raises(SystemExit) as exited:
        cli.main([command, name, "--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    for setting in cli_settings.PROVIDERS[name].settings:
        assert setting.variable in out
        assert setting.option in out
    own = {s.variable for s in cli_settings.PROVIDERS[name].settings}  # one may be shared: google-auth's key file
    others = [s.variable for p in cli_settings.PROVIDERS.values() if p.name != name for s in p.settings]
    assert not [v for v in others if re.search(rf"\b{v}\b", out) and v not in own]


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"multiauth (requests_multiauth) {__version__}"


def test_no_command_is_a_usage_error() -> None:
    result = run_cli()

    assert result.returncode == 2
    assert "usage: multiauth" in result.stderr


# -- demo ------------------------------------------------------------------------------------------------


def _rows(stdout: str) -> Dict[str, List[str]]:
    """The demo's table rows by provider."""
    rows: Dict[str, List[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line and not line.startswith(" ") and line.split()[0] in LocalProviders.NAMES:
            current = line.split()[0]
            rows[current] = []
        elif current and line.startswith("  ") and not line.strip().startswith("step"):
            rows[current].append(line.strip())
    return rows


def test_demo_runs_every_preset_through_its_life_and_exits_0() -> None:
    env = _base_environ()
    env.update(REQUESTS_CA_BUNDLE=certifi.where(), CURL_CA_BUNDLE=certifi.where())  # must not matter

    result = run_cli("demo", env=env)

    assert result.returncode == 0, result.output
    assert "HTTPS" in result.stdout
    rows = _rows(result.stdout)
    assert sorted(rows) == sorted(LocalProviders.NAMES)
    for name, lines in rows.items():
        assert len(lines) == 4, (name, lines)
        assert not [line for line in lines if "FAILED" in line]
    assert rows["dataloy"][-1].split()[3:5] == ["5", "3"]  # revocation: 401 + replay, third token call
    assert "by refresh token" in rows["diagrams"][2]
    assert "TokenExpiredError" in rows["rated"][-1]
    count = len(LocalProviders.NAMES)
    assert f"ok: {count} providers, {4 * count} steps" in result.stdout
    assert result.stderr == ""


def test_demo_without_trustme_runs_over_plain_http_on_loopback() -> None:
    code = "import sys; sys.modules['trustme'] = None; from requests_multiauth.cli.app import main; sys.exit(main())"

    result = run_cli("demo", python_code=code)

    assert result.returncode == 0, result.output
    assert "plain HTTP on loopback" in result.stdout
    assert "https://" not in result.stdout
    assert "http://127.0.0.1:" in result.stdout


def test_demo_requiring_tls_without_trustme_exits_2() -> None:
    code = "import sys; sys.modules['trustme'] = None; from requests_multiauth.cli.app import main; sys.exit(main())"

    result = run_cli("demo", "--tls", python_code=code)

    assert result.returncode == 2
    assert "needs trustme" in result.stderr


def test_demo_exits_1_when_a_step_does_not_behave(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A provider whose revocation silently does nothing: the auth never sees a 401,
    # and the demo must notice instead of printing a success.
    monkeypatch.setattr(DataloyEmulator, "revoke", lambda self: 1)

    status = cli.main(["demo", "--provider", "dataloy", "--provider", "cognito"])

    out = capsys.readouterr().out
    assert status == 1
    rows = _rows(out)
    assert "FAILED: expected one 401 then a replay" in rows["dataloy"][-1]
    assert not [line for line in rows["cognito"] if "FAILED" in line]
    assert "FAILED: dataloy" in out
