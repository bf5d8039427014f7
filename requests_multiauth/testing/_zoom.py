"""Zoom's Server-to-Server OAuth token endpoint and a protected API, on loopback.

``POST /oauth/token`` takes ``grant_type=account_credentials`` and ``account_id``
in the query or in a form body (Zoom's page allows either:
https://developers.zoom.us/docs/integrations/oauth/), the app's client id and
secret in an HTTP Basic header, and answers ``{"access_token", "token_type":
"bearer", "expires_in": 3600, "scope", "api_url"}``. Refusals are Zoom's shape,
``{"reason": ..., "error": ...}``. The API under ``/v2/`` answers an unknown,
expired or revoked token with 401 ``{"code": 124, "message": "Invalid access token."}``,
as Zoom's API does.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..providers.zoom import ACCOUNT_CREDENTIALS, ZOOM_TOKEN_LIFETIME, ZoomAuth
from ._emulator import EXPIRED, ProviderEmulator
from ._server import Reply, Request
from ._wire import Refusal, basic_credentials, media_type, random_id, same_secret

__all__ = ["ZoomEmulator"]

_MIXED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

#: The scopes a new Server-to-Server app is given in the emulator (the app's settings in real life).
ZOOM_SCOPES = "meeting:read:admin user:read:admin"


def _refusal(status: int, error: str, reason: str) -> Refusal:
    return Refusal(Reply(status, {"reason": reason, "error": error}))


class ZoomEmulator(ProviderEmulator):
    """Zoom's ``/oauth/token`` (``account_credentials``) and its API under ``/v2/``.

    Checks what Zoom checks: the method, Basic client authentication, the grant
    type and the account id, each refused as Zoom answers (``invalid_client``,
    ``unsupported_grant_type``, ``invalid_request``). Settings: ``activated``
    (False: the app is deactivated, and tokens stop working).
    """

    name = "zoom"
    token_path = "/oauth/token"
    api_path = "/v2/"
    default_lifetime = ZOOM_TOKEN_LIFETIME

    account_id: str
    client_id: str
    client_secret: str
    activated: bool

    def _make_credentials(self) -> None:
        self.account_id = random_id(22, _MIXED)
        self.client_id = random_id(22, _MIXED)
        self.client_secret = random_id(32, _MIXED)

    def _reset_settings(self) -> None:
        self.activated = True

    @property
    def credentials(self) -> Dict[str, str]:
        return {"account_id": self.account_id, "client_id": self.client_id, "client_secret": self.client_secret}

    def environ_values(self) -> Dict[str, str]:
        return {**self.credentials, "token_url": self.token_url}

    def auth(self, **options: Any) -> ZoomAuth:
        """``ZoomAuth`` for this emulator; *options* go to ``ZoomAuth``."""
        options.setdefault("token_url", self.token_url)
        return ZoomAuth(self.account_id, self.client_id, self.client_secret, **self._auth_options(options))

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        fields: Dict[str, List[str]] = dict(request.query)
        if request.body:
            if media_type(request) != "application/x-www-form-urlencoded":
                raise _refusal(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
            for name, values in request.form().items():
                fields.setdefault(name, []).extend(values)
        if any(len(values) != 1 for values in fields.values()):
            raise _refusal(400, "invalid_request", "a parameter is repeated")
        single = {name: values[0] for name, values in fields.items()}
        client = basic_credentials(request)
        if client is None:
            raise _refusal(400, "invalid_request", "Client ID or client secret is missing.")  # 4706
        client_id, secret = client
        if client_id != self.client_id or not same_secret(secret, self.client_secret):
            raise _refusal(400, "invalid_client", "Invalid client_id or client_secret")  # 4702/4704
        grant_type = single.get("grant_type")
        if grant_type is None:
            raise _refusal(400, "invalid_request", "Missing grant type.")  # 4706
        if grant_type != ACCOUNT_CREDENTIALS:
            raise _refusal(400, "unsupported_grant_type", "Unsupported grant type")  # 4705
        if single.get("account_id") != self.account_id:
            raise _refusal(400, "invalid_request", "Bad Request")
        if not self.activated:
            raise _refusal(400, "access_denied", "The app is not activated")
        token, _ = self._issue(self.account_id, claims={"aid": self.account_id}, scope=ZOOM_SCOPES)
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": int(self.lifetime),
                "scope": ZOOM_SCOPES,
                "api_url": "https://api.zoom.us",
            },
        )

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        message = "Access token is expired." if reason == EXPIRED else "Invalid access token."
        return Reply(401, {"code": 124, "message": message})

    def token_query(self, index: int = -1) -> Optional[Dict[str, str]]:
        """The query of the token request at *index* (default the last), as single values."""
        requests_ = self.token_requests()
        if not requests_:
            return None
        return {name: values[0] for name, values in requests_[index].query.items()}
