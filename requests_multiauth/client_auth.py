"""Who asks: how a client proves itself to a token endpoint.

A token request answers three questions, each in one place: *what* is asked
(the grant, :mod:`requests_multiauth.grants.base`), *who asks* (this module), and
how the token is then presented. Each class here is one RFC 8414 client
authentication method and knows only what that method adds to a token request:

=============================  ========================  =============================================
object                         RFC 8414 name             what it adds to the token request
=============================  ========================  =============================================
:class:`ClientSecretBasic`     ``client_secret_basic``   ``Authorization: Basic`` with id and secret
:class:`ClientSecretPost`      ``client_secret_post``    ``client_id`` and ``client_secret`` in the body
:class:`ClientSecretJwt`       ``client_secret_jwt``     a JWT MACed with the secret (RFC 7523 §2.2)
:class:`PrivateKeyJwt`         ``private_key_jwt``       a JWT signed with the client's key (RFC 7523 §2.2)
:class:`ClientAssertion`       (RFC 7521)                an assertion made elsewhere (Kubernetes, CI)
:class:`TlsClientAuth`         ``tls_client_auth``,      the certificate in the TLS handshake, and
                               ``self_signed_...``       ``client_id`` in the body (RFC 8705 §2)
=============================  ========================  =============================================

A grant *binds* a method to its client (:meth:`ClientAuth.bind`) once, at
construction, and gets a :class:`Binding`: the body fields and headers that
never change, what must be made anew for each try (an assertion with a fresh
``jti``, through :class:`~requests_multiauth.transport.endpoint.AttemptExtras`), the
certificate to present, the strings to scrub from messages and the public
identity that enters cache keys (the method and a public thumbprint, never
private material).

Nothing here is probed: a method is chosen by name or object, and a setting it
needs (a secret, a key, a certificate) is a
:class:`~requests_multiauth.ConfigurationError` at construction. Every object
is immutable after construction and safe for concurrent use; reprs show the
method, algorithm, key id and public thumbprints, never a key, secret or
assertion. Signing is PyJWT's (``pip install 'requests-multiauth[jwt]'``),
imported when a JWT method is constructed, never with the package.

Where the request goes next: the grant (grants/) merges what the method adds into each
try of the token call, which the token endpoint (transport/endpoint.py) sends.
"""

from __future__ import annotations

import base64
import copy
import os
import secrets as _secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import quote_plus

from . import _jose
from .errors import ConfigurationError
from .transport.endpoint import AttemptExtras, ClientCert
from .transport.tls import check_readable

if TYPE_CHECKING:
    from .sources import TokenSourceSpec

__all__ = [
    "DEFAULT_ASSERTION_LIFETIME",
    "JWT_BEARER",
    "MAX_ASSERTION_LIFETIME",
    "Binding",
    "ClientAssertion",
    "ClientAuth",
    "ClientAuthSpec",
    "ClientSecretBasic",
    "ClientSecretJwt",
    "ClientSecretPost",
    "PrivateKeyJwt",
    "TlsClientAuth",
    "basic_auth_header",
    "resolve_client_auth",
]

#: The ``client_assertion_type`` of a JWT assertion (RFC 7523 §2.2).
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: How long an assertion made here is valid, in seconds: long enough for a slow
#: token call and a few seconds of clock skew, short enough that an assertion
#: seen in transit is useless soon after (servers keep ``jti``s that long).
DEFAULT_ASSERTION_LIFETIME = 60

#: The longest lifetime accepted. Servers refuse long-lived assertions (Entra ID
#: and Okta accept at most an hour, FAPI asks for minutes), and a longer one
#: only widens the window in which a stolen assertion can be replayed.
MAX_ASSERTION_LIFETIME = 300

Cert = Union[str, "os.PathLike[str]"]


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


