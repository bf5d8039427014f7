"""A token endpoint that trades an app's signed JWT for a token: the server of the
"Write your own scheme" page, and of tests of a custom :class:`~requests_multiauth.Grant`.

The scheme is the one GitHub Apps and many app platforms use: the app holds a private
key, signs a short JWT (``iss`` = its app id, ``aud`` = the token URL, ``iat``,
``exp`` at most ten minutes later, a fresh ``jti``), and POSTs it as
``Authorization: Bearer <JWT>`` to ``/app/token``; the server checks the signature
with the app's public key, the claims against its own clock, and refuses a ``jti``
it has seen; it answers 201 ``{"token", "expires_at"}`` (ISO 8601). The protected API
under ``/api/`` accepts only the tokens it issued, until they expire or are revoked.

PyJWT checks the signature (``pip install 'requests-multiauth[testing]'``); the
claims are checked here against the emulator's clock, so a
:class:`~requests_multiauth.testing.ManualClock` plays the days.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set

from .._jose import generate_signing_key, require_jwt
from ._emulator import ProviderEmulator
from ._server import Reply, Request
from ._wire import Refusal, random_id

__all__ = ["AppJwtEmulator"]

#: The longest an app JWT may live, in seconds (GitHub's rule: "no more than 10 minutes into the future").
MAX_APP_JWT_LIFETIME = 600.0
#: How far in the future an ``iat`` may be, in seconds: the app's clock may run a little ahead.
CLOCK_SKEW = 60.0


class AppJwtEmulator(ProviderEmulator):
    """An app-JWT token endpoint (``POST /app/token``) and a protected API (``/api/``) on loopback.

    Give the client :attr:`app_id` and :attr:`private_key_pem` (the key the app holds;
    the server keeps only its public half). Safe for concurrent use.

    Refusals (401 ``{"message": ...}``): no bearer JWT, a bad signature, a wrong
    ``iss`` or ``aud``, an expired JWT, one living longer than ten minutes, one issued
    in the future, and a ``jti`` seen before (a replayed assertion).

    Attributes:
        app_id: the app's id, the JWT's ``iss``.
        private_key_pem: the app's private key (PEM, P-256), for ``ES256``.
        assertions: the claims of every JWT the endpoint accepted, in order.
    """

    name = "app-jwt"
    token_path = "/app/token"
    api_path = "/api/"
    default_lifetime = 3600.0

    app_id: str
    private_key_pem: str

    def _make_credentials(self) -> None:
        from cryptography.hazmat.primitives import serialization

        self._jwt = require_jwt("AppJwtEmulator")
        key = generate_signing_key("ES256")
        self.app_id = random_id(8, "0123456789")
        self.private_key_pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        self._public_key = key.private_key.public_key()
        self._seen: Set[str] = set()
        self._seen_lock = threading.Lock()
        self.assertions: List[Dict[str, Any]] = []

    @property
    def credentials(self) -> Dict[str, str]:
        """``{"app_id", "private_key"}``: what the app holds."""
        return {"app_id": self.app_id, "private_key": self.private_key_pem}

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        claims = self._check_assertion(request.bearer)
        token, issued = self._issue(f"app:{self.app_id}")
        assert issued.expires_at is not None  # noqa: S101 - issued with an expiry
        expires_at = datetime.fromtimestamp(issued.expires_at, timezone.utc).isoformat(timespec="seconds")
        with self._seen_lock:
            self.assertions.append(claims)
        return Reply(201, {"token": token, "expires_at": expires_at.replace("+00:00", "Z")})

    def _check_assertion(self, assertion: Optional[str]) -> Dict[str, Any]:
        if assertion is None:
            raise _refused("a JWT signed with the app's key is required: Authorization: Bearer <JWT>")
        try:
            claims: Dict[str, Any] = self._jwt.decode(
                assertion,
                self._public_key,
                algorithms=["ES256"],
                audience=self.token_url,
                issuer=self.app_id,
                # The times are checked below, on this emulator's clock, not the machine's.
                options={"require": ["iss", "aud", "iat", "exp", "jti"], "verify_exp": False, "verify_iat": False},
            )
        except self._jwt.InvalidTokenError as exc:
            raise _refused(f"the JWT was refused: {type(exc).__name__}") from None
        now = self.clock()
        if claims["exp"] <= now:
            raise _refused("the JWT has expired")
        if claims["iat"] > now + CLOCK_SKEW:
            raise _refused("the JWT was issued in the future")
        if claims["exp"] - claims["iat"] > MAX_APP_JWT_LIFETIME:
            raise _refused("the JWT lives longer than ten minutes")
        with self._seen_lock:
            if claims["jti"] in self._seen:
                raise _refused("the JWT was used before (jti replayed)")
            self._seen.add(claims["jti"])
        return claims


def _refused(message: str) -> Refusal:
    return Refusal(Reply(401, {"message": message}))
