"""The ``multiauth`` command in everyday shell use: tokens reused between runs, hints that
fit the shell, ``-v`` anywhere, quiet pipes, bodies from files and stdin.

Like test_cli.py, the command runs as a real subprocess against the local providers
started in this (the test) process, whose counters tell how many token calls it made.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from requests_multiauth import CognitoAuth
from requests_multiauth.cli import app as cli
from requests_multiauth.testing import LocalProviders

from . import test_cli
from .test_cli import (
    SUBPROCESS_TIMEOUT,
    Result,
    _base_environ,
    assert_no_secret,
    child_environ,
    issued_tokens,
    run_cli,
    secrets_of,
)

# test_cli's fixtures, by the names pytest looks up: one module-wide set of providers,
# counters zeroed per test, and a private token cache per test (autouse).
started_providers = test_cli.started_providers
providers = test_cli.providers
token_cache_dir = test_cli.token_cache_dir

# -- the token cache --------------------------------------------------------------------------------


def cache_files(directory: str) -> List[Path]:
    path = Path(directory)
    return sorted(path.iterdir()) if path.is_dir() else []


def test_three_token_runs_make_one_token_call(providers: LocalProviders, token_cache_dir: str) -> None:
    cognito = providers.cognito
    env = child_environ(providers, cognito)

    results = [run_cli("token", "cognito", env=env) for _ in range(3)]

    assert [r.returncode for r in results] == [0, 0, 0], results[0].stderr
    assert len({r.stdout for r in results}) == 1  # the same token each time
    assert cognito.token_calls == 1
    assert all(r.stderr == "" for r in results)


#: Runs the command in a Python where the filelock package cannot be imported, as after
#: the README's ``pip install '.[testing]'`` (filelock is no dependency of it).
WITHOUT_FILELOCK = (
    "import sys; sys.modules['filelock'] = None\n"
    "from requests_multiauth.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_the_token_cache_works_without_the_filelock_package(providers: LocalProviders, token_cache_dir: str) -> None:
    cognito = providers.cognito
    env = child_environ(providers, cognito)

    results = [run_cli("token", "cognito", env=env, python_code=WITHOUT_FILELOCK) for _ in range(3)]

    assert [r.returncode for r in results] == [0, 0, 0], results[0].stderr
    assert len({r.stdout for r in results}) == 1
    assert cognito.token_calls == 1
    assert all(r.stderr == "" for r in results)
    assert any(path.suffix == ".json" for path in cache_files(token_cache_dir))


def test_a_wrong_secret_after_a_good_run_exits_1_with_the_servers_refusal(
    providers: LocalProviders, token_cache_dir: str
) -> None:
    cognito = providers.cognito
    env = child_environ(providers, cognito)
    assert run_cli("token", "cognito", env=env).returncode == 0

    wrong = dict(env, COGNITO_CLIENT_SECRET="not-the-" + cognito.client_secret)
    result = run_cli("token", "cognito", env=wrong)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "invalid_client" in result.stderr
    assert cognito.token_calls == 2  # the wrong secret made its own call, not a read of the good one's token
    assert_no_secret(result, [wrong["COGNITO_CLIENT_SECRET"], *secrets_of(cognito)])


def test_the_cache_is_private_keyed_as_the_library_keys_and_holds_no_secret(
    providers: LocalProviders, token_cache_dir: str
) -> None:
    cognito = providers.cognito
    result = run_cli("token", "cognito", env=child_environ(providers, cognito))
    assert result.returncode == 0, result.stderr

    directory = Path(token_cache_dir)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = cache_files(token_cache_dir)
    assert files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        content = file.read_text()
        assert cognito.client_secret not in content
        assert cognito.client_secret not in file.name
    library = CognitoAuth(cognito.client_id, cognito.client_secret, cognito.token_url, scope="api/write")
    assert {f.stem for f in files} == {library._manager.key}  # the key a FileTokenCache user would share


def test_request_reuses_the_token_that_token_cached(providers: LocalProviders) -> None:
    dataloy = providers.dataloy
    env = child_environ(providers, dataloy)

    assert run_cli("token", "dataloy", env=env).returncode == 0
    result = run_cli("request", "dataloy", "GET", dataloy.api_url + "Cargo", env=env)

    assert result.returncode == 0, result.stderr
    assert dataloy.token_calls == 1
    assert dataloy.api_calls == 1


def test_no_cache_makes_a_token_call_each_time_and_keeps_nothing(
    providers: LocalProviders, token_cache_dir: str
) -> None:
    cognito = providers.cognito
    env = child_environ(providers, cognito)

    for _ in range(2):
        assert run_cli("token", "cognito", "--no-cache", env=env).returncode == 0

    assert cognito.token_calls == 2
    assert cache_files(token_cache_dir) == []


def test_without_multiauth_cache_dir_the_users_cache_directory_is_used(
    providers: LocalProviders, tmp_path: Path
) -> None:
    cognito = providers.cognito
    env = child_environ(providers, cognito, MULTIAUTH_CACHE_DIR=None, XDG_CACHE_HOME=str(tmp_path))

    for _ in range(2):
        assert run_cli("token", "cognito", env=env).returncode == 0

    assert cognito.token_calls == 1
    assert cache_files(str(tmp_path / "requests_multiauth" / "tokens"))


def test_a_cache_directory_that_cannot_be_used_does_not_stop_the_command(
    providers: LocalProviders, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = child_environ(providers, providers.cognito, MULTIAUTH_CACHE_DIR=str(blocker))

    result = run_cli("token", "cognito", env=env)

    assert result.returncode == 0
    assert "no token cache" in result.stderr
    assert result.stdout.strip()


# -- -v anywhere ---------------------------------------------------------------------------------------


def test_verbose_is_accepted_after_the_command(providers: LocalProviders) -> None:
    emulator = providers.diagrams

    result = run_cli("token", "diagrams", "-v", "--no-cache", env=child_environ(providers, emulator))

    assert result.returncode == 0, result.stderr
    assert "POST " + emulator.token_url in result.stderr
    assert_no_secret(Result(0, "", result.stderr), issued_tokens(emulator) + secrets_of(emulator))


def test_verbose_before_the_command_is_not_undone_by_the_subcommand(providers: LocalProviders) -> None:
    emulator = providers.opsnow

    result = run_cli("-v", "token", "opsnow", env=child_environ(providers, emulator))

    assert "POST " + emulator.token_url in result.stderr


# -- hints that fit the shell and the provider --------------------------------------------------------------


def test_a_tls_failure_says_requests_ca_bundle_not_a_python_keyword(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.cognito, REQUESTS_CA_BUNDLE=None, COGNITO_CA_BUNDLE=None)

    result = run_cli("token", "cognito", env=env)

    assert result.returncode == 1
    assert "failed TLS verification" in result.stderr
    assert "REQUESTS_CA_BUNDLE" in result.stderr
    assert "session=" not in result.stderr
    assert "verify=" not in result.stderr


def test_a_refused_opsnow_key_names_the_key_never_a_client_id(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.opsnow, OPSNOW_API_KEY="wrong-" + os.urandom(8).hex())

    result = run_cli("token", "opsnow", env=env)

    assert result.returncode == 1
    assert "OPSNOW_API_KEY" in result.stderr
    assert "client id" not in result.stderr.lower()
    assert "client_auth" not in result.stderr


def test_refused_client_credentials_name_the_providers_variables(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.cognito, COGNITO_CLIENT_SECRET="wrong-" + os.urandom(8).hex())

    result = run_cli("token", "cognito", env=env)

    assert result.returncode == 1
    assert "check COGNITO_CLIENT_ID and COGNITO_CLIENT_SECRET" in result.stderr
    assert "client_auth" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_suggests_only_options_the_command_has(providers: LocalProviders) -> None:
    url = f"https://127.0.0.1:{_closed_port()}/oauth2/token"
    env = child_environ(providers, providers.cognito, COGNITO_TOKEN_URL=url)

    result = run_cli("token", "cognito", "--timeout", "1", env=env)

    assert result.returncode == 1
    assert "--timeout" in result.stderr
    assert "COGNITO_TOKEN_URL" in result.stderr
    assert "retry=" not in result.stderr
    assert "timeout=" not in result.stderr


def test_an_unknown_option_is_reported_as_unknown_without_a_note_about_secrets(providers: LocalProviders) -> None:
    result = run_cli("token", "cognito", "--bogus", env=child_environ(providers, providers.cognito))

    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr
    assert "secret" not in result.stderr
    assert providers.cognito.token_calls == 0


def test_a_secret_like_unknown_option_still_says_where_secrets_go(providers: LocalProviders) -> None:
    result = run_cli("token", "opsnow", "--api-key", "abcdefgh12345678", env=child_environ(providers, providers.opsnow))

    assert result.returncode == 2
    assert "unrecognized arguments: --api-key ..." in result.stderr
    assert "stdin" in result.stderr
    assert "abcdefgh12345678" not in result.stderr


# -- quiet pipes ---------------------------------------------------------------------------------------


def test_demo_piped_into_head_ends_quietly() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "requests_multiauth", "demo", "--no-tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_base_environ(),
    )
    head = subprocess.Popen(["head", "-1"], stdin=demo.stdout, stdout=subprocess.PIPE)
    assert demo.stdout is not None
    demo.stdout.close()  # head alone holds the pipe's read end, as in a shell
    first, _ = head.communicate(timeout=SUBPROCESS_TIMEOUT)
    _, stderr = demo.communicate(timeout=SUBPROCESS_TIMEOUT)

    assert first.decode().startswith("multiauth demo:")
    assert first.count(b"\n") == 1
    assert demo.returncode in (0, 141)
    assert stderr == b""


# -- bodies from files and standard input ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["data-file", "data-stdin", "json-file", "json-stdin"])
def test_request_bodies_come_from_a_file_or_stdin_as_curl_reads_them(
    providers: LocalProviders, tmp_path: Path, how: str
) -> None:
    dataloy = providers.dataloy
    body = '{"name": "wheat",\n "tons": 12}\n'
    path = tmp_path / "body.json"
    path.write_text(body)
    option = "--data" if how.startswith("data") else "--json"
    source = f"@{path}" if how.endswith("file") else "-"

    result = run_cli(
        "request",
        "dataloy",
        "POST",
        dataloy.api_url + "Cargo",
        option,
        source,
        env=child_environ(providers, dataloy),
        stdin=body if source == "-" else "",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["received"] == {"name": "wheat", "tons": 12}
    sent = dataloy.api_requests()[-1]
    assert sent.body == body.encode() if option == "--data" else json.loads(sent.body) == json.loads(body)
    if option == "--json":
        assert sent.headers["Content-Type"] == "application/json"


def test_a_body_file_that_cannot_be_read_is_a_usage_error(providers: LocalProviders, tmp_path: Path) -> None:
    dataloy = providers.dataloy
    missing = tmp_path / "missing.json"

    result = run_cli(
        "request", "dataloy", "POST", dataloy.api_url + "Cargo", "--data", f"@{missing}",
        env=child_environ(providers, dataloy),
    )  # fmt: skip

    assert result.returncode == 2
    assert f"--data @{missing}: cannot read the file" in result.stderr
    assert dataloy.token_calls == 0


def test_the_body_and_a_secret_cannot_both_come_from_stdin(providers: LocalProviders) -> None:
    dataloy = providers.dataloy
    env = child_environ(providers, dataloy, DATALOY_CLIENT_SECRET=None)

    result = run_cli(
        "request", "dataloy", "POST", dataloy.api_url + "Cargo", "--json", "-", "--client-secret-stdin",
        env=env, stdin="{}",
    )  # fmt: skip

    assert result.returncode == 2
    assert "both read standard input" in result.stderr


# -- --json means one thing per command -----------------------------------------------------------------


def test_token_output_json_and_the_deprecated_json_alias(providers: LocalProviders) -> None:
    env = child_environ(providers, providers.cognito)

    current = run_cli("token", "cognito", "--output", "json", env=env)
    old = run_cli("token", "cognito", "--json", env=env)

    assert current.returncode == 0, current.stderr
    assert current.stderr == ""
    assert json.loads(current.stdout)["token_type"] == "Bearer"
    assert old.returncode == 0
    assert json.loads(old.stdout).keys() == json.loads(current.stdout).keys()
    assert old.stderr.startswith("multiauth: warning: --json on 'token' is deprecated: use --output json")


def test_show_token_without_output_json_is_a_usage_error(providers: LocalProviders) -> None:
    result = run_cli("token", "cognito", "--show-token", env=child_environ(providers, providers.cognito))

    assert result.returncode == 2
    assert "--output json" in result.stderr


# -- the demo's columns ------------------------------------------------------------------------------------


def test_the_demo_says_its_call_columns_are_running_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--provider", "dataloy"]) == 0

    out = capsys.readouterr().out
    assert "running totals" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("step"))
    assert "API calls, total" in header
    assert "token calls, total" in header


@pytest.mark.parametrize("secret", ["-ZQoTnzsMJNhd9EYdt-U1bdW", "--Secret-With-Capitals-123", "-" + "a" * 40])
def test_a_secret_that_starts_with_a_dash_is_never_echoed(providers: LocalProviders, secret: str) -> None:
    env = child_environ(providers, providers.dataloy, DATALOY_CLIENT_SECRET=None)

    for args in (("--client-secret", secret), (f"--client-secret={secret}",), (secret,)):
        result = run_cli("token", "dataloy", *args, env=env)
        assert result.returncode == 2
        assert secret not in result.output


# -- TLS failures: a certificate problem, said so, with the CA settings ---------------------------

TLS_CASES = {
    "token": lambda c: (["token", "cognito"], {}, "COGNITO_CA_BUNDLE"),
    "request": lambda c: (["request", "cognito", "GET", c.api_url + "items"], {"COGNITO_CA_BUNDLE": c.verify}, None),
    "token oauth2": lambda c: (
        ["token", "oauth2"],
        {"OAUTH2_TOKEN_URL": c.token_url, "OAUTH2_CLIENT_ID": c.client_id, "OAUTH2_CLIENT_SECRET": c.client_secret},
        None,  # the oauth2 command has no CA bundle setting of its own
    ),
    "token oauth2 --issuer": lambda c: (
        ["token", "oauth2", "--issuer", c.url],
        {"OAUTH2_CLIENT_ID": c.client_id, "OAUTH2_CLIENT_SECRET": c.client_secret},
        None,
    ),
}


@pytest.mark.parametrize("case", TLS_CASES, ids=TLS_CASES.keys())
def test_every_command_says_a_tls_failure_is_a_certificate_problem_and_names_the_ca_settings(
    providers: LocalProviders, case: str
) -> None:
    cognito = providers.cognito
    arguments, variables, token_bundle = TLS_CASES[case](cognito)
    env = {
        name: value
        for name, value in _base_environ().items()
        if not name.startswith(("OAUTH2_", "COGNITO_")) and not name.endswith("CA_BUNDLE")
    }
    if case == "token" or case == "request":
        env.update({k: v for k, v in cognito.environ().items() if not k.endswith("CA_BUNDLE")})
    env.update(variables)

    result = run_cli(*arguments, env=env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "certificate problem" in result.stderr
    assert "could not connect" not in result.stderr
    assert "REQUESTS_CA_BUNDLE=/path/to/ca.pem" in result.stderr
    if token_bundle is not None:
        assert f"{token_bundle} / --ca-bundle" in result.stderr
    assert "session=" not in result.stderr  # the command's settings, not Python keywords
    assert_no_secret(result, secrets_of(cognito))
