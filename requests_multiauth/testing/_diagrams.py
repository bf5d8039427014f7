"""Diagrams Technologies' token endpoint on loopback: client credentials with Basic auth, and refresh tokens.

Its page (``POST /v0/oauth2/token``, form, HTTP Basic; ``scope=data`` on a refresh)
documents an answer with both a lifetime and an expiry date for the access token
and for the refresh token; :class:`DiagramsEmulator` issues and checks both, keeps
the refresh tokens it issued, and replaces each one a refresh uses. The protected
API is ``/v0/data/``. It is the ``diagrams`` record's emulator (its table row is in
:mod:`._providers`, with the other stage-one presets).
"""

from __future__ import annotations

import base64
import os
import string
from datetime import datetime, timezone
from typing import Any, Dict, Tuple

from ..providers.diagrams import DIAGRAMS_REFRESH_SCOPE, DiagramsAuth
from ._emulator import EXPIRED, Issued, ProviderEmulator
from ._server import Reply, Request
from ._wire import basic_credentials, oauth_form, oauth_refusal, random_id, same_secret, seconds

__all__ = ["DiagramsEmulator"]


class DiagramsEmulator(ProviderEmulator):
    """Diagrams Technologies: client credentials with Basic auth, and refresh tokens.

    ``POST /v0/oauth2/token`` with HTTP Basic (application id and secret) and a
    form that is exactly ``grant_type=client_credentials``, or exactly
    ``grant_type=refresh_token&scope=data&refresh_token=...``. The answer is the
    page's: ``access_token`` (a JWT), ``token_type: "bearer"``, ``expires_in``,
    ``expiration_date`` (ISO 8601), ``refresh_token``,
    ``refresh_token_expires_in``, ``refresh_token_expiration_date``. A refresh
    answer carries a new refresh token, which replaces the one used. Refusals:
    401 ``invalid_client`` for bad or missing Basic credentials, 400
    ``invalid_grant`` for a refused or expired refresh token, 400
    ``invalid_request`` / ``invalid_scope`` / ``unsupported_grant_type``.

    Settings: ``refresh_lifetime``; ``refuse_refresh`` (answer every refresh
    with 400 ``invalid_grant``); ``refresh_omits_token`` (refresh answers carry
    no refresh token, so the old one stays valid); ``expiry_fields`` (which of
    ``expires_in`` and ``expiration_date`` the answer carries: the page's three
    renewal strategies); ``opaque_tokens`` (access tokens that are not JWTs).
    :meth:`expire_refresh_tokens` ends every refresh token now. The protected
    API is ``/v0/data/``.
    """

    name = "diagrams"
    token_path = "/v0/oauth2/token"
    api_path = "/v0/data/"
    default_lifetime = 172800.0  # the page's example answer: "expires_in": 172800
    #: The page's example: "refresh_token_expires_in": 31557600 (a year).
    default_refresh_lifetime = 31557600.0

    application_id: str
    application_secret: str
    refresh_lifetime: float
    refuse_refresh: bool
    refresh_omits_token: bool
    expiry_fields: Tuple[str, ...]
    opaque_tokens: bool

    def _make_credentials(self) -> None:
        self.application_id = random_id(24)
        self.application_secret = random_id(48, string.ascii_letters + string.digits)
        self._refresh_tokens: Dict[str, Issued] = {}

    def _reset_settings(self) -> None:
        self.refresh_lifetime = self.default_refresh_lifetime
        self.refuse_refresh = False
        self.refresh_omits_token = False
        self.expiry_fields = ("expires_in", "expiration_date")
        self.opaque_tokens = False

    @property
    def refresh_calls(self) -> int:
        """Token requests with ``grant_type=refresh_token``, whatever the answer."""
        return self._count("refresh")

    def expire_refresh_tokens(self) -> int:
        """End every refresh token issued so far; returns how many were valid."""
        now = self.clock()
        with self._lock:
            live = [r for r in self._refresh_tokens.values() if r.expires_at is None or now < r.expires_at]
            for record in live:
                record.expires_at = now
            return len(live)

    @property
    def credentials(self) -> Dict[str, str]:
        return {"application_id": self.application_id, "application_secret": self.application_secret}

    def environ_values(self) -> Dict[str, str]:
        return {**self.credentials, "token_url": self.token_url}

    def auth(self, **options: Any) -> DiagramsAuth:
        """``DiagramsAuth`` for this emulator; *options* go to ``DiagramsAuth``."""
        options.setdefault("token_url", self.token_url)
        return DiagramsAuth(self.application_id, self.application_secret, **self._auth_options(options))

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        basic = basic_credentials(request)
        if basic is None:
            raise oauth_refusal("invalid_client", "HTTP Basic authentication is required", status=401)
        application_id, secret = basic
        if application_id != self.application_id or not same_secret(secret, self.application_secret):
            raise oauth_refusal("invalid_client", "unknown application or wrong secret", status=401)
        form = oauth_form(request)
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            if set(form) != {"grant_type"}:
                raise oauth_refusal("invalid_request", "expected exactly grant_type=client_credentials")
            return Reply(200, self._answer(with_refresh=True))
        if grant_type == "refresh_token":
            self._bump("refresh")
            return self._refresh(form)
        raise oauth_refusal("unsupported_grant_type", f"grant_type {grant_type} is not supported")

    def _refresh(self, form: Dict[str, str]) -> Reply:
        if set(form) != {"grant_type", "scope", "refresh_token"}:
            raise oauth_refusal("invalid_request", "expected grant_type=refresh_token&scope=data&refresh_token=...")
        if form["scope"] != DIAGRAMS_REFRESH_SCOPE:
            raise oauth_refusal("invalid_scope", f"scope must be {DIAGRAMS_REFRESH_SCOPE}")
        if self.refuse_refresh:
            raise oauth_refusal("invalid_grant", "refresh is not possible now: ask for a new token")
        with self._lock:
            record = self._refresh_tokens.get(form["refresh_token"])
        if record is None or record.subject != self.application_id:
            raise oauth_refusal("invalid_grant", "unknown refresh token")
        if record.expires_at is not None and self.clock() >= record.expires_at:
            raise oauth_refusal("invalid_grant", "the refresh token has expired")
        with_refresh = not self.refresh_omits_token
        if with_refresh:
            with self._lock:
                self._refresh_tokens.pop(form["refresh_token"], None)  # replaced by the new one
        return Reply(200, self._answer(with_refresh=with_refresh))

    def _answer(self, *, with_refresh: bool) -> Dict[str, Any]:
        token, issued = self._issue(self.application_id, jwt=not self.opaque_tokens)
        answer: Dict[str, Any] = {"access_token": token, "token_type": "bearer"}
        assert issued.expires_at is not None  # noqa: S101 - issued with an expiry
        if "expires_in" in self.expiry_fields:
            answer["expires_in"] = seconds(self.lifetime)
        if "expiration_date" in self.expiry_fields:
            answer["expiration_date"] = _iso(issued.expires_at)
        if with_refresh:
            refresh_token = base64.b64encode(os.urandom(16)).decode("ascii")  # "xxxyyyzzzz==" on the page
            expires_at = self.clock() + self.refresh_lifetime
            with self._lock:
                self._refresh_tokens[refresh_token] = Issued(subject=self.application_id, expires_at=expires_at)
            answer["refresh_token"] = refresh_token
            answer["refresh_token_expires_in"] = seconds(self.refresh_lifetime)
            answer["refresh_token_expiration_date"] = _iso(expires_at)
        return answer

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        description = "the access token expired" if reason == EXPIRED else f"the access token is {reason}"
        return Reply(
            401,
            {"error": "invalid_token", "error_description": description},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def _iso(moment: float) -> str:
    """``2021-10-27T12:06:28.828Z``, as the Diagrams page shows dates."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
