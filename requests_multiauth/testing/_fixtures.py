"""The pytest fixtures of ``pytest_plugins = ["requests_multiauth.testing"]``.

``local_providers`` starts the five provider emulations for one test and stops
them after it; ``rated_provider`` ... ``diagrams_provider`` are its members, so
a test that asks for two of them gets two members of the same set.
``oauth2_server`` is a generic OAuth 2.0 authorization server of its own.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from ._authserver import OAuth2Emulator
from ._providers import (
    CognitoEmulator,
    DataloyEmulator,
    DiagramsEmulator,
    LocalProviders,
    OpsNowEmulator,
    RatedEmulator,
)

__all__ = [
    "cognito_provider",
    "dataloy_provider",
    "diagrams_provider",
    "local_providers",
    "oauth2_server",
    "opsnow_provider",
    "rated_provider",
]


@pytest.fixture
def local_providers() -> Iterator[LocalProviders]:
    """The five provider emulations on loopback (HTTPS when trustme is installed), for one test."""
    with LocalProviders() as providers:
        yield providers


@pytest.fixture
def rated_provider(local_providers: LocalProviders) -> RatedEmulator:
    """Rated's slaOS API and its m2m-token page."""
    return local_providers.rated


@pytest.fixture
def opsnow_provider(local_providers: LocalProviders) -> OpsNowEmulator:
    """OpsNow's API-key exchange and a protected API."""
    return local_providers.opsnow


@pytest.fixture
def cognito_provider(local_providers: LocalProviders) -> CognitoEmulator:
    """AWS Cognito's client-credentials token endpoint and a protected API."""
    return local_providers.cognito


@pytest.fixture
def dataloy_provider(local_providers: LocalProviders) -> DataloyEmulator:
    """Dataloy's JSON client-credentials endpoint and ``/ws/rest/``."""
    return local_providers.dataloy


@pytest.fixture
def diagrams_provider(local_providers: LocalProviders) -> DiagramsEmulator:
    """Diagrams Technologies' token endpoint with refresh tokens, and a protected API."""
    return local_providers.diagrams


@pytest.fixture
def oauth2_server() -> Iterator[OAuth2Emulator]:
    """A generic OAuth 2.0 authorization server and protected API on loopback HTTPS, for one
    test: register clients with ``oauth2_server.register_client(method)``."""
    with OAuth2Emulator() as server:
        yield server
