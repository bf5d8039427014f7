"""Keys, certificates and JWKs as the emulators make and read them: no I/O, no state.

The emulators need a few throwaway credentials (a self-signed certificate for a client or an
app registration, a key pair for ``private_key_jwt``) and a few conversions (a certificate's
DER and PEM, its ``x5t#S256``, a public key's JWK, the algorithms a key verifies). They live
here, once; the emulators (:mod:`._authserver`, :mod:`._entra`) decide what to do with them.

``cryptography`` and PyJWT (``pip install 'requests-multiauth[testing]'``) are imported inside
each function, when an emulator first needs one.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping, Tuple

from .._jose import b64url

__all__ = [
    "EC_ALGS",
    "HMAC_ALGS",
    "RSA_ALGS",
    "algs_for",
    "certificate_der",
    "certificate_pem",
    "der_thumbprint",
    "make_self_signed",
    "private_pem",
    "public_jwk",
    "public_key_of",
    "self_signed_certificate",
]

#: The JWS algorithms of each kind of key (RFC 7518 §3.1); for EC keys, by curve.
HMAC_ALGS = ("HS256", "HS384", "HS512")
RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def certificate_der(certificate: Any) -> bytes:
    """The DER encoding of a ``cryptography`` certificate."""
    from cryptography.hazmat.primitives.serialization import Encoding

    data: bytes = certificate.public_bytes(Encoding.DER)
    return data


def certificate_pem(certificate: Any) -> bytes:
    """The PEM encoding of a ``cryptography`` certificate."""
    from cryptography.hazmat.primitives.serialization import Encoding

    data: bytes = certificate.public_bytes(Encoding.PEM)
    return data


def der_thumbprint(der: bytes) -> str:
    """``x5t#S256``: base64url SHA-256 of the certificate's DER (RFC 8705 §3.1)."""
    return b64url(hashlib.sha256(der).digest())


def private_pem(private_key: Any) -> bytes:
    """An unencrypted PKCS#8 PEM of a ``cryptography`` private key."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    data: bytes = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return data


def public_key_of(jwt: Any, key: Any) -> Any:
    """The public half of a key given as PEM (public or private), a JWK mapping or a ``cryptography`` key."""
    from cryptography.hazmat.primitives import serialization

    if isinstance(key, Mapping):
        loaded = jwt.PyJWK(dict(key)).key
    elif isinstance(key, (str, bytes)):
        data = key.encode("ascii") if isinstance(key, str) else key
        try:
            loaded = serialization.load_pem_public_key(data)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    else:
        loaded = key
    return loaded.public_key() if hasattr(loaded, "private_bytes") else loaded


def algs_for(public: Any) -> Tuple[str, ...]:
    """The JWS algorithms a public key verifies, the usual one first."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public, rsa.RSAPublicKey):
        return RSA_ALGS
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in EC_ALGS:
        return (EC_ALGS[public.curve.name],)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return ("EdDSA",)
    raise ValueError(f"a {type(public).__name__} cannot sign client assertions")


def public_jwk(public: Any) -> Dict[str, Any]:
    """The public JWK of a ``cryptography`` public key (PyJWT's encoders)."""
    import json

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise ValueError(f"no JWK for a {type(public).__name__}")
    result: Dict[str, Any] = json.loads(json.dumps(jwk))
    return result


def self_signed_certificate(common_name: str, key: Any, *, client_auth: bool = False) -> Any:
    """A self-signed certificate of *key* named *common_name*, valid from five minutes ago for
    one day. With *client_auth* it is marked as a TLS client certificate (not a CA; extended
    key usage ``clientAuth``), as RFC 8705's self-signed method expects."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if client_auth:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(key, hashes.SHA256())


def make_self_signed(common_name: str) -> Tuple[Any, Any]:
    """A self-signed TLS client certificate (EC P-256, one day) and its key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return self_signed_certificate(common_name, key, client_auth=True), key
