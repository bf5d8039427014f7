"""Local providers and servers for tests, the demo and benchmarks: real HTTP(S) on loopback.

* :class:`LocalProviders` runs the five provider schemes (Rated, OpsNow, Cognito,
  Dataloy, Diagrams), each on its own loopback origin, speaking exactly what its
  provider documents: a token endpoint that refuses any request deviating from
  the provider's page, and a protected API that accepts only tokens it issued.
  Each emulator (:class:`ProviderEmulator`) has settings for token lifetime,
  endpoint latency, revocation and injected faults, counters of token and API
  calls, and the log of every request it received.
* :class:`OAuth2Emulator` is a generic OAuth 2.0 authorization server (discovery,
  client credentials with every client authentication method of RFC 8414's
  registry, mTLS and certificate-bound tokens, DPoP with switchable nonces) and a
  protected API that checks how each token is bound; it needs PyJWT
  (``pip install 'requests-multiauth[testing]'``), imported when one is made.
* :class:`AppJwtEmulator` trades an app's signed JWT for a token (the scheme of the
  "Write your own scheme" page), for tests of a custom :class:`~requests_multiauth.Grant`.
* :class:`LocalServer` runs any handler function (or a WSGI app, through
  :func:`wsgi_handler`).
* Misbehaviours (:class:`Trickle`, :class:`TrickleHeaders`, :class:`Oversized`, :class:`GzipBomb`,
  :class:`MalformedStatus`, :class:`ManyHeaders`, :class:`LongHeader`,
  :class:`Truncated`, :class:`Redirect`) are replies no well-behaved server
  sends, for testing timeouts and limits: return one from a handler, or queue
  it with ``emulator.inject(...)``.

Both serve HTTPS with a certificate from a throwaway ``trustme`` CA when
``trustme`` is installed (``pip install 'requests-multiauth[testing]'``), and
plain HTTP on loopback otherwise. In your own tests::

    from requests_multiauth.testing import LocalProviders

    with LocalProviders() as providers:
        dataloy = providers["dataloy"]
        response = dataloy.api_session().get(dataloy.api_url + "Cargo", auth=dataloy.auth())
        assert dataloy.token_calls == 1

With pytest, ``pytest_plugins = ["requests_multiauth.testing"]`` in your
top-level ``conftest.py`` gives the fixtures ``local_providers`` and one
``<name>_provider`` per registered provider with an emulator (``rated_provider``,
``opsnow_provider``, ``cognito_provider``, ``dataloy_provider``,
``diagrams_provider``, ``oauth2_provider``, and a plug-in's), and ``oauth2_server``. Importing this module does not
need pytest. (PYTEST_DONT_REWRITE: conftest files import this module before pytest
loads it as a plugin, and it has no asserts to rewrite.)
"""

import sys

from .. import _lazy_names
from ._appjwt import AppJwtEmulator
from ._authserver import OAuth2Emulator
from ._clients import RegisteredClient
from ._diagrams import DiagramsEmulator
from ._emulator import ManualClock, ProviderEmulator
from ._github_actions import GITHUB_ACTIONS_ISSUER, GitHubActionsEmulator
from ._google import GoogleServiceAccountEmulator
from ._google_sts import GoogleStsEmulator
from ._hostile import (
    GzipBomb,
    LongHeader,
    MalformedStatus,
    ManyHeaders,
    Oversized,
    Redirect,
    Trickle,
    TrickleHeaders,
    Truncated,
)
from ._local import LocalProviders
from ._metadata import AzureManagedIdentityEmulator, GoogleMetadataEmulator
from ._providers import OPSNOW_SHAPES, CognitoEmulator, DataloyEmulator, OpsNowEmulator, RatedEmulator
from ._records import ApiCall, SeenAssertion, TokenCall
from ._salesforce import SalesforceEmulator
from ._server import DROP_CONNECTION, Body, Handler, LocalServer, Misbehaviour, Reply, Request, wsgi_handler
from ._token_exchange import Exchange, TokenExchangeEmulator, WorkloadIssuer

#: Emulators imported on first use (PEP 562), so this module stays cheap to import.
_LAZY = {
    "EntraIdEmulator": "_entra",
    "GitHubEmulator": "_github",
    "ZoomEmulator": "_zoom",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals())


__all__ = [
    "DROP_CONNECTION",
    "GITHUB_ACTIONS_ISSUER",
    "EntraIdEmulator",
    "GitHubEmulator",
    "ZoomEmulator",
    "OPSNOW_SHAPES",
    "ApiCall",
    "AppJwtEmulator",
    "AzureManagedIdentityEmulator",
    "Body",
    "CognitoEmulator",
    "DataloyEmulator",
    "DiagramsEmulator",
    "GzipBomb",
    "LongHeader",
    "MalformedStatus",
    "ManyHeaders",
    "Misbehaviour",
    "Oversized",
    "Redirect",
    "Trickle",
    "TrickleHeaders",
    "Truncated",
    "GoogleServiceAccountEmulator",
    "Exchange",
    "GitHubActionsEmulator",
    "GoogleStsEmulator",
    "GoogleMetadataEmulator",
    "Handler",
    "LocalProviders",
    "LocalServer",
    "ManualClock",
    "OAuth2Emulator",
    "OpsNowEmulator",
    "ProviderEmulator",
    "RatedEmulator",
    "RegisteredClient",
    "Reply",
    "Request",
    "SalesforceEmulator",
    "SeenAssertion",
    "TokenCall",
    "TokenExchangeEmulator",
    "WorkloadIssuer",
    "wsgi_handler",
]

# Loaded as a pytest plugin, pytest is already imported: offer the fixtures, one
# ``<name>_provider`` per registered provider with an emulator (plug-ins' too).
# Anywhere else (the demo, a benchmark) pytest is neither needed nor imported.
if "pytest" in sys.modules:
    from ._fixtures import fixtures as _fixtures
    from ._fixtures import local_providers, oauth2_server  # noqa: F401 - found by pytest in this namespace

    globals().update(_fixtures())
