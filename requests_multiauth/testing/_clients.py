"""The clients an :class:`~requests_multiauth.testing.OAuth2Emulator` knows, and how it
checks that a token request comes from one.

A client is registered with exactly one ``token_endpoint_auth_method`` of RFC 8414's
registry (:data:`METHODS`); :class:`RegisteredClient` is the record registration makes,
with the credentials made up for it here (a key pair, a certificate from the server's CA,
a self-signed certificate), their private parts written to 0600 files in the emulator's
directory.
The checks here need no memory: which credentials a request presents, a secret, a client
assertion's signature and claims (RFC 7523 §3), a TLS client certificate (RFC 8705 §2).
What needs the server's state (the clients registered, the ``jti`` values seen, the log) stays
with the emulator, which calls these. Every failure is a 401 ``invalid_client`` or a 400
``invalid_request`` ``Refusal``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import unquote_plus

from ..client_auth import JWT_BEARER, TOKEN_ENDPOINT_AUTH_METHODS
from ._crypto import (
    HMAC_ALGS,
    algs_for,
    certificate_der,
    certificate_pem,
    der_thumbprint,
    make_self_signed,
    private_pem,
    public_jwk,
    public_key_of,
)
from ._server import Request
from ._wire import Refusal, basic_credentials, oauth_refusal, same_secret

__all__ = ["METHODS", "TLS_METHODS", "RegisteredClient"]

#: The client authentication methods the server offers: every one of RFC 8414's registry that a
#: client-credentials client uses (the same list the library implements).
METHODS = TOKEN_ENDPOINT_AUTH_METHODS
TLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
ASSERTION_METHODS = ("client_secret_jwt", "private_key_jwt")


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered with an :class:`OAuth2Emulator`, and what it authenticates with.

    Made by :meth:`OAuth2Emulator.register_client`. The repr shows no secret.

    Attributes:
        client_id, method: the client and its ``token_endpoint_auth_method``.
        client_secret: for ``client_secret_*``.
        private_key_pem, key_path: for ``private_key_jwt`` when the emulator made the key
            (PEM, and a 0600 file holding it); for the mTLS methods, the certificate's key.
        public_jwk, kid, alg: the public key the assertions are checked with.
        cert_path: the client certificate (PEM) of the mTLS methods; ``cert`` is
            ``(cert_path, key_path)``, what ``requests`` takes as ``cert=``.
        subject_dn: the certificate subject ``tls_client_auth`` matches (RFC 4514).
        certificate_bound, dpop_bound: its tokens are bound to its certificate / need DPoP.
        scope: the scopes it may ask for (None: any).
    """

    client_id: str
    method: str
    client_secret: Optional[str] = field(default=None, repr=False)
    private_key_pem: Optional[bytes] = field(default=None, repr=False)
    key_path: Optional[str] = None
    public_jwk: Optional[Dict[str, Any]] = field(default=None, repr=False)
    kid: Optional[str] = None
    alg: Optional[str] = None
    cert_path: Optional[str] = None
    subject_dn: Optional[str] = None
    certificate_bound: bool = False
    dpop_bound: bool = False
    scope: Optional[Tuple[str, ...]] = None
    cert_thumbprint: Optional[str] = field(default=None, repr=False)
    public_key: Any = field(default=None, repr=False, compare=False)

    @property
    def cert(self) -> Optional[Tuple[str, str]]:
        """``(cert_path, key_path)`` for ``requests``' ``cert=``, for the mTLS methods."""
        if self.cert_path is None or self.key_path is None:
            return None
        return (self.cert_path, self.key_path)


# -- credentials made at registration ----------------------------------------------------------