class Binding:
    """A client authentication bound to one client and token endpoint: what a grant adds to its requests.

    Attributes:
        method: the RFC 8414 name of the method.
        fields: body fields of every request, in order (``client_id``, and
            ``client_secret`` for ``client_secret_post``).
        headers: headers of every request (``Authorization: Basic ...``).
        prepare: makes what each try alone adds (a fresh assertion), or None.
        cert: the client certificate for the token endpoint's TLS handshake, or None.
        secrets: strings to scrub from every message (the secret, the Basic value).
        identity: public settings that enter the cache key (never private material).
    """

    __slots__ = ("cert", "fields", "headers", "identity", "method", "prepare", "secrets")

    def __init__(
        self,
        method: str,
        *,
        fields: Optional[Dict[str, str]] = None,
        headers: Optional[Dict[str, str]] = None,
        prepare: Optional[Callable[[], AttemptExtras]] = None,
        cert: Optional[ClientCert] = None,
        secrets: Tuple[str, ...] = (),
        identity: Tuple[Tuple[str, str], ...] = (),
    ) -> None:
        self.method = method
        self.fields: Dict[str, str] = fields or {}
        self.headers: Dict[str, str] = headers or {}
        self.prepare = prepare
        self.cert = cert
        self.secrets = secrets
        self.identity = identity

    def __repr__(self) -> str:
        return f"Binding(method={self.method!r})"


class ClientAuth:
    """Base class of the client authentication methods. Subclasses are immutable and thread-safe.

    Attributes:
        method: the RFC 8414 name (``token_endpoint_auth_method``).
        names: every RFC 8414 name a server may list for this object
            (``token_endpoint_auth_methods_supported``).
        needs_secret: whether the method uses the client secret.
    """

    method: str = ""
    needs_secret: bool = False

    @property
    def names(self) -> Tuple[str, ...]:
        return (self.method,)

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        """What this method adds to the token requests of *client_id* at *token_url*.

        Raises:
            ConfigurationError: the method needs a secret and none was given.
        """
        raise NotImplementedError

    def _secret(self, client_secret: Optional[str]) -> str:
        if not isinstance(client_secret, str) or not client_secret.strip():
            raise ConfigurationError(
                f"client_secret is missing or empty, and client_auth={self.method!r} needs it: pass the "
                "secret, or a method that needs none (PrivateKeyJwt(key), ClientAssertion(source), "
                "TlsClientAuth(cert, key))"
            )
        return client_secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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


def _assertion_lifetime(lifetime: float) -> int:
    return _jose.assertion_lifetime(lifetime, maximum=MAX_ASSERTION_LIFETIME, default=DEFAULT_ASSERTION_LIFETIME)


class _JwtAssertion(ClientAuth):
    """What both JWT methods share: the claims of RFC 7523 §3, fresh for every try."""

    lifetime: int
    audience: Optional[str]

    def with_audience(self, audience: str) -> _JwtAssertion:
        """A copy whose assertions name *audience* as ``aud`` (the authorization server's
        issuer, when discovery gave it) instead of the token endpoint URL."""
        changed = copy.copy(self)
        changed.audience = audience
        return changed

    def _sign(self, claims: Dict[str, Any], client_secret: Optional[str]) -> str:
        raise NotImplementedError

    def claims(self, client_id: str, audience: str, now: Optional[float] = None) -> Dict[str, Any]:
        """The claims of one assertion: ``iss`` = ``sub`` = the client id, ``aud``,
        a unique ``jti``, ``iat`` and ``exp`` = ``iat`` + lifetime."""
        issued = int(time.time() if now is None else now)
        return {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": _secrets.token_urlsafe(24),
            "iat": issued,
            "exp": issued + self.lifetime,
        }

    def _binding(self, client_id: str, client_secret: Optional[str], token_url: str, **identity: str) -> Binding:
        audience = self.audience or token_url

        def prepare() -> AttemptExtras:
            assertion = self._sign(self.claims(client_id, audience), client_secret)
            return AttemptExtras(
                fields={"client_assertion_type": JWT_BEARER, "client_assertion": assertion}, secrets=(assertion,)
            )

        return Binding(
            self.method,
            fields={"client_id": client_id},
            prepare=prepare,
            secrets=(client_secret,) if client_secret else (),
            identity=(("client_auth", self.method), *sorted(identity.items())),
        )


