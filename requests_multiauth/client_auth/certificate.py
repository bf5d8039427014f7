"""Mutual TLS client authentication (RFC 8705 §2): the client certificate presented in
the token endpoint's TLS handshake, and ``client_id`` in the body.

Where the request goes next: see :mod:`requests_multiauth.client_auth`.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

from .. import _jose
from ..errors import ConfigurationError
from ..transport.endpoint import ClientCert
from ..transport.tls import check_readable
from .base import Binding, ClientAuth

__all__ = ["Cert", "TlsClientAuth"]

Cert = Union[str, "os.PathLike[str]"]


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
