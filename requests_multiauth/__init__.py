"""requests_multiauth: machine-to-machine API authentication for ``requests`` in one line.

::

    session.auth = DataloyAuth(client_id, client_secret, token_url=...)

The auth gets a token, reuses it while it is valid, renews it ahead of expiry
without stalling requests, and on a 401 renews once and replays the request.

Only the names in ``__all__`` are public; modules starting with ``_`` are not.

A request goes: ``auth(request)`` (flow.py) → a valid token from the engine (engine/),
or one new token through the grant (grants/) and the token endpoint (transport/endpoint.py)
→ the token presented (presentation.py) → sent by requests or an AuthAdapter (transport/)
→ a 401 for that token renewed and replayed once (flow.py, transport/replay.py).
"""

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, MutableMapping, Tuple

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time every name loads on first use (below)
    from .auth import TokenAuth, TokenAuthOptions
    from .caches.base import FailureSharingTokenCache, MemoryTokenCache, SharedFailure, TokenCache, WaitingTokenCache
    from .caches.file import FileTokenCache
    from .caches.redis import RedisTokenCache
    from .client_auth import (  # the JWT methods need PyJWT only when built
        ClientAssertion,
        ClientAuth,
        ClientSecretBasic,
        ClientSecretJwt,
        ClientSecretPost,
        PrivateKeyJwt,
        TlsClientAuth,
    )
    from .discovery import ServerMetadata, discover
    from .dpop import DPoPKey  # needs PyJWT only when a key is made
    from .errors import (  # the bounds of a token call
        AnswerTooLargeError,
        ConfigurationError,
        DiscoveryError,
        InsecureTransportError,
        InvalidClientError,
        MalformedAnswerError,
        MultiAuthError,
        MultiAuthWarning,
        TokenExpiredError,
        TokenExpiryWarning,
        TokenRequestError,
        TokenResponseError,
        TokenTimeoutError,
    )
    from .grants.base import Grant, GrantRequest
    from .grants.jwt_bearer import JwtBearerAuth
    from .grants.token_exchange import TokenExchangeAuth
    from .providers.azure_managed_identity import AzureManagedIdentityAuth
    from .providers.cognito import CognitoAuth
    from .providers.dataloy import DataloyAuth
    from .providers.diagrams import DiagramsAuth
    from .providers.entra_id import EntraIdAuth
    from .providers.github_app import GitHubAppAuth
    from .providers.github_app_jwt import GitHubAppJwtAuth
    from .providers.google_external_account import GoogleExternalAccountAuth
    from .providers.google_metadata import GoogleMetadataAuth
    from .providers.google_service_account import GoogleServiceAccountAuth
    from .providers.opsnow import OpsNowAuth
    from .providers.rated import RatedAuth
    from .providers.registry import Provider, get_provider, list_providers
    from .providers.salesforce import SalesforceJwtAuth
    from .providers.zoom import ZoomAuth
    from .sources import GitHubActionsToken
    from .standard import ApiKeyTokenAuth, AudienceClientCredentialsAuth, ClientCredentialsAuth
    from .static import StaticTokenAuth
    from .telemetry import AuthTelemetry, TelemetrySnapshot
    from .token import Token
    from .transport.adapter import AuthAdapter
    from .transport.retry import RetryPolicy
    from .transport.session import MultiAuthSession

__version__ = "0.1.0"

