"""The provider registry: one module per preset, and everything else made from its records.

A variable name is written once in the package (the walk of its source below proves
it); the command line, the demo, the fixtures, ``LocalProviders`` and the README's
table come from the records; and an outside package adds a provider through the
``requests_multiauth.providers`` entry points, built here as a tiny distribution on a
``PYTHONPATH`` of the test's own, seen in child processes (this process's registry
stays the built-in one).
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import requests_multiauth
from requests_multiauth import ConfigurationError, get_provider, list_providers
from requests_multiauth.cli import app as cli
from requests_multiauth.cli.settings import command_providers
from requests_multiauth.providers import registry
from requests_multiauth.providers.table import readme_table
from requests_multiauth.testing import LocalProviders, OAuth2Emulator

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "requests_multiauth"

#: A child process (an interpreter start, a pytest run) against loopback; this bounds a hang.
CHILD_TIMEOUT = 120

#: The presets that renew a token, so read a CA bundle for their token calls.
RENEWING = ("opsnow", "cognito", "dataloy", "diagrams")


# -- a variable name is written once -------------------------------------------------------------------


def _constants(tree: ast.Module) -> Dict[str, ast.Constant]:
    """The module-level ``NAME = "text"`` assignments of a module."""
    found: Dict[str, ast.Constant] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value
    return found


def _declared_variables() -> Dict[str, Tuple[Path, int]]:
    """Every ``EnvVar`` name in the package, with the file and line where its text is
    written: the ``EnvVar(...)`` call, or the module constant it names (a variable that
    two providers read, such as Google's credentials file, is written once that way)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}
    constants = {path: _constants(tree) for path, tree in trees.items()}
    declared: Dict[str, Tuple[Path, int]] = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "EnvVar":
                name = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "name")
                where = path
                if isinstance(name, ast.Name):  # a constant of this module, or one it imports
                    homes = [p for p, names in constants.items() if name.id in names]
                    where = path if name.id in constants[path] else homes[0]
                    name = constants[where][name.id]
                assert isinstance(name, ast.Constant), (path, node.lineno)
                assert isinstance(name.value, str), (path, node.lineno)
                location = (where, name.lineno)
                assert declared.get(name.value, location) == location, f"{name.value} is written twice"
                declared[name.value] = location
    return declared


def _exported_names(tree: ast.Module) -> List[int]:
    """The ids of the string nodes of ``__all__``: names of Python objects, not text."""
    found: List[int] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            found += [id(element) for element in getattr(node.value, "elts", [])]
    return found


