"""The methods that send the client secret itself: ``client_secret_basic`` (an HTTP Basic
header) and ``client_secret_post`` (the request body), and the Basic header they share
with the presets that build one.

Where the request goes next: see :mod:`requests_multiauth.client_auth`.
"""

from __future__ import annotations

import base64
from typing import Optional
from urllib.parse import quote_plus

from .base import Binding, ClientAuth

__all__ = ["ClientSecretBasic", "ClientSecretPost", "basic_auth_header"]


def basic_auth_header(client_id: str, client_secret: str, *, urlencode: bool = False) -> str:
    """An HTTP Basic ``Authorization`` value for a client id and secret.

    With *urlencode*, both are form-encoded first, as RFC 6749 §2.3.1 asks; most
    servers (Cognito, Diagrams) expect them raw, as ``curl -u`` sends them.
    Encoded as UTF-8 (``requests.auth.HTTPBasicAuth`` uses Latin-1).
    """
    if urlencode:
        client_id, client_secret = quote_plus(client_id), quote_plus(client_secret)
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class ClientSecretBasic(ClientAuth):
    """``client_secret_basic``: the client id and secret in an HTTP Basic header (RFC 6749 §2.3.1).

    By default both are sent raw, as ``curl -u`` and AWS Cognito do; with
    *urlencode* they are form-encoded first, as the RFC asks to the letter (a
    secret with ``:`` or non-ASCII characters needs it on strict servers).
    """

    method = "client_secret_basic"
    needs_secret = True

    def __init__(self, *, urlencode: bool = False) -> None:
        self.urlencode = urlencode

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        secret = self._secret(client_secret)
        header = basic_auth_header(client_id, secret, urlencode=self.urlencode)
        # The Basic value gives the secret away too: servers have been seen to echo it.
        return Binding(self.method, headers={"Authorization": header}, secrets=(secret, header.split(" ", 1)[1]))

    def __repr__(self) -> str:
        return f"ClientSecretBasic(urlencode={self.urlencode!r})"


class ClientSecretPost(ClientAuth):
    """``client_secret_post``: ``client_id`` and ``client_secret`` in the request body (RFC 6749 §2.3.1)."""

    method = "client_secret_post"
    needs_secret = True

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        secret = self._secret(client_secret)
        return Binding(self.method, fields={"client_id": client_id, "client_secret": secret}, secrets=(secret,))
