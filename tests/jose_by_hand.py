"""Client assertions and DPoP proofs made by hand with PyJWT and cryptography, for testing the
servers (the oidc-provider harness, OAuth2Emulator) independently of the library's own clients."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from typing import Any, Dict, Optional, Union

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_assertion(
    client_id: str,
    audience: Union[str, list],
    key: Any,
    alg: str,
    *,
    kid: Optional[str] = None,
    jti: Optional[str] = None,
    lifetime: int = 60,
    now: Optional[float] = None,
    **claims: Any,
) -> str:
    """An RFC 7523 client assertion signed with *key* (a secret for HS*, a private key or PEM)."""
    issued = int(time.time() if now is None else now)
    payload: Dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": jti or str(uuid.uuid4()),
    }
    payload.update(claims)
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def access_token_claims(token: str) -> Dict[str, Any]:
    claims: Dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


class DPoPSigner:
    """An EC P-256 DPoP key and proofs made from it (RFC 9449 §4.2)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        canonical = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (self.jwk["x"], self.jwk["y"])  # noqa: UP031
        self.thumbprint = b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(
        self,
        method: str,
        url: str,
        *,
        token: Optional[str] = None,
        nonce: Optional[str] = None,
        jti: Optional[str] = None,
        iat: Optional[float] = None,
        typ: str = "dpop+jwt",
        jwk: Optional[Dict[str, Any]] = None,
    ) -> str:
        claims: Dict[str, Any] = {"htm": method, "htu": url, "iat": int(time.time() if iat is None else iat)}
        claims["jti"] = jti or secrets.token_urlsafe(16)
        if token is not None:
            claims["ath"] = b64url(hashlib.sha256(token.encode()).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"typ": typ, "jwk": jwk or self.jwk})