def assertion_key(
    jwt: Any, directory: str, client_id: str, key: Any, alg: Optional[str], kid: Optional[str]
) -> Dict[str, Any]:
    """The ``private_key_jwt`` fields of a client: its public key, JWK, kid and alg; with no
    *key*, an EC P-256 key pair made up (its private key written to *directory*)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    made: Dict[str, Any] = {}
    if key is None:
        private = ec.generate_private_key(ec.SECP256R1())
        made = _private_key_file(directory, client_id, private_pem(private))
        public = private.public_key()
    else:
        public = public_key_of(jwt, key)
    algs = algs_for(public)
    if alg is not None and alg not in algs:
        raise ValueError(f"alg={alg!r} does not fit the client's key (use one of {', '.join(algs)})")
    kid = kid or f"{client_id}-{secrets.token_hex(3)}"
    return {
        **made,
        "public_key": public,
        "public_jwk": {**public_jwk(public), "kid": kid},
        "kid": kid,
        "alg": alg or algs[0],
    }


def ca_client_certificate(ca: Any, directory: str, client_id: str) -> Dict[str, Any]:
    """The ``tls_client_auth`` fields of a client given a certificate from *ca* (a ``trustme.CA``)."""
    from cryptography import x509

    leaf = ca.issue_cert(f"{client_id}.clients.test", common_name=client_id)
    pem = leaf.cert_chain_pems[0].bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    return {
        **_private_key_file(directory, client_id, leaf.private_key_pem.bytes()),
        "cert_path": _certificate_file(directory, client_id, pem),
        "subject_dn": certificate.subject.rfc4514_string(),
        "cert_thumbprint": der_thumbprint(certificate_der(certificate)),
    }


def self_signed_client_certificate(
    directory: str, client_id: str, cert: Union[str, bytes, None]
) -> Tuple[Dict[str, Any], bytes]:
    """The ``self_signed_tls_client_auth`` fields of a client, for its own certificate *cert*
    (PEM) or one made up, and that certificate's PEM (for the server to accept it)."""
    from cryptography import x509

    made: Dict[str, Any] = {}
    if cert is None:
        certificate, private = make_self_signed(client_id)
        made = _private_key_file(directory, client_id, private_pem(private))
        pem = certificate_pem(certificate)
    else:
        pem = cert.encode("ascii") if isinstance(cert, str) else cert
        certificate = x509.load_pem_x509_certificate(pem)
    fields = {
        **made,
        "cert_path": _certificate_file(directory, client_id, pem),
        "public_jwk": public_jwk(certificate.public_key()),
        "cert_thumbprint": der_thumbprint(certificate_der(certificate)),
    }
    return fields, pem


def _private_key_file(directory: str, client_id: str, pem: bytes) -> Dict[str, Any]:
    """``private_key_pem`` and ``key_path``: the key, and a file only its owner reads (0600) holding it."""
    path = os.path.join(directory, f"{client_id}-key.pem")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return {"private_key_pem": pem, "key_path": path}


def _certificate_file(directory: str, client_id: str, pem: bytes) -> str:
    path = os.path.join(directory, f"{client_id}.pem")
    with open(path, "wb") as handle:
        handle.write(pem)
    return path


# -- checks of a token request -------------------------------------------------------------------


def invalid_client(why: str) -> Refusal:
    """RFC 6749 §5.2's 401 ``invalid_client``."""
    return oauth_refusal("invalid_client", why, status=401)


def presented_credentials(
    jwt: Any, request: Request, form: Mapping[str, str]
) -> Tuple[Tuple[str, ...], Optional[str], Optional[str]]:
    """What a token request authenticates with: the methods its credentials can be, the client
    id they name, and the secret given (Basic or form). More than one kind of credential, or a
    ``client_id`` that differs from the one the credentials name, is refused."""
    basic = basic_credentials(request)
    presented = [basic is not None, "client_assertion" in form, "client_secret" in form]
    if sum(presented) > 1:
        raise oauth_refusal("invalid_request", "use exactly one client authentication method")
    client_id = form.get("client_id")
    if basic is not None:
        basic_id, secret = unquote_plus(basic[0]), unquote_plus(basic[1])
        if client_id is not None and client_id != basic_id:
            raise oauth_refusal("invalid_request", "client_id differs from the Basic credentials")
        return ("client_secret_basic",), basic_id, secret
    if "client_assertion" in form:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise oauth_refusal("invalid_request", f"client_assertion_type must be {JWT_BEARER}")
        try:
            subject = jwt.decode(form["client_assertion"], options={"verify_signature": False}).get("sub")
        except jwt.InvalidTokenError:
            raise invalid_client("the client assertion is not a JWT") from None
        if client_id is not None and client_id != subject:
            raise oauth_refusal("invalid_request", "client_id differs from the assertion's sub")
        return ASSERTION_METHODS, subject if isinstance(subject, str) else None, None
    if "client_secret" in form:
        return ("client_secret_post",), client_id, form["client_secret"]
    return TLS_METHODS, client_id, None