class ClientSecretJwt(_JwtAssertion):
    """``client_secret_jwt``: a JWT assertion MACed with the client secret (RFC 7523 §2.2).

    The secret itself never leaves the process. Each token request, retries
    included, carries a new assertion (``iss`` = ``sub`` = client id, ``aud`` =
    the token endpoint URL or *audience*, a unique ``jti``, ``iat``, ``exp``).

    Args:
        alg: HS256 (the default), HS384 or HS512.
        lifetime: seconds each assertion is valid, 1 to 300.
        audience: the ``aud`` claim; default the token endpoint URL.

    Raises:
        ImportError: PyJWT is not installed (``pip install 'requests-multiauth[jwt]'``).
        ConfigurationError: *alg* is not HMAC, or *lifetime* is out of bounds.
    """

    method = "client_secret_jwt"
    needs_secret = True

    def __init__(
        self, *, alg: str = "HS256", lifetime: float = DEFAULT_ASSERTION_LIFETIME, audience: Optional[str] = None
    ) -> None:
        _jose.require_jwt("client_secret_jwt")
        self.alg = _jose.check_hmac_alg(alg)
        self.lifetime = _assertion_lifetime(lifetime)
        self.audience = audience

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        return self._binding(client_id, self._secret(client_secret), token_url)

    def _sign(self, claims: Dict[str, Any], client_secret: Optional[str]) -> str:
        return _jose.sign_with_secret(client_secret or "", claims, alg=self.alg)

    def __repr__(self) -> str:
        return f"ClientSecretJwt(alg={self.alg!r}, lifetime={self.lifetime!r})"


class PrivateKeyJwt(_JwtAssertion):
    """``private_key_jwt``: a JWT assertion signed with the client's private key (RFC 7523 §2.2).

    No secret is shared with the server, which knows only the public key (or
    its certificate, or a JWKS URL). Each token request, retries included,
    carries a new assertion (``iss`` = ``sub`` = client id, ``aud`` = the token
    endpoint URL or *audience*, a unique ``jti``, ``iat``, ``exp``), with
    ``kid`` and, given *certificate*, ``x5t#S256`` in its header.

    Args:
        key: PEM text or bytes, a path to a PEM or JWK file, a JWK mapping with
            its private members, or a ``cryptography`` private key.
        kid: the key id the server knows the key by (a JWK's own ``kid`` by default).
        alg: follows the key (RS256 for RSA, ES256/384/512 for the P curves,
            EdDSA); PS256 and the other RSA algorithms on request. An algorithm
            the key cannot sign with is refused.
        lifetime: seconds each assertion is valid, 1 to 300.
        certificate: the key's X.509 certificate (PEM text, bytes or path), for
            servers that identify the key by its thumbprint (Entra ID).
        password: the password of an encrypted PEM.
        audience: the ``aud`` claim; default the token endpoint URL.

    Raises:
        ImportError: PyJWT is not installed (``pip install 'requests-multiauth[jwt]'``).
        ConfigurationError: the key is unreadable, public, of an unsupported
            kind, encrypted without the right password, or does not fit *alg*;
            *lifetime* is out of bounds. The message never quotes the key.
    """

    method = "private_key_jwt"

    def __init__(
        self,
        key: _jose.KeyInput,
        *,
        kid: Optional[str] = None,
        alg: Optional[str] = None,
        lifetime: float = DEFAULT_ASSERTION_LIFETIME,
        certificate: Union[str, bytes, os.PathLike[str], None] = None,
        password: Union[str, bytes, None] = None,
        audience: Optional[str] = None,
    ) -> None:
        _jose.require_jwt("private_key_jwt")
        if isinstance(key, _jose.SigningKey):
            self.key = key
        else:
            self.key = _jose.load_signing_key(key, alg=alg, password=password, kid=kid)
        self.lifetime = _assertion_lifetime(lifetime)
        self.audience = audience
        self.x5t_s256 = None
        if certificate is not None:
            self.x5t_s256 = _jose.certificate_thumbprint(certificate)
            _check_certificate_matches(certificate, self.key)

    @property
    def alg(self) -> str:
        return self.key.alg

    @property
    def kid(self) -> Optional[str]:
        return self.key.kid

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 thumbprint of the public key (public; it identifies the key in cache keys)."""
        return self.key.thumbprint

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        return self._binding(client_id, None, token_url, key_thumbprint=self.key.thumbprint)

    def _sign(self, claims: Dict[str, Any], client_secret: Optional[str]) -> str:
        headers = {"x5t#S256": self.x5t_s256} if self.x5t_s256 is not None else None
        return self.key.sign(claims, headers)

    def __repr__(self) -> str:
        kid = f", kid={self.kid!r}" if self.kid is not None else ""
        return f"PrivateKeyJwt(alg={self.alg!r}{kid}, thumbprint={self.thumbprint!r}, lifetime={self.lifetime!r})"


def _check_certificate_matches(certificate: Union[str, bytes, os.PathLike[str]], key: _jose.SigningKey) -> None:
    """A ConfigurationError unless *certificate* holds *key*'s public key: a server that finds
    the key by the certificate's thumbprint would refuse every assertion, and say only invalid_client."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_der_x509_certificate(_jose.certificate_der(certificate))  # read (and checked) once already
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.private_key.public_key().public_bytes(*spki):
        raise ConfigurationError("the certificate given to PrivateKeyJwt is not the private key's: pass the key's own")


