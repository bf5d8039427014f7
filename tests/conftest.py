"""Fixtures every test module may use. Each helper's own fixtures live in its test modules
or in the ``tests/fixtures_*.py`` helpers they import."""

from __future__ import annotations

from typing import Callable, Iterator, List

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
