"""What every client authentication method is: a :class:`ClientAuth` that a grant binds
once to its client, and the :class:`Binding` it gives (the fields, headers, per-try
extras, certificate, secrets and public identity it adds to token requests).

Where the request goes next: the grant (grants/) merges the binding into each try of
the token call (see :mod:`requests_multiauth.client_auth`).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

from ..errors import ConfigurationError
from ..transport.endpoint import AttemptExtras, ClientCert

__all__ = ["Binding", "ClientAuth"]


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