#: Every public name and the module it lives in, imported on first use (PEP 562), so
#: that ``import requests_multiauth`` costs next to nothing and an application pays
#: only for the parts it uses: a preset, a cache, discovery, the CLI. A new preset
#: adds one line here and nothing to the import.
_LAZY = {
    "ApiKeyTokenAuth": "standard",
    "AudienceClientCredentialsAuth": "standard",
    "ClientCredentialsAuth": "standard",
    "StaticTokenAuth": "static",
    "TokenAuth": "auth",
    "TokenAuthOptions": "auth",
    "FailureSharingTokenCache": "caches.base",
    "MemoryTokenCache": "caches.base",
    "SharedFailure": "caches.base",
    "TokenCache": "caches.base",
    "WaitingTokenCache": "caches.base",
    "ClientAssertion": "client_auth",
    "ClientAuth": "client_auth",
    "ClientSecretBasic": "client_auth",
    "ClientSecretJwt": "client_auth",
    "ClientSecretPost": "client_auth",
    "PrivateKeyJwt": "client_auth",
    "TlsClientAuth": "client_auth",
    "DPoPKey": "dpop",
    "ConfigurationError": "errors",
    "DiscoveryError": "errors",
    "InsecureTransportError": "errors",
    "InvalidClientError": "errors",
    "MultiAuthError": "errors",
    "MultiAuthWarning": "errors",
    "TokenExpiredError": "errors",
    "TokenExpiryWarning": "errors",
    "TokenRequestError": "errors",
    "TokenResponseError": "errors",
    "AnswerTooLargeError": "errors",
    "MalformedAnswerError": "errors",
    "TokenTimeoutError": "errors",
    "Grant": "grants.base",
    "GrantRequest": "grants.base",
    "CognitoAuth": "providers.cognito",
    "DataloyAuth": "providers.dataloy",
    "DiagramsAuth": "providers.diagrams",
    "OpsNowAuth": "providers.opsnow",
    "RatedAuth": "providers.rated",
    "AuthTelemetry": "telemetry",
    "TelemetrySnapshot": "telemetry",
    "Token": "token",
    "AuthAdapter": "transport.adapter",
    "RetryPolicy": "transport.retry",
    "MultiAuthSession": "transport.session",
    "FileTokenCache": "caches.file",
    "RedisTokenCache": "caches.redis",
    "ServerMetadata": "discovery",
    "discover": "discovery",
    "Provider": "providers.registry",
    "get_provider": "providers.registry",
    "list_providers": "providers.registry",
    "JwtBearerAuth": "grants.jwt_bearer",
    "GoogleServiceAccountAuth": "providers.google_service_account",
    "SalesforceJwtAuth": "providers.salesforce",
    "TokenExchangeAuth": "grants.token_exchange",
    "GitHubActionsToken": "sources",
    "GoogleExternalAccountAuth": "providers.google_external_account",
    "EntraIdAuth": "providers.entra_id",
    "GitHubAppAuth": "providers.github_app",
    "GitHubAppJwtAuth": "providers.github_app_jwt",
    "ZoomAuth": "providers.zoom",
    "AzureManagedIdentityAuth": "providers.azure_managed_identity",
    "GoogleMetadataAuth": "providers.google_metadata",
}


def _lazy_names(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """The module ``__getattr__`` and ``__dir__`` (PEP 562) that import each name of *table* on first use.

    *table* maps a name to its module relative to *package*; a name once imported is
    kept in *namespace* (the package's ``globals()``), so later lookups do not come here
    again. This package and ``requests_multiauth.testing`` (its slow emulators) use it.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f".{module.lstrip('.')}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, globals())


__all__ = [
    "ApiKeyTokenAuth",
    "AudienceClientCredentialsAuth",
    "AzureManagedIdentityAuth",
    "ClientAssertion",
    "ClientAuth",
    "ClientCredentialsAuth",
    "ClientSecretBasic",
    "ClientSecretJwt",
    "ClientSecretPost",
    "CognitoAuth",
    "ConfigurationError",
    "DataloyAuth",
    "DiagramsAuth",
    "DPoPKey",
    "DiscoveryError",
    "ServerMetadata",
    "discover",
    "Provider",
    "get_provider",
    "list_providers",
    "FailureSharingTokenCache",
    "GoogleServiceAccountAuth",
    "JwtBearerAuth",
    "SalesforceJwtAuth",
    "GitHubActionsToken",
    "GoogleExternalAccountAuth",
    "Grant",
    "GrantRequest",
    "InsecureTransportError",
    "InvalidClientError",
    "MemoryTokenCache",
    "FileTokenCache",
    "GoogleMetadataAuth",
    "RedisTokenCache",
    "MultiAuthSession",
    "AuthAdapter",
    "MultiAuthError",
    "MultiAuthWarning",
    "OpsNowAuth",
    "PrivateKeyJwt",
    "RatedAuth",
    "RetryPolicy",
    "SharedFailure",
    "StaticTokenAuth",
    "TlsClientAuth",
    "AuthTelemetry",
    "TelemetrySnapshot",
    "Token",
    "TokenAuth",
    "TokenAuthOptions",
    "TokenCache",
    "TokenExchangeAuth",
    "TokenExpiredError",
    "TokenExpiryWarning",
    "TokenRequestError",
    "TokenResponseError",
    "AnswerTooLargeError",
    "MalformedAnswerError",
    "TokenTimeoutError",
    "WaitingTokenCache",
    "EntraIdAuth",
    "GitHubAppAuth",
    "GitHubAppJwtAuth",
    "ZoomAuth",
    "__version__",
]
