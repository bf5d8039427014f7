"""requests_multiauth: machine-to-machine API authentication for ``requests`` in one line.

::

    session.auth = DataloyAuth(client_id, client_secret, token_url=...)

The auth gets a token, reuses it while it is valid, renews it ahead of expiry
without stalling requests, and on a 401 renews once and replays the request.

Only the names in ``__all__`` are public; modules starting with ``_`` are not.
"""

from typing import TYPE_CHECKING, Any

from ._endpoint import RetryPolicy
from .adapter import AuthAdapter
from .auth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    StaticTokenAuth,
    TokenAuth,
    TokenAuthOptions,
)
from .cache import FailureSharingTokenCache, MemoryTokenCache, SharedFailure, TokenCache, WaitingTokenCache
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
from .providers import CognitoAuth, DataloyAuth, DiagramsAuth, OpsNowAuth, RatedAuth
from .session import MultiAuthSession
from .telemetry import AuthTelemetry, TelemetrySnapshot
from .token import Token

if TYPE_CHECKING:
    from .cache_file import FileTokenCache
    from .cache_redis import RedisTokenCache
    from .discovery import ServerMetadata, discover

__version__ = "0.1.0"

#: Public names whose modules are imported on first use, so that ``import
#: requests_multiauth`` costs nothing for the parts an application does not use.
_LAZY = {
    "FileTokenCache": "cache_file",
    "RedisTokenCache": "cache_redis",
    "ServerMetadata": "discovery",
    "discover": "discovery",
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
    "FailureSharingTokenCache",
    "InsecureTransportError",
    "InvalidClientError",
    "MemoryTokenCache",
    "FileTokenCache",
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
