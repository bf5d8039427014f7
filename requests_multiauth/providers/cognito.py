"""An API behind AWS Cognito: standard OAuth 2.0 client credentials.

The API's page (seed 002) says: ``POST`` to ``https://<domain>.auth.<region>.
amazoncognito.com/oauth2/token`` a form with ``grant_type=client_credentials``
and ``scope`` (its example: ``api/write``), the client id and secret in an HTTP
Basic header. AWS documents the endpoint at
https://docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html:
no refresh token for client credentials, and every scope the client may have
when none is asked for.
"""

from __future__ import annotations

from ..standard import ClientCredentialsAuth
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

__all__ = ["COGNITO_SCOPE_EXAMPLE", "PROVIDER", "CognitoAuth"]

#: The scope in the Cognito-hosted API's example ("scope: use `api/write`"); Cognito
#: grants every allowed scope of the client when none is asked for, so it is not a default.
COGNITO_SCOPE_EXAMPLE = "api/write"


class CognitoAuth(FromEnv, ClientCredentialsAuth):
    """An API behind AWS Cognito: standard OAuth 2.0 client credentials.

    POSTs ``grant_type=client_credentials`` (and ``scope``) as a form, with the
    client id and secret in an HTTP Basic header (``client_auth="post"`` puts
    them in the body): a :class:`~requests_multiauth.ClientCredentialsAuth`, whose
    arguments it takes. Cognito issues no refresh token: each renewal is a new
    grant, and Cognito bills each one, so tokens are reused until they expire.

    ``from_env()`` reads the variables ``multiauth providers`` lists for ``cognito``.
    """

    provider_name = "cognito"


PROVIDER = Provider(
    name="cognito",
    auth_class=CognitoAuth,
    env=(
        EnvVar("COGNITO_CLIENT_ID", "client_id", "the app client id"),
        EnvVar("COGNITO_CLIENT_SECRET", "client_secret", "the app client secret", secret=True),
        EnvVar("COGNITO_TOKEN_URL", "token_url", "https://<domain>/oauth2/token"),
        EnvVar("COGNITO_SCOPE", "scope", "space-separated scopes, e.g. api/write", required=False),
        EnvVar("COGNITO_CA_BUNDLE", "verify", "a CA bundle the token calls trust", required=False, path=True),
    ),
    docs_url="https://docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html",
    emulator=LazyEmulator("requests_multiauth.testing._providers:CognitoEmulator"),
    scheme="OAuth 2.0 client credentials, HTTP Basic client auth",
)
