"""Who asks: how a client proves itself to a token endpoint.

A token request answers three questions, each in one place: *what* is asked
(the grant, :mod:`requests_multiauth.grants.base`), *who asks* (this module), and
how the token is then presented. Each class is one RFC 8414 client
authentication method and knows only what that method adds to a token request;
``secret``, ``assertion`` and ``certificate`` hold them by what the client proves
itself with, ``base`` what they all are, and this module, the one to import them
from, reads a ``client_auth=`` value (:func:`resolve_client_auth`):

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

from typing import Callable, Dict, Mapping, Union

from ..errors import ConfigurationError
from .assertion import (
    DEFAULT_ASSERTION_LIFETIME,
    JWT_BEARER,
    MAX_ASSERTION_LIFETIME,
    ClientAssertion,
    ClientSecretJwt,
    PrivateKeyJwt,
)
from .base import Binding, ClientAuth
from .certificate import TlsClientAuth
from .secret import ClientSecretBasic, ClientSecretPost, basic_auth_header

__all__ = [
    "DEFAULT_ASSERTION_LIFETIME",
    "JWT_BEARER",
    "MAX_ASSERTION_LIFETIME",
    "TOKEN_ENDPOINT_AUTH_METHODS",
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

#: The RFC 8414 registry's names of the methods a client authenticates at the token endpoint by
#: (https://www.iana.org/assignments/oauth-parameters/, "Token Endpoint Authentication Methods"),
#: each of which this package implements.
TOKEN_ENDPOINT_AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
)

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
