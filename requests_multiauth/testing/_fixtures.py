"""The pytest fixtures of ``pytest_plugins = ["requests_multiauth.testing"]``, made from the registry.

``local_providers`` starts every preset's emulator (:class:`LocalProviders`) for one
test and stops them after it; ``<name>_provider`` (``rated_provider`` ...
``diagrams_provider``, and one per plug-in preset, dashes as underscores) is its
member, so a test that asks for two of them gets two members of the same set. A
registered provider with an emulator that is not a preset of its own (the generic
``oauth2`` server) gets ``<name>_provider`` as an emulator of its own for the test.
``oauth2_server`` is the generic OAuth 2.0 authorization server, under its older name.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator

import pytest

from ..providers.registry import Provider, list_providers
from ._authserver import OAuth2Emulator
from ._local import LocalProviders, preset_names

__all__ = ["fixtures", "local_providers", "oauth2_server"]


@pytest.fixture
def local_providers() -> Iterator[LocalProviders]:
    """Every preset's emulator on loopback (HTTPS when trustme is installed), for one test."""
    with LocalProviders() as providers:
        yield providers


@pytest.fixture
def oauth2_server() -> Iterator[OAuth2Emulator]:
    """A generic OAuth 2.0 authorization server and protected API on loopback HTTPS, for one
    test: register clients with ``oauth2_server.register_client(method)``."""
    with OAuth2Emulator() as server:
        yield server


def _member(provider: Provider) -> Callable[..., Any]:
    def member(local_providers: LocalProviders) -> Any:
        return local_providers[provider.name]

    member.__doc__ = f"The {provider.name} emulator of ``local_providers``: {provider.scheme or provider.name}."
    return member


def _own(provider: Provider) -> Callable[..., Any]:
    factory = provider.emulator
    assert factory is not None  # noqa: S101 - only providers with an emulator get a fixture

    def own() -> Iterator[Any]:
        with factory() as emulator:
            yield emulator

    own.__doc__ = f"The {provider.name} emulator on loopback, for one test: {provider.scheme or provider.name}."
    return own


def fixtures() -> Dict[str, Any]:
    """``<name>_provider`` for every registered provider with an emulator, by fixture name."""
    presets = set(preset_names())
    made: Dict[str, Any] = {}
    for provider in list_providers():
        if provider.emulator is None:
            continue
        name = provider.name.replace("-", "_") + "_provider"
        function = _member(provider) if provider.name in presets else _own(provider)
        function.__name__ = function.__qualname__ = name
        made[name] = pytest.fixture(name=name)(function)
    return made
