"""The generic ``oauth2`` provider: any OAuth 2.0 client-credentials server.

``multiauth token oauth2``, ``multiauth request oauth2 ...`` and
``get_provider("oauth2").build(environ)`` make a
:class:`~requests_multiauth.ClientCredentialsAuth` from the variables of
:data:`PROVIDER` (or the matching command-line options): the token endpoint
given by ``token_url`` or found by discovery from ``issuer``, and the client
authentication given by ``client_auth`` or inferred from what is at hand:

=================================  ==============================================
given                              client authentication
=================================  ==============================================
a private key file                 ``private_key_jwt`` (``PrivateKeyJwt``)
a client assertion file            an assertion made elsewhere (``ClientAssertion``)
a certificate file and no secret   ``tls_client_auth`` (``TlsClientAuth``)
a secret                           ``client_secret_basic`` (with an issuer:
                                   what the server lists, chosen by discovery)
=================================  ==============================================

Secrets (the client secret, the key's password) are read from the environment
(or, on the command line, from standard input), never from an argument; key and
assertion files are read by path. The messages name the command-line options,
as the command line is where these variables are mostly set.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

from ..client_auth import (
    TOKEN_ENDPOINT_AUTH_METHODS,
    ClientAssertion,
    ClientAuth,
    ClientAuthSpec,
    PrivateKeyJwt,
    TlsClientAuth,
)
from ..errors import ConfigurationError
from ..standard import ClientCredentialsAuth
from .registry import EnvVar, Provider

__all__ = ["CLIENT_AUTH_CHOICES", "PROVIDER", "oauth2_from_env"]

#: What ``client_auth`` (``--client-auth``) accepts: the registry's names, an assertion
#: made elsewhere, and this package's short forms.
CLIENT_AUTH_CHOICES = (*TOKEN_ENDPOINT_AUTH_METHODS, "client_assertion", "basic", "post")


def oauth2_from_env(environ: Optional[Mapping[str, str]] = None, **options: Any) -> ClientCredentialsAuth:
    """A ClientCredentialsAuth from the variables of :data:`PROVIDER` in *environ*
    (default ``os.environ``); *options* go to the class and win.

    Raises:
        ConfigurationError: a setting is missing, contradicts another, or a file
            cannot be used; the message names the option.
    """
    source = os.environ if environ is None else environ
    given = {var.parameter: source.get(var.name, "").strip() or None for var in PROVIDER.env}
    missing = [var.name for var in PROVIDER.env if var.required and given[var.parameter] is None]
    if missing:
        raise ConfigurationError(f"{', '.join(missing)} is not set: export it or pass --{_option(missing[0])}")
    issuer, token_url = given["issuer"], given["token_url"]
    if (issuer is None) == (token_url is None):
        issuer_variable, token_url_variable = PROVIDER.variable_name("issuer"), PROVIDER.variable_name("token_url")
        raise ConfigurationError(
            f"give the authorization server either by --issuer ({issuer_variable}, found by discovery) "
            f"or by --token-url ({token_url_variable}), not both and not neither"
        )
    secret = given["client_secret"]
    client_auth = _client_auth(given, secret, discovering=issuer is not None)
    params = {name: given[name] for name in ("audience", "resource") if given[name] is not None}
    keywords: Dict[str, Any] = {"scope": given["scope"], "params": params or None, **options}
    if client_auth is not None:
        keywords["client_auth"] = client_auth
    client_id = given["client_id"] or ""
    if issuer is not None:
        auth: ClientCredentialsAuth = ClientCredentialsAuth.from_issuer(issuer, client_id, secret, **keywords)
        return auth
    return ClientCredentialsAuth(client_id, secret, token_url or "", **keywords)


def _option(name: str) -> str:
    parameter = next(var.parameter for var in PROVIDER.env if var.name == name)
    return parameter.replace("_", "-")


def _client_auth(
    given: Mapping[str, Optional[str]], secret: Optional[str], *, discovering: bool
) -> Optional[ClientAuthSpec]:
    """The client authentication the settings ask for, or None to let discovery choose."""
    method = given["client_auth"]
    key_file, assertion_file, cert_file = given["private_key_file"], given["client_assertion_file"], given["cert_file"]
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
            kid=given["key_id"],
            password=given["private_key_password"],
            certificate=cert_file,
        )
        return made
    if method == "client_assertion":
        return ClientAssertion(_needed(assertion_file, "--client-assertion-file", method))
    if method in ("tls_client_auth", "self_signed_tls_client_auth"):
        return TlsClientAuth(
            _needed(cert_file, "--cert-file", method),
            given["key_file"],
            self_signed=method == "self_signed_tls_client_auth",
        )
    return method


def _needed(value: Optional[str], option: str, method: str) -> str:
    if value is None:
        raise ConfigurationError(f"--client-auth {method} needs {option}")
    return value


def _emulator(*, tls: Optional[bool] = None, **options: Any) -> Any:
    """The generic authorization server of ``requests_multiauth.testing`` (HTTPS only)."""
    from ..testing._authserver import OAuth2Emulator  # needs PyJWT: imported only when an emulator is made

    if tls is False:
        raise RuntimeError("the oauth2 emulator serves HTTPS only: it needs trustme")
    return OAuth2Emulator(**options)


#: The variables, in the order ``--help`` shows them.
PROVIDER = Provider(
    name="oauth2",
    auth_class=ClientCredentialsAuth,
    env=(
        EnvVar("OAUTH2_ISSUER", "issuer", "the issuer URL, for discovery (or the token URL)", required=False),
        EnvVar("OAUTH2_TOKEN_URL", "token_url", "the token endpoint (or the issuer)", required=False),
        EnvVar("OAUTH2_CLIENT_ID", "client_id", "the client id"),
        EnvVar("OAUTH2_CLIENT_SECRET", "client_secret", "the client secret", required=False, secret=True),
        EnvVar(
            "OAUTH2_CLIENT_AUTH",
            "client_auth",
            "an RFC 8414 method name; default: inferred from the files given",
            required=False,
        ),
        EnvVar(
            "OAUTH2_PRIVATE_KEY_FILE",
            "private_key_file",
            "PEM or JWK private key for private_key_jwt",
            required=False,
            path=True,
        ),
        EnvVar(
            "OAUTH2_PRIVATE_KEY_PASSWORD",
            "private_key_password",
            "the key file's password",
            required=False,
            secret=True,
        ),
        EnvVar("OAUTH2_KEY_ID", "key_id", "the kid of the private key", required=False),
        EnvVar(
            "OAUTH2_CLIENT_ASSERTION_FILE",
            "client_assertion_file",
            "a file holding an assertion made elsewhere",
            required=False,
            path=True,
        ),
        EnvVar("OAUTH2_CERT_FILE", "cert_file", "client certificate (PEM) for mutual TLS", required=False, path=True),
        EnvVar(
            "OAUTH2_KEY_FILE",
            "key_file",
            "the client certificate's key (PEM), if not in the certificate file",
            required=False,
            path=True,
        ),
        EnvVar("OAUTH2_SCOPE", "scope", "space-separated scopes", required=False),
        EnvVar("OAUTH2_AUDIENCE", "audience", "the audience parameter (Auth0 and others)", required=False),
        EnvVar("OAUTH2_RESOURCE", "resource", "the resource indicator (RFC 8707)", required=False),
    ),
    docs_url="https://requests-multiauth.readthedocs.io/en/latest/cli.html",
    emulator=_emulator,
    scheme="any OAuth 2.0 client-credentials server (secret, key, assertion or certificate)",
    from_env=oauth2_from_env,
)
