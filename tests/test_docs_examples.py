"""Every Python example of the documentation runs, as a user would run it.

The examples are files under ``docs/examples/`` that the pages show with
``literalinclude``. Each runs here in a fresh interpreter against the local providers
of :mod:`requests_multiauth.testing` (HTTPS with a throwaway CA): the providers'
variables (``DATALOY_CLIENT_ID`` ...) and their API URLs (``DATALOY_API_URL`` ...) are
in its environment, ``REQUESTS_CA_BUNDLE`` trusts the providers' CA, and token files go
to a temporary directory. An example files named ``test_*.py`` is a pytest module and
runs under pytest. An example that stops working fails this test, and an example no
page shows, or a Python snippet on a page that is not an example file, fails too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from requests_multiauth.testing import LocalProviders

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
# conftest.py is shown on the testing page and runs with the pytest examples, not alone.
RUNNABLE = [path for path in EXAMPLES if path.name != "conftest.py"]
# Examples of other libraries (the migration guides' "before"): installed by the docs extra.
OTHER_LIBRARIES = {"requests_oauth2client": "requests-oauth2client", "authlib": "Authlib",
                   "requests_oauthlib": "requests-oauthlib", "requests_auth": "requests-auth",
                   "dotenv": "python-dotenv"}
# Runs of a few hundred ms each; the slowest (a notebook-style loop, the threads) take seconds.
EXAMPLE_TIMEOUT = 120

# A framework's glue (a Django view, a Celery decorator) is shown as a code block whose
# caption says it is not run; the library part beside it is an example file.
NOT_RUN_CAPTION = "not run"


def _needs_redis(example: Path) -> bool:
    return "RedisTokenCache" in example.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server on a unix socket (no port to collide with), for the Redis examples."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("MULTIAUTH_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is required (MULTIAUTH_REQUIRE_REDIS=1) but not installed")
        pytest.skip("needs redis-server")
    where = tmp_path_factory.mktemp("redis")
    socket = where / "redis.sock"
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket), "--dir", str(where), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket.exists(), "redis-server did not start"
        yield f"unix://{socket}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def providers() -> Iterator[LocalProviders]:
    """Every preset's emulator, the vendors' too (``Provider.local`` only spares other tests their start-up)."""
    from requests_multiauth import list_providers

    presets = [
        p.name
        for p in list_providers()
        if p.emulator is not None and getattr(p.auth_class, "provider_name", None) == p.name
    ]
    with LocalProviders(tls=True, names=presets) as running:
        yield running


def example_environment(providers: LocalProviders, home: Path) -> Dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RATED_", "OPSNOW_", "COGNITO_", "DATALOY_", "DIAGRAMS_", "GOOGLE_", "SALESFORCE_"))
        and key not in {"CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}
    }
    env.update(providers.environ())
    for emulator in providers:
        env[f"{emulator.name.upper().replace('-', '_')}_API_URL"] = emulator.api_url
    assert isinstance(providers.verify, str)
    env["REQUESTS_CA_BUNDLE"] = providers.verify
    env["XDG_CACHE_HOME"] = str(home / "cache")
    env["TOKEN_CACHE_DIR"] = str(home / "tokens")
    env["NO_PROXY"] = "127.0.0.1,localhost,::1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def metadata_servers() -> Iterator[Dict[str, Any]]:
    """The cloud metadata emulators, each as its platform sets the environment (issue 21)."""
    from requests_multiauth.testing import AzureManagedIdentityEmulator, GoogleMetadataEmulator

    running = {
        "provider_google_metadata": GoogleMetadataEmulator(),
        "provider_azure_managed_identity_vm": AzureManagedIdentityEmulator(platform="imds"),
        "provider_azure_managed_identity_aks": AzureManagedIdentityEmulator(platform="imds"),
        "provider_azure_managed_identity_app_service": AzureManagedIdentityEmulator(platform="app_service"),
    }
    for emulator in running.values():
        emulator.start()
    yield running
    for emulator in running.values():
        emulator.stop()


def metadata_environment(example: Path, servers: Dict[str, Any], env: Dict[str, str], home: Path) -> None:
    """Put the platform's variables of the example's metadata emulator in *env*, and trust its API."""
    emulator = servers.get(example.stem)
    if emulator is None:
        return
    env.update(emulator.environ())
    env[f"{emulator.name.upper().replace('-', '_')}_API_URL"] = emulator.api_url
    if example.stem.endswith("_aks"):
        env["AZURE_CLIENT_ID"] = emulator.user.client_id
        env["AZURE_MANAGED_IDENTITY_SCOPE"] = emulator.resource + "/.default"
    bundle = home / "ca-bundle.pem"
    bundle.write_text(Path(env["REQUESTS_CA_BUNDLE"]).read_text() + Path(emulator.verify).read_text())
    env["REQUESTS_CA_BUNDLE"] = str(bundle)


def _secrets_of(providers: LocalProviders) -> List[str]:
    found = []
    for emulator in providers:
        found += [value for name, value in emulator.credentials.items() if "secret" in name or "key" in name or
                  name == "token"]
    return found


def _skip_without_its_library(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    for module, distribution in OTHER_LIBRARIES.items():
        if re.search(rf"^\s*(from|import) {module}\b", text, re.MULTILINE):
            pytest.importorskip(module, reason=f"{example.name} needs {distribution} (the docs extra)")


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda path: path.name)
def test_docs_example_runs(
    example: Path, providers: LocalProviders, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _skip_without_its_library(example)
    env = example_environment(providers, tmp_path)
    own = example.stem.replace("provider_", "", 1).replace("_", "-")
    if example.stem.startswith("provider_") and own in providers.NAMES:
        # Two presets may read one variable (google-auth's GOOGLE_APPLICATION_CREDENTIALS): its own wins.
        env.update(providers[own].environ())
    if _needs_redis(example):
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    if example.stem.startswith(("provider_google_metadata", "provider_azure_managed_identity")):
        metadata_environment(example, request.getfixturevalue("metadata_servers"), env, tmp_path)
    if example.name.startswith("test_"):
        # A user's suite of its own: the example and the docs' conftest.py, nothing of ours.
        suite = tmp_path / "suite"
        suite.mkdir()
        shutil.copy(example, suite / example.name)
        shutil.copy(DOCS / "examples" / "conftest.py", suite / "conftest.py")
        (suite / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)]
    else:
        command = [sys.executable, str(example)]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{example.name} failed:\n{output}"
    for secret in _secrets_of(providers):
        assert secret not in output, f"{example.name} printed a secret"


def _rst_pages() -> List[Path]:
    return sorted(path for path in DOCS.rglob("*.rst") if "_build" not in path.parts)


def test_every_example_file_is_shown_on_a_page() -> None:
    shown = set()
    for page in _rst_pages():
        for match in re.finditer(r"\.\. literalinclude:: +(\S+)", page.read_text(encoding="utf-8")):
            path = (page.parent / match.group(1)).resolve()
            assert path.exists(), f"{page.relative_to(DOCS)} includes {match.group(1)}, which does not exist"
            shown.add(path)
    assert EXAMPLES, "no examples found"
    assert [path.name for path in EXAMPLES if path.resolve() not in shown] == []


def test_every_python_snippet_is_an_example_that_runs() -> None:
    """A ``code-block:: python`` is allowed only as a framework's glue, captioned "not run"."""
    unexecuted = []
    block = re.compile(r"^([ \t]*)\.\. code-block:: +(python|py|python3|pycon)[ \t]*\n((?:\1 +:.*\n)*)", re.MULTILINE)
    for page in _rst_pages():
        text = page.read_text(encoding="utf-8")
        for match in block.finditer(text):
            if NOT_RUN_CAPTION not in match.group(3).lower():
                line = text[: match.start()].count("\n") + 2
                unexecuted.append(f"{page.relative_to(DOCS)}:{line}")
        if re.search(r"^\s*>>> ", text, re.MULTILINE) or "::\n\n    import " in text:
            unexecuted.append(f"{page.relative_to(DOCS)}: an inline Python snippet")
    assert unexecuted == []