class ClientAssertion(ClientAuth):
    """An assertion made elsewhere, sent as ``client_assertion`` (RFC 7521 §4.2).

    For workloads whose platform vouches for them: a Kubernetes projected
    service-account token, a CI job's OIDC token (GitHub Actions, GitLab), a
    cloud's workload identity token, presented to a server that trusts that
    platform (Entra ID workload identity federation, Keycloak, Okta).

    Args:
        source: where the assertion is read at every token request: the path of
            a file holding it (a ``str`` or ``pathlib.Path``), a callable
            returning it, another auth of this package (its access token), or a
            :class:`~requests_multiauth.GitHubActionsToken`, or any
            :class:`~requests_multiauth.sources.TokenSource`. A file is read again
            whenever it changes (its size, modification time or inode, after
            following symlinks: a Kubernetes projected token is rotated under the
            same path by swapping a symlink), else served from memory. (Unlike
            the token sources of :class:`~requests_multiauth.TokenExchangeAuth`,
            a ``str`` here is a path, as it always was.)
        assertion_type: the ``client_assertion_type``; JWT bearer by default.

    Raises:
        ConfigurationError: at construction, the file is missing, unreadable or
            empty (the message names the path), or *source* is none of these.
        TokenRequestError: at a token request, the file has since become
            missing, unreadable or empty, or the callable returned nothing; a
            renewal ahead of expiry that meets it keeps the valid token and retries.

    The assertion is a secret: never in a repr, log or error.
    """

    #: To the server, an assertion signed elsewhere is a private_key_jwt (RFC 8414 has no other name for it).
    method = "private_key_jwt"

    def __init__(self, source: TokenSourceSpec, *, assertion_type: str = JWT_BEARER) -> None:
        from .sources import FileToken, TokenSource, token_source

        if not isinstance(assertion_type, str) or not assertion_type.strip():
            raise ConfigurationError("assertion_type must be a non-empty string (a URN, RFC 7521 §4.2)")
        self.assertion_type = assertion_type
        label, holds = "ClientAssertion", "the assertion"
        if isinstance(source, (str, os.PathLike)):
            source = FileToken(source, label=label, holds=holds)
        elif not isinstance(source, TokenSource) and not callable(source):
            raise ConfigurationError(
                f"ClientAssertion needs a callable returning the assertion or a file path, not {type(source).__name__}"
            )
        self.source: TokenSource = token_source(source, label=label, holds=holds)
        self.path: Optional[str] = getattr(self.source, "path", None)

    @property
    def names(self) -> Tuple[str, ...]:
        # A platform's assertion is signed with a key, but a server may file it under either JWT name.
        return ("private_key_jwt", "client_secret_jwt")

    def assertion(self) -> str:
        """The current assertion (a secret). Raises TokenRequestError when there is none."""
        return self.source.token()

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        def prepare() -> AttemptExtras:
            assertion = self.assertion()
            return AttemptExtras(
                fields={"client_assertion_type": self.assertion_type, "client_assertion": assertion},
                secrets=(assertion,),
            )

        identity: Tuple[Tuple[str, str], ...] = (
            ("client_auth", "client_assertion"),
            ("assertion_type", self.assertion_type),
        )
        if self.path is not None:
            identity += (("assertion_file", os.path.abspath(self.path)),)
        else:
            identity += (("assertion_source", self.source.identity()),)
        return Binding(
            self.method,
            fields={"client_id": client_id},
            prepare=prepare,
            secrets=self.source.secrets,
            identity=identity,
        )

    def __repr__(self) -> str:
        if self.path is not None:
            return f"ClientAssertion(path={self.path!r})"
        return f"ClientAssertion(source={self.source!r})"


