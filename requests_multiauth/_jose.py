"""Keys and signed JWTs: the one place that touches a JOSE library.

Client assertions (:mod:`requests_multiauth.client_auth`) and DPoP proofs
(:mod:`requests_multiauth.dpop`) both sign small JWTs with a key the client
keeps. This module loads such a key once, from whatever the user has (PEM text
or bytes, a path, a JWK mapping, a ``cryptography`` key), checks it, works out
its algorithm, and prepares what every signature needs (the public JWK and its
RFC 7638 thumbprint), so that signing on the hot path is one call.

Signing is PyJWT's (``pip install 'requests-multiauth[jwt]'``, which brings
``cryptography``): nothing here implements cryptography. PyJWT is imported
when a key is first loaded, never with the package.

A :class:`SigningKey` is a secret: its ``repr`` shows the algorithm, the key id
and the public thumbprint, never private material, and no error raised here
quotes the key or its password.

Where the request goes next: the signed assertion or proof goes into a token request
(client_auth/, transport/endpoint.py) or an API request (presentation.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union

from .engine.travel import CannotTravel
from .errors import ConfigurationError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "JWT_EXTRA",
    "KeyInput",
    "SigningKey",
    "assertion_lifetime",
    "certificate_der",
    "certificate_thumbprint",
    "unverified_claims",
    "generate_signing_key",
    "load_signing_key",
    "require_jwt",
    "sign_with_secret",
]

#: What to install for everything in this module.
JWT_EXTRA = "pip install 'requests-multiauth[jwt]'"

#: What a key may be given as: PEM text or bytes, a path to a PEM/JWK file, a
#: JWK mapping, or a ``cryptography`` private key object.
KeyInput = Union[str, bytes, "os.PathLike[str]", Mapping[str, Any], Any]

#: Algorithms each kind of key can sign with; the first is the default.
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_OKP_ALGS = ("EdDSA",)
_HMAC_ALGS = ("HS256", "HS384", "HS512")

#: RSA keys shorter than this are refused (NIST SP 800-131A; PyJWT and every
#: authorization server we know refuse them too, later and less clearly).
MIN_RSA_BITS = 2048

#: The members of each key type that RFC 7638 hashes, in the order it requires.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def require_jwt(feature: str) -> ModuleType:
    """Import PyJWT (with ``cryptography``) for *feature*, or say what to install."""
    try:
        import cryptography  # noqa: F401 - PyJWT only signs asymmetrically with it
        import jwt
    except ImportError as exc:
        raise ImportError(f"{feature} needs PyJWT with cryptography: {JWT_EXTRA}") from exc
    return jwt


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """A private key ready to sign JWTs. Immutable after construction; safe for concurrent use.

    Build it with :func:`load_signing_key` or :func:`generate_signing_key`.

    Attributes:
        alg: the JWS algorithm (``RS256``, ``PS256``, ``ES256``, ``ES384``,
            ``ES512``, ``EdDSA``).
        kid: the key id put in JWT headers, or None.
        public_jwk: the public key as a JWK dict (no private members, no ``kid``).
        thumbprint: the RFC 7638 SHA-256 thumbprint of the public JWK, base64url.
    """

    __slots__ = ("_key", "_source", "alg", "kid", "public_jwk", "thumbprint")

    def __init__(
        self,
        private_key: Any,
        alg: str,
        kid: Optional[str],
        public_jwk: Dict[str, str],
        source: Optional[Tuple[Any, Union[str, bytes, None], str]] = None,
    ) -> None:
        self._key = private_key
        self._source = source  # (what it was loaded from, password, what): how it travels (see __reduce__)
        self.alg = alg
        self.kid = kid
        self.public_jwk = public_jwk
        self.thumbprint = jwk_thumbprint(public_jwk)

    def __repr__(self) -> str:
        kid = f", kid={self.kid!r}" if self.kid is not None else ""
        return f"SigningKey(alg={self.alg!r}{kid}, thumbprint={self.thumbprint!r})"

    def __reduce__(self) -> Any:
        # A key travels as what it was loaded from, like any other credential of an auth: a
        # file's path (read again there, and refused if it now holds another key), or the
        # PEM / JWK text or mapping it was given as. A key object (a ``cryptography`` key,
        # a generated key) holds its private material only in this process: it does not travel.
        if self._source is None:
            raise CannotTravel(
                "a private key given as a key object or generated in memory is not pickled: give it as a file "
                "path (it travels as the path) or as PEM/JWK text, or load it in each process"
            )
        loaded_from, password, what = self._source
        return (_reload_signing_key, (loaded_from, self.alg, password, self.kid, what, self.thumbprint))

    @property
    def private_key(self) -> Any:
        """The ``cryptography`` private key object (a secret)."""
        return self._key

    def sign(self, claims: Mapping[str, Any], headers: Optional[Mapping[str, Any]] = None) -> str:
        """A compact JWS of *claims*, signed with this key; ``alg`` (and ``kid``, if
        any) are set in the header, *headers* adds to it."""
        import jwt

        all_headers: Dict[str, Any] = {} if self.kid is None else {"kid": self.kid}
        if headers:
            all_headers.update(headers)
        signed: str = jwt.encode(dict(claims), self._key, algorithm=self.alg, headers=all_headers)
        return signed


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK: SHA-256 over its required members, base64url."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ConfigurationError(f"cannot take the thumbprint of a key of type {jwk.get('kty')!r}")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def load_signing_key(
    key: KeyInput,
    *,
    alg: Optional[str] = None,
    password: Union[str, bytes, None] = None,
    kid: Optional[str] = None,
    what: str = "the private key",
) -> SigningKey:
    """Load and check a private key, and settle its algorithm.

    Args:
        key: PEM text or bytes (``-----BEGIN ... PRIVATE KEY-----``), a path to a
            PEM or JWK (JSON) file, a JWK mapping with its private members, or a
            ``cryptography`` private key.
        alg: the algorithm; by default it follows the key (RS256 for RSA, ES256 /
            ES384 / ES512 for P-256 / P-384 / P-521, EdDSA for Ed25519 and Ed448).
            One the key cannot sign with is refused.
        password: the password of an encrypted PEM.
        kid: the key id for JWT headers; a JWK's own ``kid`` by default.
        what: how error messages name the key.

    Raises:
        ConfigurationError: the key is missing, unreadable, public only, of an
            unsupported type or curve, too short, encrypted without (or with the
            wrong) password, or does not fit *alg*. The message never quotes the key.
        ImportError: PyJWT or cryptography is not installed.
    """
    require_jwt("signing with a private key")
    jwk_alg: Optional[str] = None
    if isinstance(key, Mapping):
        private, jwk_kid, jwk_alg = _from_jwk(key, what)
        kid = kid if kid is not None else jwk_kid
    elif isinstance(key, (str, bytes, os.PathLike)):
        data = _key_bytes(key, what)
        if data.lstrip().startswith(b"{"):
            try:
                mapping = json.loads(data)
            except ValueError:
                raise ConfigurationError(f"{what} looks like JSON but is not valid JSON") from None
            if not isinstance(mapping, Mapping):
                raise ConfigurationError(f"{what} is JSON but not a JWK object")
            private, jwk_kid, jwk_alg = _from_jwk(mapping, what)
            kid = kid if kid is not None else jwk_kid
        else:
            private = _from_pem(data, password, what)
    else:
        private = key
    loaded_from: Any = None  # how the key travels to another process (see SigningKey.__reduce__)
    if isinstance(key, os.PathLike) or (isinstance(key, str) and not _is_key_text(key)):
        loaded_from = os.fspath(key)
    elif isinstance(key, (str, bytes)):
        loaded_from = key
    elif isinstance(key, Mapping):
        loaded_from = dict(key)
    source = (loaded_from, password, what) if loaded_from is not None else None
    return _signing_key(private, alg or jwk_alg, kid, what, source)


def _is_key_text(key: str) -> bool:
    """True for PEM or JWK text (else *key* is a path): the rule of :func:`_key_bytes`."""
    return "-----BEGIN" in key or key.lstrip().startswith("{")


def _reload_signing_key(
    loaded_from: Any, alg: str, password: Union[str, bytes, None], kid: Optional[str], what: str, thumbprint: str
) -> SigningKey:
    """The key loaded again from *loaded_from*, in a process that received it pickled; refused if
    it is another key now (a key file replaced meanwhile)."""
    signing = load_signing_key(loaded_from, alg=alg, password=password, kid=kid, what=what)
    if signing.thumbprint != thumbprint:
        raise ConfigurationError(
            f"{what}: the key file holds another key than when it was loaded in the sending process "
            "(it was replaced meanwhile); build the auth again in this process"
        )
    return signing


def generate_signing_key(alg: str = "ES256", *, kid: Optional[str] = None) -> SigningKey:
    """A new private key for *alg* (ES256/384/512, RS256/PS256 and the other RSA
    algorithms with a 2048-bit key, EdDSA with Ed25519)."""
    require_jwt("generating a key")
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    private: Any
    if alg in _EC_ALGS.values():
        curves = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
        private = ec.generate_private_key(curves[alg])
    elif alg in _RSA_ALGS:
        private = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    elif alg in _OKP_ALGS:
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ConfigurationError(f"alg={alg!r} is not supported: use one of {', '.join(_supported())}")
    return _signing_key(private, alg, kid, "the generated key")


#: A PEM certificate block (RFC 7468 §5); the base64 between the lines is its DER.
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)

#: The first byte of a DER X.509 certificate: an ASN.1 SEQUENCE.
_DER_SEQUENCE = 0x30


def certificate_der(
    cert: Union[str, bytes, os.PathLike[str]], *, what: str = "the certificate", pem_only: bool = False
) -> bytes:
    """The DER of the (first) X.509 certificate in *cert*: PEM text or bytes, DER bytes
    (unless *pem_only*), or a path to a file holding either. The one certificate
    reader of the package, stdlib only: a client certificate for mutual TLS needs
    no extra installed.

    Raises:
        ConfigurationError: no such file, or no certificate in it (the message names *what*).
    """
    data = _key_bytes(cert, what)
    match = _PEM_CERTIFICATE.search(data)
    if match is not None:
        try:
            return base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except ValueError:
            raise ConfigurationError(f"{what} is not valid PEM") from None
    if pem_only:
        raise ConfigurationError(f"{what} holds no PEM certificate")
    if data[:1] != bytes([_DER_SEQUENCE]):
        raise ConfigurationError(f"{what} is neither a PEM nor a DER X.509 certificate")
    return data


def certificate_thumbprint(
    cert: Union[str, bytes, os.PathLike[str]], *, what: str = "the certificate", pem_only: bool = False
) -> str:
    """The ``x5t#S256`` of a certificate (RFC 7515 §4.1.8, RFC 8705 §3.1):
    base64url SHA-256 of its DER. *cert* is as :func:`certificate_der` takes it."""
    return b64url(hashlib.sha256(certificate_der(cert, what=what, pem_only=pem_only)).digest())


def unverified_claims(token: str) -> Optional[Dict[str, Any]]:
    """The payload of *token* if it is a compact JWS (three base64url parts, a JSON
    object in the middle), else None. The one JWT payload reader of the package.

    The signature is NOT verified: use it only where a forged claim costs nothing
    (when to renew a token; the nonce of a proof we made ourselves).
    """
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    segment = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def sign_with_secret(
    secret: str, claims: Mapping[str, Any], *, alg: str = "HS256", headers: Optional[Mapping[str, Any]] = None
) -> str:
    """A compact JWS of *claims* MACed with a shared *secret* (``client_secret_jwt``)."""
    if alg not in _HMAC_ALGS:
        raise ConfigurationError(f"alg={alg!r} is not an HMAC algorithm: use one of {', '.join(_HMAC_ALGS)}")
    jwt = require_jwt("client_secret_jwt")
    signed: str = jwt.encode(dict(claims), secret, algorithm=alg, headers=dict(headers) if headers else None)
    return signed


def check_hmac_alg(alg: str) -> str:
    """*alg* if it is an HMAC algorithm, else a ConfigurationError."""
    if alg not in _HMAC_ALGS:
        raise ConfigurationError(f"alg={alg!r} is not an HMAC algorithm: use one of {', '.join(_HMAC_ALGS)}")
    return alg


def assertion_lifetime(lifetime: float, *, maximum: int, default: int, what: str = "an assertion") -> int:
    """*lifetime* as the whole seconds a signed assertion is valid, 1 to *maximum*; else a
    ConfigurationError naming *what* is signed, the bounds and the *default*."""
    if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)):
        raise ConfigurationError(f"lifetime must be a number of seconds, not {type(lifetime).__name__}")
    if not 1 <= lifetime <= maximum:
        raise ConfigurationError(
            f"lifetime={lifetime!r} is out of bounds: {what} lives between 1 and {maximum} seconds (default {default})"
        )
    return int(lifetime)


# -- loading ---------------------------------------------------------------------


def _supported() -> Tuple[str, ...]:
    return (*_RSA_ALGS, *_EC_ALGS.values(), *_OKP_ALGS)


def _key_bytes(key: Union[str, bytes, os.PathLike[str]], what: str) -> bytes:
    """PEM/JSON content, or the content of the file *key* names."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str) and _is_key_text(key):
        return key.encode("utf-8")
    path = os.fspath(key)
    if not path.strip():
        raise ConfigurationError(f"{what} is empty: pass PEM text, a JWK, a path or a key object")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ConfigurationError(
            f"{what}: no file at {path!r} (pass PEM text, a JWK, or the path of a key file)"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot read {path!r}: {exc.strerror or type(exc).__name__}") from None
    if not data.strip():
        raise ConfigurationError(f"{what}: the file {path!r} is empty")
    return data


def _from_pem(data: bytes, password: Union[str, bytes, None], what: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    if isinstance(password, str):
        password = password.encode("utf-8")
    stripped = data.strip()
    if b"PUBLIC KEY-----" in stripped and b"PRIVATE KEY-----" not in stripped:
        raise ConfigurationError(f"{what} is a public key: pass the private key (the public one goes to the server)")
    if b"-----BEGIN CERTIFICATE-----" in stripped and b"PRIVATE KEY-----" not in stripped:
        raise ConfigurationError(f"{what} is a certificate, not a private key: pass the key file as well")
    try:
        if stripped.startswith(b"-----"):
            return serialization.load_pem_private_key(stripped, password=password)
        return serialization.load_der_private_key(stripped, password=password)
    except TypeError as exc:  # cryptography's words for a missing or unexpected password
        if "not encrypted" in str(exc):
            raise ConfigurationError(f"{what} is not encrypted, but a password was given: drop password=") from None
        raise ConfigurationError(f"{what} is encrypted: pass its password with password=") from None
    except ValueError:
        if password is not None:
            raise ConfigurationError(f"{what} could not be decrypted: the password is wrong") from None
        raise ConfigurationError(
            f"{what} is not a readable private key (expected PEM '-----BEGIN PRIVATE KEY-----', "
            "an encrypted PEM with password=, or a JWK)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - e.g. UnsupportedAlgorithm: the message names the kind, not the key
        raise ConfigurationError(f"{what} is of an unsupported kind ({type(exc).__name__})") from None


def _from_jwk(jwk: Mapping[str, Any], what: str) -> Tuple[Any, Optional[str], Optional[str]]:
    import jwt

    kty = jwk.get("kty")
    if kty not in _THUMBPRINT_MEMBERS:
        raise ConfigurationError(f"{what} is a JWK of type {kty!r}: use an RSA, EC or OKP key")
    if "d" not in jwk:
        raise ConfigurationError(f"{what} is a public JWK (no 'd'): pass the private key")
    try:
        loaded = jwt.PyJWK(dict(jwk))
    except Exception as exc:  # noqa: BLE001 - PyJWT raises several kinds; none may reach the user raw
        raise ConfigurationError(f"{what} is not a usable JWK ({type(exc).__name__})") from None
    kid = jwk.get("kid")
    alg = jwk.get("alg")
    return loaded.key, str(kid) if kid is not None else None, str(alg) if alg is not None else None


def _signing_key(
    private: Any,
    alg: Optional[str],
    kid: Optional[str],
    what: str,
    source: Optional[Tuple[str, Union[str, bytes, None], str]] = None,
) -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    if isinstance(private, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise ConfigurationError(f"{what} is a public key: pass the private key")
    jwk: Any
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"{what} is an RSA key of {private.key_size} bits: use {MIN_RSA_BITS} or more")
        allowed: Tuple[str, ...] = _RSA_ALGS
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        curve_alg = _EC_ALGS.get(private.curve.name)
        if curve_alg is None:
            raise ConfigurationError(
                f"{what} is on the curve {private.curve.name}, which JWS does not use: use P-256, P-384 or P-521"
            )
        allowed = (curve_alg,)
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif isinstance(private, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        allowed = _OKP_ALGS
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        raise ConfigurationError(f"{what} is a {type(private).__name__}, not an RSA, EC or Ed25519/Ed448 private key")
    chosen = alg or allowed[0]
    if chosen not in allowed:
        raise ConfigurationError(f"{what} cannot sign with alg={chosen!r}: this key signs with {', '.join(allowed)}")
    public = {name: str(value) for name, value in dict(jwk).items() if name in ("kty", "crv", "x", "y", "n", "e")}
    return SigningKey(private, chosen, kid, public, source)
