"""Dataloy: OAuth 2.0 client credentials posted as JSON, with an ``audience``.

The page (seed 003) says: POST ``{"client_id", "client_secret", "audience",
"grant_type": "client_credentials"}`` to the provided URL; "for production
environments use https://dataloy. For test and DEV environments use
https://dataloy.dev"; an expired token is answered 401 ``"Token expired."``; "the
client should not ask for a new token for each call but use the same token as long
as it is valid".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

from ..auth import TokenAuthOptions
from ..client_auth import ClientAuthSpec
from ..standard import AudienceClientCredentialsAuth
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DATALOY_AUDIENCE", "PROVIDER", "DataloyAuth"]

#: Dataloy's production audience ("for production environments use https://dataloy");
#: "https://dataloy.dev" for test and DEV.
DATALOY_AUDIENCE = "https://dataloy"


class DataloyAuth(FromEnv, AudienceClientCredentialsAuth):
    """Dataloy: client credentials as JSON with an ``audience``.

    *audience* defaults to production's ``https://dataloy``; test and DEV use
    ``https://dataloy.dev``. Dataloy answers an expired token with 401
    ``"Token expired."``, which renews the token and replays the request.

    ``from_env()`` reads the variables ``multiauth providers`` lists for ``dataloy``.
    """

    provider_name = "dataloy"

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: Optional[str] = None,
        audience: Optional[str] = DATALOY_AUDIENCE,
        *,
        params: Optional[Mapping[str, Any]] = None,
        client_auth: ClientAuthSpec = "post",
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(
            client_id, client_secret, token_url, audience=audience, params=params, client_auth=client_auth, **options
        )


PROVIDER = Provider(
    name="dataloy",
    auth_class=DataloyAuth,
    env=(
        EnvVar("DATALOY_CLIENT_ID", "client_id", "the client id"),
        EnvVar("DATALOY_CLIENT_SECRET", "client_secret", "the client secret", secret=True),
        EnvVar("DATALOY_TOKEN_URL", "token_url", "the token endpoint"),
        EnvVar("DATALOY_AUDIENCE", "audience", "the API audience", required=False),
        EnvVar("DATALOY_CA_BUNDLE", "verify", "a CA bundle the token calls trust", required=False, path=True),
    ),
    docs_url="https://requests-multiauth.readthedocs.io/en/latest/providers/dataloy.html",
    emulator=LazyEmulator("requests_multiauth.testing._providers:DataloyEmulator"),
    scheme="JSON client credentials with an audience",
)
