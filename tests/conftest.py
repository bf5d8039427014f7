"""Fixtures every test module may use. Each helper's own fixtures live in its test modules
or in the ``tests/fixtures_*.py`` helpers they import."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

from requests_multiauth.testing import Handler, LocalProviders, LocalServer, ManualClock

from .fixtures_secrets import SecretWatch

# The local provider emulations' fixtures (local_providers, cognito_provider, ...), and the
# two-API fixtures of the session and adapter tests (tokens, api_a, api_b, bundle), and the
# token endpoint of the shared-cache tests (stub, server), oidc-provider (oidc_provider, oidc),
# OpenTelemetry's in-memory SDK (otel), and the client authentication tests' keys and mutual
# TLS servers (client_keys).
pytest_plugins = [
    "requests_multiauth.testing",
    "tests.fixtures_apis",
    "tests.fixtures_cache",
    "tests.fixtures_oidc",
    "tests.fixtures_otel",
    "tests.fixtures_client_auth",
]


def _snapshot(directory: Path) -> Dict[str, Tuple[int, int]]:
    """Every file and directory under *directory*: (mtime in ns, size); empty if it does not exist."""
    if not directory.exists():
        return {}
    entries = {str(directory): (directory.stat().st_mtime_ns, 0)}
    for path in directory.rglob("*"):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        entries[str(path)] = (info.st_mtime_ns, info.st_size)
    return entries


#: The audit events that write or remove a file or directory, and the argument holding its path.
_WRITES = {"open": 0, "os.mkdir": 0, "os.rename": 0, "os.remove": 0, "os.rmdir": 0, "os.chmod": 0, "shutil.rmtree": 0}


def _refuse_writes_under(directory: Path) -> None:
    """From now on, in this process, writing under *directory* raises in the code that tried."""
    prefix = str(directory)

    def hook(event: str, args: Tuple[object, ...]) -> None:
        where = _WRITES.get(event)
        if where is None or len(args) <= where:
            return
        path = args[where]
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).startswith(prefix):
            return
        if event == "open":
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if not writing:
                return
        raise RuntimeError(f"a test wrote to the user's cache directory ({event} {os.fspath(path)}): use tmp_path")

    sys.addaudithook(hook)


@pytest.fixture(scope="session", autouse=True)
def _user_cache_untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing the suite runs writes to the user's files: HOME and XDG_CACHE_HOME point at
    a temporary directory (the commands it starts inherit them), and a write in this
    process under the real ``requests_multiauth`` cache directory raises in the code that
    tried (an audit hook). At the end, the real directory is compared with how it was: a
    change is reported as a warning naming the files, not a failure, because other
    processes of the same user (another checkout's suite) may write there meanwhile."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    real = (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "requests_multiauth"
    before = _snapshot(real)
    _refuse_writes_under(real)
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        yield
    after = _snapshot(real)
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    if changed:
        warnings.warn(
            f"the user's cache directory {real} changed during the suite (by this suite's children, or another "
            f"process of this user): {changed[:10]}",
            stacklevel=1,
        )


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine sets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, which override a
    session's ``verify`` in requests; tests trust their own throwaway CA instead."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture(autouse=True)
def _secrets_stay_out_of_logs() -> Iterator[SecretWatch]:
    """Every test runs with DEBUG logging captured (ours, urllib3's, the root's) and
    fails if a string registered through ``secret_strings`` appears in it."""
    with SecretWatch() as watch:
        yield watch
    watch.check()


@pytest.fixture
def secret_strings(_secrets_stay_out_of_logs: SecretWatch) -> SecretWatch:
    """Register the secrets and tokens a test creates: ``secret_strings.add(secret, token)``.
    The test fails if any of them is logged; ``secret_strings.text`` is the captured log."""
    return _secrets_stay_out_of_logs


@pytest.fixture
def serve() -> Iterator[Callable[..., LocalServer]]:
    """Start a :class:`LocalServer` (HTTPS on loopback) for a handler; stopped after the test."""
    started: List[LocalServer] = []

    def start(handler: Handler, **options: object) -> LocalServer:
        server = LocalServer(handler, **options).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def clock(local_providers: LocalProviders) -> ManualClock:
    """One manual clock for the five local providers and, through ``provider.auth()``, their presets."""
    clock = ManualClock()
    local_providers.set_clock(clock)
    return clock
