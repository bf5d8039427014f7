"""The ``oauth2`` provider of the command line: any client-credentials server.

``multiauth token oauth2`` and ``multiauth request oauth2 ...`` build a
:class:`~requests_multiauth.ClientCredentialsAuth` from ``OAUTH2_*``
environment variables (or the matching options): the token endpoint given by
``--token-url`` or found by discovery from ``--issuer``, and the client
authentication given by ``--client-auth`` or inferred from what is at hand:

=================================  ==============================================
given                              client authentication
=================================  ==============================================
``--private-key-file``             ``private_key_jwt`` (``PrivateKeyJwt``)
``--client-assertion-file``        an assertion made elsewhere (``ClientAssertion``)
``--cert-file`` and no secret      ``tls_client_auth`` (``TlsClientAuth``)
a secret                           ``client_secret_basic`` (with ``--issuer``:
                                   what the server lists, chosen by discovery)
=================================  ==============================================

Secrets (the client secret, the key's password) are read from the environment
or from standard input, never from an argument; key and assertion files are
read by path. The table of settings lives here so that cli.py only lists the
provider.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from ..client_auth import ClientAssertion, ClientAuth, ClientAuthSpec, PrivateKeyJwt, TlsClientAuth
from ..errors import ConfigurationError
from ..standard import ClientCredentialsAuth

__all__ = ["CLIENT_AUTH_CHOICES", "oauth2_from_env"]

#: What ``--client-auth`` accepts.
CLIENT_AUTH_CHOICES = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
    "client_assertion",
    "basic",
    "post",
)


def _get(environ: Mapping[str, str], name: str) -> Optional[str]:
    value = environ.get(name, "").strip()
    return value or None


def oauth2_from_env(environ: Mapping[str, str], **options: Any) -> ClientCredentialsAuth:
    """A ClientCredentialsAuth from the ``OAUTH2_*`` settings.

    Raises:
        ConfigurationError: a setting is missing, contradicts another, or a file
            cannot be used; the message names the option.
    """
    issuer = _get(environ, "OAUTH2_ISSUER")
    token_url = _get(environ, "OAUTH2_TOKEN_URL")
    if (issuer is None) == (token_url is None):
        raise ConfigurationError(
            "give the authorization server either by --issuer (OAUTH2_ISSUER, found by discovery) "
            "or by --token-url (OAUTH2_TOKEN_URL), not both and not neither"
        )
    client_id = _get(environ, "OAUTH2_CLIENT_ID") or ""
    secret = _get(environ, "OAUTH2_CLIENT_SECRET")
    client_auth = _client_auth(environ, secret, discovering=issuer is not None)
    params: Dict[str, str] = {}
    for name in ("audience", "resource"):
        value = _get(environ, f"OAUTH2_{name.upper()}")
        if value is not None:
            params[name] = value
    scope = _get(environ, "OAUTH2_SCOPE")
    keywords: Dict[str, Any] = {"scope": scope, "params": params or None, **options}
    if client_auth is not None:
        keywords["client_auth"] = client_auth
    if issuer is not None:
        from_issuer = getattr(ClientCredentialsAuth, "from_issuer", None)
        if from_issuer is None:  # pragma: no cover - until discovery lands
            raise ConfigurationError("--issuer needs discovery, which this version lacks: pass --token-url")
        auth: ClientCredentialsAuth = from_issuer(issuer, client_id, secret, **keywords)
        return auth
    return ClientCredentialsAuth(client_id, secret, token_url or "", **keywords)


def _client_auth(environ: Mapping[str, str], secret: Optional[str], *, discovering: bool) -> Optional[ClientAuthSpec]:
    """The client authentication the settings ask for, or None to let discovery choose."""
    method = _get(environ, "OAUTH2_CLIENT_AUTH")
    key_file = _get(environ, "OAUTH2_PRIVATE_KEY_FILE")
    assertion_file = _get(environ, "OAUTH2_CLIENT_ASSERTION_FILE")
    cert_file = _get(environ, "OAUTH2_CERT_FILE")
    if method is None:
        if key_file is not None:
            method = "private_key_jwt"
        elif assertion_file is not None:
            method = "client_assertion"
        elif cert_file is not None and secret is None:
            method = "tls_client_auth"
        elif discovering:
            return None
        else:
            method = "client_secret_basic"
    if method not in CLIENT_AUTH_CHOICES:
        raise ConfigurationError(f"--client-auth {method} is not one of {', '.join(CLIENT_AUTH_CHOICES)}")
    made: ClientAuth
    if method == "private_key_jwt":
        made = PrivateKeyJwt(
            _needed(key_file, "--private-key-file", method),
            kid=_get(environ, "OAUTH2_KEY_ID"),
            password=_get(environ, "OAUTH2_PRIVATE_KEY_PASSWORD"),
            certificate=cert_file,
        )
        return made
    if method == "client_assertion":
        return ClientAssertion(_needed(assertion_file, "--client-assertion-file", method))
    if method in ("tls_client_auth", "self_signed_tls_client_auth"):
        return TlsClientAuth(
            _needed(cert_file, "--cert-file", method),
            _get(environ, "OAUTH2_KEY_FILE"),
            self_signed=method == "self_signed_tls_client_auth",
        )
    return method


def _needed(value: Optional[str], option: str, method: str) -> str:
    if value is None:
        raise ConfigurationError(f"--client-auth {method} needs {option}")
    return value


#: The settings as (variable, option, help, secret) rows, in the order --help shows them.
SETTINGS: Tuple[Tuple[str, str, str, bool], ...] = (
    ("OAUTH2_ISSUER", "--issuer", "the issuer URL, for discovery (or --token-url)", False),
    ("OAUTH2_TOKEN_URL", "--token-url", "the token endpoint (or --issuer)", False),
    ("OAUTH2_CLIENT_ID", "--client-id", "the client id", False),
    ("OAUTH2_CLIENT_SECRET", "--client-secret-stdin", "the client secret, read from stdin", True),
    ("OAUTH2_CLIENT_AUTH", "--client-auth", "an RFC 8414 method name; default: inferred from the files given", False),
    ("OAUTH2_PRIVATE_KEY_FILE", "--private-key-file", "PEM or JWK private key for private_key_jwt", False),
    ("OAUTH2_PRIVATE_KEY_PASSWORD", "--private-key-password-stdin", "the key file's password, read from stdin", True),
    ("OAUTH2_KEY_ID", "--key-id", "the kid of the private key", False),
    ("OAUTH2_CLIENT_ASSERTION_FILE", "--client-assertion-file", "a file holding an assertion made elsewhere", False),
    ("OAUTH2_CERT_FILE", "--cert-file", "client certificate (PEM) for mutual TLS", False),
    ("OAUTH2_KEY_FILE", "--key-file", "the client certificate's key (PEM), if not in --cert-file", False),
    ("OAUTH2_SCOPE", "--scope", "space-separated scopes", False),
    ("OAUTH2_AUDIENCE", "--audience", "the audience parameter (Auth0 and others)", False),
    ("OAUTH2_RESOURCE", "--resource", "the resource indicator (RFC 8707)", False),
)
