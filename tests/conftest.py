"""Fixtures every test module may use. Each helper's own fixtures live in its test modules
or in the ``tests/fixtures_*.py`` helpers they import."""

from __future__ import annotations

from typing import Callable, Iterator, List

import pytest

from requests_multiauth.testing import Handler, LocalServer

# The local provider emulations' fixtures (local_providers, cognito_provider, ...).
pytest_plugins = ["requests_multiauth.testing"]


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine sets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, which override a
    session's ``verify`` in requests; tests trust their own throwaway CA instead."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


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
