"""Key loading and signing (requests_multiauth._jose): every input form, every refusal."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from requests_multiauth import ConfigurationError
from requests_multiauth._jose import (
    certificate_thumbprint,
    generate_signing_key,
    jwk_thumbprint,
    load_signing_key,
    sign_with_secret,
)


def _pem(key: Any, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _verify(token: str, key: Any, alg: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, key.public_key(), algorithms=[alg], options={"verify_aud": False})
    return claims


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ES512"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    ],
)
def test_alg_follows_the_key_and_the_signature_verifies(make: Any, alg: str) -> None:
    private = make()
    key = load_signing_key(private)
    assert key.alg == alg
    assert _verify(key.sign({"sub": "c"}), private, alg) == {"sub": "c"}


def test_pem_text_bytes_path_and_jwk_load_the_same_key(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    pem = _pem(rsa_key)
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key))
    jwk["kid"] = "k1"
    thumbprints = {
        load_signing_key(pem).thumbprint,
        load_signing_key(pem.decode()).thumbprint,
        load_signing_key(str(path)).thumbprint,
        load_signing_key(path).thumbprint,
        load_signing_key(jwk).thumbprint,
        load_signing_key(json.dumps(jwk)).thumbprint,
    }
    assert len(thumbprints) == 1
    assert load_signing_key(jwk).kid == "k1"
    assert load_signing_key(jwk, kid="other").kid == "other"


def test_encrypted_pem_needs_the_right_password(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = _pem(ec_key, b"s3cret-pass")
    assert load_signing_key(pem, password="s3cret-pass").alg == "ES256"
    with pytest.raises(ConfigurationError, match="encrypted: pass its password"):
        load_signing_key(pem)
    with pytest.raises(ConfigurationError, match="password is wrong") as info:
        load_signing_key(pem, password="wrong-pass")
    assert "wrong-pass" not in str(info.value)


def test_alg_mismatch_is_refused(ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigurationError, match="cannot sign with alg='RS256'"):
        load_signing_key(ec_key, alg="RS256")
    with pytest.raises(ConfigurationError, match="ES384"):
        load_signing_key(ec_key, alg="ES384")
    assert load_signing_key(rsa_key, alg="PS256").alg == "PS256"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"garbage that is not a key", "not a readable private key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a readable private key"),
        ({"kty": "oct", "k": "abc"}, "type 'oct'"),
        ({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}, "public JWK"),
        ("/nonexistent/key.pem", "no file at"),
        ("", "empty"),
        (42, "not an RSA, EC or Ed25519"),
    ],
)
def test_bad_keys_are_configuration_errors(key: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_signing_key(key)


def test_public_keys_certificates_short_rsa_and_other_curves_are_refused(ec_key: ec.EllipticCurvePrivateKey) -> None:
    public_pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigurationError, match="public key"):
        load_signing_key(public_pem)
    with pytest.raises(ConfigurationError, match="public key"):
        load_signing_key(ec_key.public_key())
    with pytest.raises(ConfigurationError, match="secp256k1"):
        load_signing_key(ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(ConfigurationError, match="1024 bits"):
        load_signing_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - refused


def test_repr_and_errors_never_show_private_material(ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = load_signing_key(ec_key, kid="key-1")
    private_d = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key))["d"]
    assert private_d not in repr(key)
    assert "d" not in key.public_jwk
    assert repr(key) == f"SigningKey(alg='ES256', kid='key-1', thumbprint={key.thumbprint!r})"
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(key)


def test_thumbprint_is_rfc7638() -> None:
    # RFC 7638 §3.1's example key and thumbprint.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
            "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
            "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_generated_keys_sign(tmp_path: Path) -> None:
    for alg in ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"):
        key = generate_signing_key(alg)
        assert key.alg == alg
        header = jwt.get_unverified_header(key.sign({"a": 1}, headers={"typ": "dpop+jwt", "jwk": key.public_jwk}))
        assert header["alg"] == alg
        assert header["jwk"] == key.public_jwk
    with pytest.raises(ConfigurationError, match="not supported"):
        generate_signing_key("HS256")


def test_certificate_thumbprint_is_sha256_of_der(ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    import datetime

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    import base64
    import hashlib

    der = cert.public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    pem = cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "cert.pem"
    path.write_bytes(pem)
    assert certificate_thumbprint(pem) == expected
    assert certificate_thumbprint(str(path)) == expected
    assert certificate_thumbprint(der) == expected
    with pytest.raises(ConfigurationError, match="certificate"):
        load_signing_key(pem)


def test_sign_with_secret_is_hmac() -> None:
    token = sign_with_secret("a-long-enough-client-secret-of-32+bytes", {"iss": "c"})
    assert jwt.decode(token, "a-long-enough-client-secret-of-32+bytes", algorithms=["HS256"]) == {"iss": "c"}
    with pytest.raises(ConfigurationError, match="not an HMAC"):
        sign_with_secret("x" * 40, {}, alg="RS256")
