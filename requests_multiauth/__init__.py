"""requests_multiauth: machine-to-machine API authentication for ``requests`` in one line.

::

    session.auth = DataloyAuth(client_id, client_secret, token_url=...)

The auth gets a token, reuses it while it is valid, renews it ahead of expiry
without stalling requests, and on a 401 renews once and replays the request.

Only the names in ``__all__`` are public; modules starting with ``_`` are not.
"""

from typing import TYPE_CHECKING, Any

from .auth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    StaticTokenAuth,
    TokenAuth,
    TokenAuthOptions,
)
from .caches.base import FailureSharingTokenCache, MemoryTokenCache, SharedFailure, TokenCache, WaitingTokenCache
from .client_auth import (  # the JWT methods need PyJWT only when built
    ClientAssertion,
    ClientAuth,
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    PrivateKeyJwt,
    TlsClientAuth,
)
from .dpop import DPoPKey  # needs PyJWT only when a key is made
from .errors import (
    ConfigurationError,
    DiscoveryError,
    InsecureTransportError,
    InvalidClientError,
    MultiAuthError,
    MultiAuthWarning,
    TokenExpiredError,
    TokenExpiryWarning,
    TokenRequestError,
    TokenResponseError,
)
from .grants.base import Grant, GrantRequest
from .providers.builtin import CognitoAuth, DataloyAuth, DiagramsAuth, OpsNowAuth, RatedAuth
from .telemetry import AuthTelemetry, TelemetrySnapshot
from .token import Token
from .transport.adapter import AuthAdapter
from .transport.endpoint import RetryPolicy
from .transport.session import MultiAuthSession

if TYPE_CHECKING:
    from .caches.file import FileTokenCache
    from .caches.redis import RedisTokenCache
    from .discovery import ServerMetadata, discover
    from .providers.azure_managed_identity import AzureManagedIdentityAuth
    from .providers.google_metadata import GoogleMetadataAuth
    from .providers.registry import Provider, get_provider, list_providers

__version__ = "0.1.0"

#: Public names whose modules are imported on first use, so that ``import
#: requests_multiauth`` costs nothing for the parts an application does not use.
_LAZY = {
    "FileTokenCache": "caches.file",
    "RedisTokenCache": "caches.redis",
    "ServerMetadata": "discovery",
    "discover": "discovery",
    "Provider": "providers.registry",
    "get_provider": "providers.registry",
    "list_providers": "providers.registry",
    "AzureManagedIdentityAuth": "providers.azure_managed_identity",
    "GoogleMetadataAuth": "providers.google_metadata",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups do not come here again
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "TokenExpiredError",
    "TokenExpiryWarning",
    "TokenRequestError",
    "TokenResponseError",
    "WaitingTokenCache",
    "__version__",
]