def check_secret(client: RegisteredClient, given: str) -> None:
    """The secret is the client's (compared in constant time)."""
    expected = client.client_secret or ""
    if not expected or not same_secret(given, expected):
        raise invalid_client("wrong client secret")


def verified_assertion(
    jwt: Any,
    client: RegisteredClient,
    assertion: str,
    *,
    audiences: Tuple[str, ...],
    now: float,
    max_lifetime: float,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The header and claims of a client assertion that passes RFC 7523 §3, with the checks of
    the current rfc7523bis draft: signed by the client's key (or secret), ``iss`` = ``sub`` =
    the client id, an ``aud`` among *audiences*, not expired, not valid later (``nbf``), living
    at most *max_lifetime*, with a ``jti``. Whether the ``jti`` was seen before is the caller's."""
    try:
        header: Dict[str, Any] = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise invalid_client("the client assertion is not a JWS") from None
    alg = header.get("alg")
    if client.method == "client_secret_jwt":
        allowed: Tuple[str, ...] = HMAC_ALGS
        key: Any = client.client_secret
    else:
        allowed = algs_for(client.public_key)
        key = client.public_key
    if alg not in allowed:
        raise invalid_client(f"alg {alg} does not fit the client's key")
    try:
        claims: Dict[str, Any] = jwt.decode(
            assertion,
            key,
            algorithms=[alg],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.InvalidTokenError:
        raise invalid_client("the client assertion's signature does not verify") from None
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise invalid_client("iss and sub must be the client_id")
    named = claims.get("aud")
    named = [named] if isinstance(named, str) else named
    if not isinstance(named, list) or not set(audiences).intersection(a for a in named if isinstance(a, str)):
        raise invalid_client("aud must be the token endpoint or the issuer")
    exp, iat, nbf, jti = claims.get("exp"), claims.get("iat"), claims.get("nbf"), claims.get("jti")
    if not isinstance(exp, (int, float)) or exp <= now:
        raise invalid_client("the client assertion has expired or has no exp")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now):
        raise invalid_client("the client assertion is not valid yet (nbf)")
    if iat is not None and not isinstance(iat, (int, float)):
        raise invalid_client("iat must be a number")
    if exp - (iat if iat is not None else now) > max_lifetime:
        raise invalid_client(f"the client assertion lives longer than {max_lifetime:g} s")
    if not isinstance(jti, str) or not jti:
        raise invalid_client("the client assertion has no jti")
    return header, claims


def check_certificate(client: RegisteredClient, request: Request) -> None:
    """RFC 8705 §2: the TLS handshake verified the chain (or that a registered
    self-signed certificate was presented); the subject or the certificate must be the client's."""
    if request.client_cert is None:
        raise invalid_client("no client certificate was presented")
    if client.method == "self_signed_tls_client_auth":
        if der_thumbprint(request.client_cert) != client.cert_thumbprint:
            raise invalid_client("not the client's registered certificate")
        return
    from cryptography import x509

    subject = x509.load_der_x509_certificate(request.client_cert).subject.rfc4514_string()
    if subject != client.subject_dn:
        raise invalid_client("the certificate's subject is not the client's")


def client_auth_for(package: Any, client: RegisteredClient) -> Any:
    """The library's ``client_auth=`` for a registered client."""
    if client.method == "client_secret_basic":
        return "basic"
    if client.method == "client_secret_post":
        return "post"
    names = {"client_secret_jwt": "ClientSecretJwt", "private_key_jwt": "PrivateKeyJwt"}
    factory = getattr(package, names.get(client.method, "TlsClientAuth"), None)
    if factory is None:
        raise NotImplementedError(f"this version of requests_multiauth cannot authenticate with {client.method}")
    if client.method == "client_secret_jwt":
        return factory(alg=client.alg or "HS256")
    if client.method == "private_key_jwt":
        if client.private_key_pem is None:
            raise ValueError("the client was registered with your own key: pass client_auth=PrivateKeyJwt(your_key)")
        return factory(client.private_key_pem, kid=client.kid)
    return factory(client.cert_path, client.key_path, self_signed=client.method == "self_signed_tls_client_auth")
