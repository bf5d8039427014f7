"""Diagrams Technologies: client credentials with HTTP Basic, renewed by refresh token.

The page (seed 004, "API Auth guide") says: ``curl -X POST
https://api.diagrams-technologies.com/v0/oauth2token -u APPLICATION_ID:APPLICATION_SECRET
--data-binary grant_type=client_credentials`` (``/v0/oauth2token`` is a typo the
provider fixed: ``/v0/oauth2/token``); the answer carries ``expires_in``,
``expiration_date`` and a ``refresh_token``; a token is renewed by
``grant_type=refresh_token&scope=data&refresh_token=...``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..auth import TokenAuthOptions
from ..client_auth import ClientAuthSpec
from ..grants.base import Scope
from ..standard import ClientCredentialsAuth
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DIAGRAMS_REFRESH_SCOPE", "DIAGRAMS_TOKEN_URL", "PROVIDER", "DiagramsAuth"]

#: Diagrams Technologies' token endpoint (early versions of its page wrote
#: ``/v0/oauth2token``, a typo the provider fixed).
DIAGRAMS_TOKEN_URL = "https://api.diagrams-technologies.com/v0/oauth2/token"
#: The scope Diagrams' refresh request sends ("scope=data" in the page's refresh example).
DIAGRAMS_REFRESH_SCOPE = "data"


class DiagramsAuth(FromEnv, ClientCredentialsAuth):
    """Diagrams Technologies: client credentials with Basic auth, renewed by refresh token.

    The first token comes from ``grant_type=client_credentials``; renewals send
    ``grant_type=refresh_token&scope=data&refresh_token=...`` while the refresh
    token lives, and fall back to a new client-credentials grant if it is
    refused or expired. Renewal follows ``expires_in`` / ``expiration_date``,
    a 401, or the JWT ``exp``, whichever the answer offers. The application
    authenticates with HTTP Basic, as the provider documents; ``client_auth=``
    takes any other method (then *application_secret* is optional where the
    method needs none).

    ``from_env()`` reads the variables ``multiauth providers`` lists for ``diagrams``.
    """

    provider_name = "diagrams"

    def __init__(
        self,
        application_id: str,
        application_secret: Optional[str] = None,
        *,
        token_url: str = DIAGRAMS_TOKEN_URL,
        refresh_scope: Scope = DIAGRAMS_REFRESH_SCOPE,
        client_auth: ClientAuthSpec = "basic",
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(
            application_id,
            application_secret,
            token_url,
            client_auth=client_auth,
            refresh_scope=refresh_scope,
            **options,
        )


PROVIDER = Provider(
    name="diagrams",
    auth_class=DiagramsAuth,
    env=(
        EnvVar("DIAGRAMS_APPLICATION_ID", "application_id", "the application id"),
        EnvVar("DIAGRAMS_APPLICATION_SECRET", "application_secret", "the application secret", secret=True),
        EnvVar("DIAGRAMS_TOKEN_URL", "token_url", "the token endpoint", required=False),
        EnvVar("DIAGRAMS_CA_BUNDLE", "verify", "a CA bundle the token calls trust", required=False, path=True),
    ),
    docs_url="https://requests-multiauth.readthedocs.io/en/latest/providers/diagrams.html",
    emulator=LazyEmulator("requests_multiauth.testing._diagrams:DiagramsEmulator"),
    scheme="client credentials with Basic auth, renewed by refresh token",
)