def _docstrings(tree: ast.Module) -> List[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found: List[int] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.append(id(first.value))
    return found


def _readers(declared: Dict[str, Tuple[Path, int]]) -> Dict[str, List[Path]]:
    """The modules that hold an ``EnvVar(...)`` record of each variable."""
    readers: Dict[str, List[Path]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "EnvVar":
                name = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "name")
                text = name.value if isinstance(name, ast.Constant) else None
                if isinstance(name, ast.Name):  # the shared constant: the variable it holds
                    text = next(
                        v
                        for v, (where, _) in declared.items()
                        if name.id in _constants(ast.parse(where.read_text(encoding="utf-8")))
                    )
                readers.setdefault(str(text), []).append(path)
    return readers


def test_a_variable_name_is_written_once_in_the_package() -> None:
    # Code writes a variable's name only in its record (or in the one constant two records
    # share). The docstrings and comments of a module whose record reads a variable may name
    # it, as its documentation; nothing else in the package may: no second table of names.
    declared = _declared_variables()
    assert {"RATED_TOKEN", "DATALOY_CA_BUNDLE", "OAUTH2_CLIENT_ID"} <= set(declared)
    readers = _readers(declared)
    word = re.compile(r"\b(" + "|".join(map(re.escape, sorted(declared))) + r")\b")
    elsewhere: List[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        skip = set(_exported_names(tree))
        docs = set(_docstrings(tree))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
                continue
            for name in word.findall(node.value):
                documenting = id(node) in docs and path in readers.get(name, [])
                if declared[name] != (path, node.lineno) and not documenting:
                    elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                names = [n for n in word.findall(token.string) if path not in readers.get(n, [])]
                elsewhere += [f"{path.relative_to(ROOT)}:{token.start[0]}: {n} (comment)" for n in names]
    assert elsewhere == [], "variable names written outside their EnvVar record:\n" + "\n".join(elsewhere)


def test_the_walk_finds_a_variable_name_written_a_second_time(tmp_path: Path) -> None:
    # The check above would pass vacuously if the walk missed strings: show it sees one.
    copy = tmp_path / "probe.py"
    copy.write_text('LOOK = {"DATALOY_CLIENT_ID": 1}  # DATALOY_TOKEN_URL\n', encoding="utf-8")
    source = copy.read_text(encoding="utf-8")
    strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    assert strings == ["DATALOY_CLIENT_ID"]
    assert "DATALOY_TOKEN_URL" in comments[0]


# -- one module per preset ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", registry.BUILTIN_MODULES)
def test_each_builtin_provider_is_one_module_declaring_its_class_and_record(module: str) -> None:
    loaded = importlib.import_module(f"requests_multiauth.providers.{module}")
    provider = loaded.PROVIDER
    assert get_provider(provider.name) is provider
    assert provider.docs_url.startswith("https://")
    assert provider.scheme
    # Every built-in has an emulator, but github-app-jwt: it presents github-app's app JWT,
    # so github-app's emulator serves it (GitHubEmulator.jwt_auth()).
    assert (provider.emulator is not None) != (provider.name == "github-app-jwt")
    if provider.name != "oauth2":  # the generic provider builds the library's own class
        assert provider.auth_class.__module__ == loaded.__name__
        assert provider.auth_class.provider_name == provider.name
        assert getattr(requests_multiauth, provider.auth_class.__name__) is provider.auth_class


@pytest.mark.parametrize("name", RENEWING)
def test_each_renewing_preset_reads_its_ca_bundle_as_verify(name: str) -> None:
    bundle = get_provider(name).variable("verify")
    assert bundle is not None
    assert (bundle.name, bundle.required, bundle.path, bundle.secret) == (
        f"{name.upper()}_CA_BUNDLE",
        False,
        True,
        False,
    )
    assert get_provider("rated").variable("verify") is None  # a browser-made token: no token call to trust


def test_an_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no provider is named 'acme'.*dataloy"):
        get_provider("acme")


def test_every_secret_is_marked_secret_and_read_from_stdin_by_the_command_line() -> None:
    stage_one = ("rated", "opsnow", "cognito", "dataloy", "diagrams", "oauth2")
    secrets = {var.name for name in stage_one for var in get_provider(name).env if var.secret}
    assert secrets == {
        "RATED_TOKEN",
        "OPSNOW_API_KEY",
        "COGNITO_CLIENT_SECRET",
        "DATALOY_CLIENT_SECRET",
        "DIAGRAMS_APPLICATION_SECRET",
        "OAUTH2_CLIENT_SECRET",
        "OAUTH2_PRIVATE_KEY_PASSWORD",
    }
    for provider in command_providers().values():
        for setting in provider.settings:
            assert setting.option.endswith("-stdin") == setting.secret, setting


def test_the_generic_provider_builds_from_its_variables(oauth2_provider: OAuth2Emulator) -> None:
    client = oauth2_provider.register_client("client_secret_post")
    environ = {
        "OAUTH2_TOKEN_URL": oauth2_provider.token_url,
        "OAUTH2_CLIENT_ID": client.client_id,
        "OAUTH2_CLIENT_SECRET": client.client_secret or "",
        "OAUTH2_CLIENT_AUTH": "client_secret_post",
    }
    auth = get_provider("oauth2").build(environ, session=oauth2_provider.api_session())
    assert oauth2_provider.api_session().get(oauth2_provider.api_url + "x", auth=auth).status_code == 200
    assert oauth2_provider.count_token_calls(method="client_secret_post", outcome="ok") == 1


# -- the command line and the demo ----------------------------------------------------------------------


def test_providers_lists_each_provider_with_its_variables_and_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["providers"]) == 0
    out = capsys.readouterr().out
    for provider in list_providers():
        assert f"{provider.name}: {provider.scheme}" in out
        assert provider.docs_url in out
        for var in provider.env:
            line = next(line for line in out.splitlines() if line.split()[:1] == [var.name])
            assert ("required" in line) == var.required
            assert ("secret" in line) == var.secret


def test_providers_as_json_is_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["providers", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in listed] == [provider.name for provider in list_providers()]
    dataloy = next(entry for entry in listed if entry["name"] == "dataloy")
    assert dataloy["preset"] == "requests_multiauth.providers.dataloy.DataloyAuth"
    assert dataloy["variables"][1] == {
        "name": "DATALOY_CLIENT_SECRET",
        "option": "--client-secret-stdin",
        "meaning": "the client secret",
        "required": True,
        "secret": True,
    }
    assert {v["name"]: v["required"] for v in dataloy["variables"]}["DATALOY_AUDIENCE"] is False


def test_demo_runs_the_generic_oauth2_server_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["demo", "--provider", "oauth2"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "oauth2    ClientCredentialsAuth" in out
    assert "401 -> renewed, replayed -> 200" in out
    assert "ok: 1 provider, 4 steps" in out


def test_demo_offers_only_providers_that_have_an_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["demo", "--provider", "nosuch"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    choices = err[err.index("{") + 1 : err.index("}")]  # the choices, as argparse lists them
    for provider in list_providers():
        assert (provider.name in choices.split(",")) == (provider.emulator is not None), provider.name


# -- the fixtures and the README -------------------------------------------------------------------------


def test_local_providers_runs_every_local_preset_of_the_registry(local_providers: LocalProviders) -> None:
    presets = [
        p.name
        for p in list_providers()
        if p.local and p.emulator is not None and getattr(p.auth_class, "provider_name", None) == p.name
    ]
    assert list(LocalProviders.NAMES) == presets == [e.name for e in local_providers]
    assert {"rated", "opsnow", "cognito", "dataloy", "diagrams"} <= set(presets)
    for emulator in local_providers:
        variables = {var.name for var in get_provider(emulator.name).env}
        api_url = f"{emulator.name.upper().replace('-', '_')}_API_URL"  # where the examples send requests
        assert set(emulator.environ()) - {api_url} <= variables
        assert {var.name for var in get_provider(emulator.name).env if var.required} <= set(emulator.environ())


def test_the_readme_table_is_the_registrys() -> None:
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert readme_table(list_providers()) in readme


# -- plug-ins ---------------------------------------------------------------------------------------------

PLUGIN = '''
"""A provider from outside: Acme's client credentials, the Cognito way, under its own name."""

from typing import Any, Dict

from requests_multiauth import CognitoAuth
from requests_multiauth.providers.registry import EnvVar, Provider


class AcmeAuth(CognitoAuth):
    provider_name = "acme"


def emulator(**options: Any) -> Any:
    from requests_multiauth.testing import CognitoEmulator

    class AcmeEmulator(CognitoEmulator):
        name = "acme"

        def auth(self, **options: Any) -> AcmeAuth:
            options.setdefault("scope", "api/write")
            return AcmeAuth(self.client_id, self.client_secret, self.token_url, **self._auth_options(options))

    return AcmeEmulator(**options)


PROVIDER = Provider(
    name="acme",
    auth_class=AcmeAuth,
    env=(
        EnvVar("ACME_CLIENT_ID", "client_id", "Acme's client id"),
        EnvVar("ACME_CLIENT_SECRET", "client_secret", "Acme's client secret", secret=True),
        EnvVar("ACME_TOKEN_URL", "token_url", "Acme's token endpoint"),
        EnvVar("ACME_SCOPE", "scope", "Acme's scopes", required=False),
        EnvVar("ACME_CA_BUNDLE", "verify", "a CA bundle the token calls trust", required=False, path=True),
    ),
    docs_url="https://acme.example/docs/auth",
    emulator=emulator,
    scheme="Acme client credentials",
)

NOT_A_PROVIDER = "acme"
'''

ENTRY_POINTS = """\
[requests_multiauth.providers]
acme = acme_auth:PROVIDER
broken = acme_broken:PROVIDER
wrong = acme_auth:NOT_A_PROVIDER
"""


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A directory holding a tiny installed distribution: the ``acme_auth`` package, its
    ``*.dist-info`` with an ``entry_points.txt`` naming it, and two broken entries."""
    site = tmp_path / "site"
    (site / "acme_auth").mkdir(parents=True)
    (site / "acme_auth" / "__init__.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    (site / "acme_broken.py").write_text("raise ImportError('acme_broken needs a module that is not installed')\n")
    info = site / "acme_auth-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-auth\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return site


def _child_environ(plugin_path: Path, tmp_path: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_path), str(ROOT)])
    env["MULTIAUTH_CACHE_DIR"] = str(tmp_path / "cache")
    env["HOME"] = str(tmp_path)  # nothing of the child's goes to the real home
    return env


def _run(args: List[str], env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=CHILD_TIMEOUT
    )


PLUGIN_CHILD = """
import os, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import requests_multiauth
    assert "acme_auth" not in sys.modules, "importing the package loaded a plug-in"
    from requests_multiauth import list_providers
    names = [p.name for p in list_providers()]
assert names[-1] == "acme" and "rated" in names, names
messages = [str(w.message) for w in caught if w.category.__name__ == "ProviderPluginWarning"]
assert len(messages) == 2, messages
assert any("'broken'" in m and "ImportError" in m for m in messages), messages
assert any("'wrong'" in m and "not a Provider" in m for m in messages), messages

from requests_multiauth.cli.app import main
from requests_multiauth.testing import LocalProviders
assert "acme" in LocalProviders.NAMES
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with LocalProviders() as providers:
        acme = providers["acme"]
        assert providers.acme is acme
        os.environ.update(acme.environ())
        assert "ACME_CA_BUNDLE" in acme.environ()
        status = main(["token", "acme"])
        assert status == 0
        assert acme.token_calls == 1
print("child ok")
"""

FIXTURE_TEST = """
pytest_plugins = ["requests_multiauth.testing"]


def test_the_plugin_has_its_fixture(acme_provider, local_providers, dataloy_provider):
    assert acme_provider is local_providers["acme"]
    assert dataloy_provider is local_providers.dataloy
    auth = acme_provider.auth()
    assert acme_provider.api_session().get(acme_provider.api_url + "x", auth=auth).status_code == 200
    assert acme_provider.token_calls == 1
"""


def test_a_plugin_provider_is_listed_built_and_emulated_like_a_builtin_one(plugin_path: Path, tmp_path: Path) -> None:
    result = _run(["-c", PLUGIN_CHILD], _child_environ(plugin_path, tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("child ok")
    assert "ACME_CLIENT_SECRET" not in result.stdout  # the token printed, never a secret's name or value


def test_a_plugin_provider_is_in_the_commands_help_and_listing(plugin_path: Path, tmp_path: Path) -> None:
    env = _child_environ(plugin_path, tmp_path)
    listing = _run(["-m", "requests_multiauth", "providers", "--output", "json"], env, tmp_path)
    assert listing.returncode == 0, listing.stderr
    acme = next(entry for entry in json.loads(listing.stdout) if entry["name"] == "acme")
    assert acme["docs_url"] == "https://acme.example/docs/auth"
    assert [v["name"] for v in acme["variables"] if v["secret"]] == ["ACME_CLIENT_SECRET"]
    warnings = [line for line in listing.stderr.splitlines() if line.startswith("multiauth: warning: ")]
    assert len(warnings) == 2, listing.stderr
    assert "'broken'" in listing.stderr
    assert "'wrong'" in listing.stderr
    assert "Traceback" not in listing.stderr

    helped = _run(["-m", "requests_multiauth", "token", "--help"], env, tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "acme: Acme client credentials" in helped.stdout
    for variable in ("ACME_CLIENT_ID", "ACME_CLIENT_SECRET", "ACME_TOKEN_URL", "ACME_CA_BUNDLE"):
        assert variable in helped.stdout

    missing = _run(["-m", "requests_multiauth", "token", "acme"], env, tmp_path)
    assert missing.returncode == 2
    assert "ACME_CLIENT_ID, ACME_CLIENT_SECRET, ACME_TOKEN_URL are not set" in missing.stderr


def test_a_plugin_provider_gets_its_pytest_fixture(plugin_path: Path, tmp_path: Path) -> None:
    (tmp_path / "test_acme.py").write_text(FIXTURE_TEST, encoding="utf-8")
    result = _run(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::UserWarning", str(tmp_path / "test_acme.py")],
        _child_environ(plugin_path, tmp_path),
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_no_plugin_is_loaded_in_this_process() -> None:
    # The plug-in tests run in children: the registry here is the built-in one.
    modules = [importlib.import_module(f"requests_multiauth.providers.{m}") for m in registry.BUILTIN_MODULES]
    assert [p.name for p in list_providers()] == [module.PROVIDER.name for module in modules]
    assert "acme_auth" not in sys.modules


def test_a_preset_that_is_not_local_gets_a_fixture_of_its_own_outside_local_providers(
    local_providers: LocalProviders, salesforce_provider: Any
) -> None:
    assert not get_provider("salesforce").local
    assert "salesforce" not in LocalProviders.NAMES
    with pytest.raises(KeyError):
        local_providers["salesforce"]
    assert salesforce_provider.token_calls == 0  # started for this test alone
    assert salesforce_provider.environ()
