"""The methods that send an assertion (RFC 7521): a JWT MACed with the secret
(``client_secret_jwt``) or signed with the client's key (``private_key_jwt``), made
anew for every try, and an assertion made elsewhere (:class:`ClientAssertion`).
Signing is PyJWT's, imported when a JWT method is constructed.

Where the request goes next: see :mod:`requests_multiauth.client_auth`.
"""

from __future__ import annotations

import copy
import os
import secrets as _secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, Union

from .. import _jose
from ..errors import ConfigurationError
from ..transport.endpoint import AttemptExtras
from .base import Binding, ClientAuth

if TYPE_CHECKING:
    from ..sources import TokenSourceSpec

__all__ = [
    "DEFAULT_ASSERTION_LIFETIME",
    "JWT_BEARER",
    "MAX_ASSERTION_LIFETIME",
    "ClientAssertion",
    "ClientSecretJwt",
    "PrivateKeyJwt",
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


def _assertion_lifetime(lifetime: float) -> int:
    return _jose.assertion_lifetime(lifetime, maximum=MAX_ASSERTION_LIFETIME, default=DEFAULT_ASSERTION_LIFETIME)


def _assertion_binding(
    method: str,
    client_id: str,
    make: Callable[[], str],
    *,
    assertion_type: str = JWT_BEARER,
    secrets: Tuple[str, ...],
    identity: Tuple[Tuple[str, str], ...],
) -> Binding:
    """What every assertion method adds: ``client_id`` in the body of every request, and
    in each try a new assertion from *make* as ``client_assertion`` (a secret of that try)."""

    def prepare() -> AttemptExtras:
        assertion = make()
        return AttemptExtras(
            fields={"client_assertion_type": assertion_type, "client_assertion": assertion}, secrets=(assertion,)
        )

    return Binding(method, fields={"client_id": client_id}, prepare=prepare, secrets=secrets, identity=identity)


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
        return _assertion_binding(
            self.method,
            client_id,
            lambda: self._sign(self.claims(client_id, audience), client_secret),
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
        from ..sources import FileToken, TokenSource, token_source

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
        identity: Tuple[Tuple[str, str], ...] = (
            ("client_auth", "client_assertion"),
            ("assertion_type", self.assertion_type),
        )
        if self.path is not None:
            identity += (("assertion_file", os.path.abspath(self.path)),)
        else:
            identity += (("assertion_source", self.source.identity()),)
        return _assertion_binding(
            self.method,
            client_id,
            self.assertion,
            assertion_type=self.assertion_type,
            secrets=self.source.secrets,
            identity=identity,
        )

    def __repr__(self) -> str:
        if self.path is not None:
            return f"ClientAssertion(path={self.path!r})"
        return f"ClientAssertion(source={self.source!r})"
