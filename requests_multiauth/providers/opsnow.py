"""OpsNow: an API key exchanged for a bearer token that lives 3600 s.

The page (https://docs.opsnow.io/opsnow-developer-guide/authentication) says:
``POST https://api.opsnow.io/platform/v2/identity/api-keys/token`` with the API
key; "the access token and its expiration time (3600s) are returned"; "if the
access token's validity period expires, access token reissuance is necessary".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..auth import TokenAuthOptions
from ..standard import ApiKeyTokenAuth
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["OPSNOW_TOKEN_LIFETIME", "OPSNOW_TOKEN_URL", "OPSNOW_TOKEN_URLS", "PROVIDER", "OpsNowAuth"]

#: OpsNow's API-key exchange ("Step 2" of the page), and the same path on its other hosts.
OPSNOW_TOKEN_URL = "https://api.opsnow.io/platform/v2/identity/api-keys/token"
OPSNOW_TOKEN_URLS = (
    OPSNOW_TOKEN_URL,
    "https://api.opsnow360.io/platform/v2/identity/api-keys/token",
    "https://api.kr.opsnow360.io/platform/v2/identity/api-keys/token",
)
#: "the access token and its expiration time (3600s) are returned"
OPSNOW_TOKEN_LIFETIME = 3600.0


class OpsNowAuth(FromEnv, ApiKeyTokenAuth):
    """OpsNow: an API key exchanged for a bearer token that lives 3600 s.

    *token_url* defaults to ``api.opsnow.io``; ``OPSNOW_TOKEN_URLS`` lists the
    same exchange on ``api.opsnow360.io`` and ``api.kr.opsnow360.io``.

    ``from_env()`` reads the variables ``multiauth providers`` lists for ``opsnow``.
    """

    provider_name = "opsnow"

    def __init__(
        self,
        api_key: str,
        *,
        token_url: str = OPSNOW_TOKEN_URL,
        default_lifetime: float = OPSNOW_TOKEN_LIFETIME,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(api_key, token_url, default_lifetime=default_lifetime, **options)


PROVIDER = Provider(
    name="opsnow",
    auth_class=OpsNowAuth,
    env=(
        EnvVar("OPSNOW_API_KEY", "api_key", "the API key", secret=True),
        EnvVar("OPSNOW_TOKEN_URL", "token_url", "the API-key exchange", required=False),
        EnvVar("OPSNOW_CA_BUNDLE", "verify", "a CA bundle the token calls trust", required=False, path=True),
    ),
    docs_url="https://docs.opsnow.io/opsnow-developer-guide/authentication",
    emulator=LazyEmulator("requests_multiauth.testing._providers:OpsNowEmulator"),
    scheme="API key exchanged for a token (lives 3600 s)",
)