class TlsClientAuth(ClientAuth):
    """``tls_client_auth`` / ``self_signed_tls_client_auth``: mutual TLS (RFC 8705 §2).

    The client certificate is presented in the TLS handshake with the token
    endpoint, and ``client_id`` is sent in the body; the server checks the
    certificate against its PKI (``tls_client_auth``) or against the one
    registered for the client (``self_signed_tls_client_auth``): the client
    does the same either way. Tokens the server binds to the certificate
    (``cnf["x5t#S256"]``, RFC 8705 §3) must be sent over connections that
    present it too: :class:`~requests_multiauth.AuthAdapter` and
    :meth:`~requests_multiauth.MultiAuthSession.mount_auth` do so; with plain
    ``session.auth = auth``, set ``session.cert`` yourself.

    Args:
        cert: the path of the PEM certificate (it may also hold the key).
        key: the path of the PEM private key, if not in *cert*. It must not be
            encrypted (requests and ``ssl`` take no password from here).
        self_signed: name the method ``self_signed_tls_client_auth`` (only a name).

    Raises:
        ConfigurationError: a file is missing or unreadable, or *cert* holds no certificate.
    """

    def __init__(self, cert: Cert, key: Optional[Cert] = None, *, self_signed: bool = False) -> None:
        self.cert_path = _readable(cert, "the client certificate")
        self.key_path = _readable(key, "the client certificate's key") if key is not None else None
        self.method = "self_signed_tls_client_auth" if self_signed else "tls_client_auth"
        self.thumbprint = _jose.certificate_thumbprint(
            self.cert_path, what=f"the client certificate {self.cert_path!r}", pem_only=True
        )

    @property
    def names(self) -> Tuple[str, ...]:
        return ("tls_client_auth", "self_signed_tls_client_auth")

    @property
    def cert(self) -> ClientCert:
        """The certificate as requests' ``cert=`` takes it."""
        return (self.cert_path, self.key_path) if self.key_path is not None else self.cert_path

    def bind(self, client_id: str, client_secret: Optional[str], *, token_url: str) -> Binding:
        return Binding(
            self.method,
            fields={"client_id": client_id},
            cert=self.cert,
            identity=(("client_auth", "tls_client_auth"), ("x5t#S256", self.thumbprint)),
        )

    def __repr__(self) -> str:
        return f"TlsClientAuth(cert={self.cert_path!r}, x5t#S256={self.thumbprint!r})"


def _readable(path: Cert, what: str) -> str:
    name = os.fspath(path)
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{what}: pass the path of a PEM file")
    if "-----BEGIN" in name:
        raise ConfigurationError(f"{what} must be a file path, not PEM text: requests reads it from a file")
    check_readable(name, what)
    return name


#: What ``client_auth=`` accepts: a name (today's or RFC 8414's) or an object.
ClientAuthSpec = Union[str, ClientAuth]

#: The names accepted as strings and what each stands for.
_BY_NAME: Dict[str, Callable[[], ClientAuth]] = {
    "basic": ClientSecretBasic,
    "client_secret_basic": ClientSecretBasic,
    "basic_urlencoded": lambda: ClientSecretBasic(urlencode=True),
    "post": ClientSecretPost,
    "client_secret_post": ClientSecretPost,
    "client_secret_jwt": ClientSecretJwt,
}

#: Names whose method needs more than a name: what to pass instead.
_NEEDS_OBJECT: Mapping[str, str] = {
    "private_key_jwt": "it needs the private key: pass client_auth=PrivateKeyJwt(key) (PEM, path, JWK or key object)",
    "tls_client_auth": "it needs the certificate: pass client_auth=TlsClientAuth(cert, key)",
    "self_signed_tls_client_auth": (
        "it needs the certificate: pass client_auth=TlsClientAuth(cert, key, self_signed=True)"
    ),
}


def resolve_client_auth(value: ClientAuthSpec) -> ClientAuth:
    """The :class:`ClientAuth` a ``client_auth=`` value stands for.

    Raises:
        ConfigurationError: an unknown name, or a name whose method needs a key
            or certificate (the message says which object to pass).
        ImportError: ``client_secret_jwt`` without PyJWT.
    """
    if isinstance(value, ClientAuth):
        return value
    if isinstance(value, str):
        make = _BY_NAME.get(value)
        if make is not None:
            return make()
        if value in _NEEDS_OBJECT:
            raise ConfigurationError(f"client_auth={value!r} cannot be given by name: {_NEEDS_OBJECT[value]}")
    choices = ", ".join(repr(name) for name in (*_BY_NAME, *_NEEDS_OBJECT))
    raise ConfigurationError(
        f"client_auth={value!r} is not a client authentication method: use one of {choices}, or an object "
        "(ClientSecretJwt, PrivateKeyJwt, ClientAssertion, TlsClientAuth)"
    )
