"""DPoP proofs as a server checks them (RFC 9449 §4.3), and a protected API's 401 challenges.

:func:`verified_proof` makes every check of a proof that needs no memory: ``typ``, ``alg``,
a public ``jwk``, the signature by that key, ``htm``, ``htu``, ``iat`` within a window,
a ``jti``, ``ath``. What needs the server's state (the nonce it requires now, the ``jti`` values
it has seen) stays with :class:`~requests_multiauth.testing.OAuth2Emulator`, which calls this.

The refusals are worded as RFC 6750 §3 and RFC 9449 §7.1 say: at the API a 401 with a
``WWW-Authenticate`` challenge naming the error, at the token endpoint a 400 with an RFC 6749
error body; a required nonce travels in ``DPoP-Nonce``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import urlsplit

from .._jose import b64url, jwk_thumbprint
from ._server import Reply, Request
from ._wire import Refusal

__all__ = ["DPOP_ALGS", "api_refusal", "challenges", "proof_fields", "proof_refusal", "verified_proof"]

#: What DPoP proofs may be signed with (RFC 9449 §4.2: asymmetric only).
DPOP_ALGS = ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA")
#: Members that only a private JWK has: a proof's ``jwk`` carrying one is refused.
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

#: Makes the refusal of a proof: ``refuse(error, description, nonce=None)``.
Refuse = Callable[..., Refusal]


def challenges() -> str:
    """The ``WWW-Authenticate`` of a request that carried no token: both schemes offered."""
    return f'Bearer realm="api", DPoP algs="{" ".join(DPOP_ALGS)}"'


def api_refusal(scheme: str, error: str, description: str, *, nonce: Optional[str] = None) -> Refusal:
    """RFC 6750 §3 / RFC 9449 §7.1: 401 with a challenge naming the error."""
    params = f'error="{error}", error_description="{description}"'
    algs = " ".join(DPOP_ALGS)
    challenge = f'DPoP {params}, algs="{algs}"' if scheme == "DPoP" else f'Bearer realm="api", {params}'
    headers = {"WWW-Authenticate": challenge}
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce
    return Refusal(Reply(401, {"error": error, "error_description": description}, headers))


def proof_refusal(place: str) -> Refuse:
    """How a bad proof is refused at *place*: a 401 challenge at the API, a 400 at the token endpoint."""

    def refuse(error: str, description: str, *, nonce: Optional[str] = None) -> Refusal:
        if place == "api":
            return api_refusal("DPoP", error, description, nonce=nonce)
        headers = {"DPoP-Nonce": nonce} if nonce is not None else {}
        return Refusal(Reply(400, {"error": error, "error_description": description}, headers))

    return refuse


def proof_fields(jwt: Any, proof: str) -> Tuple[Optional[str], Optional[str]]:
    """The jti and nonce a proof claims, unverified (for the log)."""
    try:
        claims = jwt.decode(proof, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None, None
    jti, nonce = claims.get("jti"), claims.get("nonce")
    return (jti if isinstance(jti, str) else None, nonce if isinstance(nonce, str) else None)


def verified_proof(
    jwt: Any,
    request: Request,
    url: str,
    *,
    now: float,
    iat_window: float,
    token: Optional[str],
    refuse: Refuse,
) -> Tuple[str, Dict[str, Any]]:
    """The thumbprint of the key that signed the request's DPoP proof for *url*, and the
    proof's claims; or raise *refuse*'s refusal. With *token*, the proof's ``ath`` must be its hash."""
    proof = request.headers.get("DPoP", "")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.InvalidTokenError:
        raise refuse("invalid_dpop_proof", "the DPoP proof is not a JWS") from None
    if header.get("typ") != "dpop+jwt":
        raise refuse("invalid_dpop_proof", "typ must be dpop+jwt")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise refuse("invalid_dpop_proof", f"alg {alg} is not accepted")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or any(member in jwk for member in PRIVATE_JWK_MEMBERS):
        raise refuse("invalid_dpop_proof", "jwk must be a public key")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
        claims: Dict[str, Any] = jwt.decode(
            proof,
            key,
            algorithms=[alg],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError, TypeError):
        raise refuse("invalid_dpop_proof", "the DPoP proof's signature does not verify with its jwk") from None
    if claims.get("htm") != request.method:
        raise refuse("invalid_dpop_proof", "htm is not the request's method")
    if not _same_target(claims.get("htu"), url):
        raise refuse("invalid_dpop_proof", "htu is not the request's URL (without query and fragment)")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or abs(now - iat) > iat_window:
        raise refuse("invalid_dpop_proof", "iat is missing or too far from the server's time")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise refuse("invalid_dpop_proof", "jti is missing")
    if token is not None and claims.get("ath") != b64url(hashlib.sha256(token.encode("ascii")).digest()):
        raise refuse("invalid_dpop_proof", "ath is not the hash of the access token")
    return jwk_thumbprint(jwk), claims


def _same_target(htu: Any, url: str) -> bool:
    """RFC 9449 §4.3: htu equals the request URL without query and fragment (scheme and host
    compared case-insensitively)."""
    if not isinstance(htu, str) or "?" in htu or "#" in htu:
        return False
    given, expected = urlsplit(htu), urlsplit(url)
    return (given.scheme.lower(), given.netloc.lower(), given.path or "/") == (
        expected.scheme.lower(),
        expected.netloc.lower(),
        expected.path or "/",
    )
