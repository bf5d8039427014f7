"""What the JWT-bearer emulators share (RFC 7523): the grant type, the RSA key, the signature check.

Google's service-account endpoint (:mod:`._google`) and Salesforce's JWT flow
(:mod:`._salesforce`) both take a form with ``grant_type`` :data:`JWT_BEARER` and an
``assertion`` that the client signed with an RSA key the provider holds the public
half of. This module makes such a key and checks such a signature; each emulator
then checks the claims and words its refusals as its provider does. PyJWT and
``cryptography`` are imported when a key is made or an assertion checked.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

__all__ = ["JWT_BEARER", "new_rsa_key", "rs256_claims"]

#: The grant type of an assertion token request (RFC 7523 §2.1).
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def new_rsa_key() -> Tuple[Any, str]:
    """A new 2048-bit RSA private key (a ``cryptography`` key) and its unencrypted PKCS#8 PEM,
    as a service account's key file or a connected app's integration holds it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return key, pem


def rs256_claims(assertion: str, public_key: Any) -> Dict[str, Any]:
    """The claims of *assertion* once its RS256 signature by *public_key* is checked.

    Only the signature: ``exp``, ``iat``, ``nbf`` and ``aud`` are left to the emulator,
    which checks the times on its own clock and words each refusal as its provider does.

    Raises:
        jwt.PyJWTError: the assertion is not a JWT, or its signature does not verify.
    """
    import jwt

    claims: Dict[str, Any] = jwt.decode(
        assertion,
        public_key,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
    )
    return claims
