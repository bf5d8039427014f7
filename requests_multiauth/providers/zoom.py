"""Zoom: Server-to-Server OAuth (``account_credentials``), the app type that replaced Zoom's JWT apps.

One ``POST https://zoom.us/oauth/token?grant_type=account_credentials&account_id=...``
with the client id and secret in an HTTP Basic header answers a bearer token that
lives one hour; there is no refresh token, so each renewal is a new grant.
Reference: https://developers.zoom.us/docs/internal-apps/s2s-oauth/ and
https://developers.zoom.us/docs/integrations/oauth/ ("Server to Server").

Zoom's refusals (``{"reason": ..., "error": ...}``, with the 47xx codes of
https://developers.zoom.us/docs/integrations/oauth-error-messages/) are raised as
:class:`~requests_multiauth.TokenRequestError` with Zoom's meaning and advice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Tuple

from ..auth import TokenAuth, TokenAuthOptions
from ..client_auth import basic_auth_header
from ..errors import ConfigurationError, TokenRequestError
from ..grants.base import Grant, GrantRequest
from ..token import Token
from ..transport.endpoint import TokenEndpoint
from ._advice import advise
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["PROVIDER", "ZOOM_TOKEN_LIFETIME", "ZOOM_TOKEN_URL", "ZoomAccountCredentialsGrant", "ZoomAuth"]

#: Zoom's token endpoint (https://developers.zoom.us/docs/internal-apps/s2s-oauth/).
ZOOM_TOKEN_URL = "https://zoom.us/oauth/token"

#: "The token's time to live is one hour (3600 seconds)" (same page); used when an answer says none.
ZOOM_TOKEN_LIFETIME = 3600.0

#: The grant type of Server-to-Server OAuth apps (same page).
ACCOUNT_CREDENTIALS = "account_credentials"

#: Zoom's refusals: its ``error`` code, or a 47xx code, with the documented meaning and what to do
#: (https://developers.zoom.us/docs/integrations/oauth-error-messages/).
ZOOM_ERRORS: Mapping[str, Tuple[str, str]] = {
    "invalid_client": (
        "Zoom 4702/4704: the client ID or client secret is wrong, or the app does not exist",
        "copy the Client ID and Client Secret again from the app's App Credentials page in the Zoom App Marketplace",
    ),
    "unsupported_grant_type": (
        "Zoom 4705: the grant type is not supported from the token endpoint",
        "use a Server-to-Server OAuth app: only those may use grant_type=account_credentials",
    ),
    "invalid_request": (
        "Zoom 4706: a required parameter (account_id, grant_type, the client credentials) is missing or wrong",
        "check the Account ID on the app's App Credentials page: it must be the account that owns the app",
    ),
    "access_denied": (
        "Zoom: the app is deactivated or not activated for this account",
        "activate the Server-to-Server OAuth app in the Zoom App Marketplace (Activation tab)",
    ),
}


class ZoomAccountCredentialsGrant(Grant):
    """Zoom's ``account_credentials`` grant: the query names the account, Basic names the app.

    Each try is one POST with the fields in the query, as Zoom's example sends them, and
    no body; Zoom's refusals are raised with Zoom's meaning and advice.
    """

    name = "account_credentials"
    default_lifetime = ZOOM_TOKEN_LIFETIME

    def __init__(self, account_id: str, client_id: str, client_secret: str, *, token_url: str) -> None:
        for label, value in (("account_id", account_id), ("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"{label} is missing or empty: copy it from the Server-to-Server OAuth app's App Credentials page"
                )
        self.account_id = account_id
        self.client_id = client_id
        self.token_url = token_url
        self._authorization = basic_auth_header(client_id, client_secret)
        self.secrets = (client_secret, self._authorization.split(" ", 1)[1])

    def identity(self) -> Mapping[str, Optional[str]]:
        return {"account_id": self.account_id, "client_id": self.client_id, "token_url": self.token_url}

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        # https://developers.zoom.us/docs/integrations/oauth/ ("Server to Server"): the fields "either as query
        # parameters or in the request body"; the example puts them in the query.
        return GrantRequest(
            query={"grant_type": ACCOUNT_CREDENTIALS, "account_id": self.account_id},
            headers={"Authorization": self._authorization},
        )

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        try:
            return super().fetch(endpoint, previous, now)
        except TokenRequestError as exc:
            meaning, hint = ZOOM_ERRORS.get(exc.error or "", (None, None))
            raise advise(exc, meaning, hint) from None

    def __repr__(self) -> str:
        return f"ZoomAccountCredentialsGrant(account_id={self.account_id!r}, client_id={self.client_id!r})"


class ZoomAuth(FromEnv, TokenAuth):
    """Zoom's APIs with a Server-to-Server OAuth app. Safe for concurrent use.

    Args:
        account_id, client_id, client_secret: the app's App Credentials.
        token_url: Zoom's token endpoint; another for a proxy or a local emulator.
        options: the options of every renewing auth (``cache``, ``leeway``, ``session`` ...).

    Zoom tokens live one hour and come with no refresh token: each renewal is a
    new ``account_credentials`` grant. Zoom invalidates nothing when a new token
    is issued, so every process sharing a cache (``FileTokenCache``,
    ``RedisTokenCache``) uses one token.

    Environment (``from_env()``): ``ZOOM_ACCOUNT_ID``, ``ZOOM_CLIENT_ID``,
    ``ZOOM_CLIENT_SECRET``, optionally ``ZOOM_TOKEN_URL`` and ``ZOOM_CA_BUNDLE``.

    Raises:
        ConfigurationError: a credential is missing or empty.
        TokenRequestError, InvalidClientError: Zoom refused (its meaning and advice in the message).
    """

    provider_name = "zoom"

    def __init__(
        self,
        account_id: str,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = ZOOM_TOKEN_URL,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = ZoomAccountCredentialsGrant(account_id, client_id, client_secret, token_url=token_url)
        self.account_id = account_id
        self.client_id = client_id
        super().__init__(grant, token_url, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (*super()._public_fields(), ("account_id", self.account_id), ("client_id", self.client_id))


PROVIDER = Provider(
    name="zoom",
    auth_class=ZoomAuth,
    env=(
        EnvVar("ZOOM_ACCOUNT_ID", "account_id", "the Server-to-Server OAuth app's Account ID"),
        EnvVar("ZOOM_CLIENT_ID", "client_id", "the app's Client ID"),
        EnvVar("ZOOM_CLIENT_SECRET", "client_secret", "the app's Client Secret", secret=True),
        EnvVar("ZOOM_TOKEN_URL", "token_url", "the token endpoint (default: Zoom's)", required=False),
        EnvVar("ZOOM_CA_BUNDLE", "verify", "a CA bundle for the token calls", required=False, path=True),
    ),
    docs_url="https://developers.zoom.us/docs/internal-apps/s2s-oauth/",
    emulator=LazyEmulator("requests_multiauth.testing._zoom:ZoomEmulator"),
    scheme="Server-to-Server OAuth: account_credentials with Basic client auth",
)
