"""Microsoft Entra ID (Azure AD): the identity platform's v2.0 client credentials.

``POST {authority}/{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials``,
``client_id``, a ``scope`` ending in ``/.default``, and one way of proving the app:

* a client secret, in the body
  (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#first-case-access-token-request-with-a-shared-secret);
* a certificate: a client assertion signed with its key
  (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). That page
  names the certificate by ``x5t#S256`` and signs with PS256, as msal sends for a
  certificate it can hash (``thumbprint="sha256"``, the default); ``thumbprint="sha1"``
  sends the legacy ``x5t`` with RS256, as azure-identity's ``CertificateCredential`` does.
  ``x5c=True`` adds the certificate itself, for subject name / issuer authentication;
* a federated token (workload identity federation: AKS, GitHub Actions, another cloud)
  as the client assertion, read afresh from its file whenever Kubernetes rotates it
  (https://learn.microsoft.com/entra/workload-id/workload-identity-federation).

National clouds (``login.microsoftonline.us``, ``login.chinacloudapi.cn``) by ``authority=``
or ``AZURE_AUTHORITY_HOST``. ``from_env()`` reads azure-identity's variables with its
precedence (``EnvironmentCredential``: a secret, then a certificate; then workload identity).
Refusals carry Microsoft's ``AADSTS`` code; the message adds its documented meaning
(https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, Union

from .. import _jose
from ..auth import TokenAuth, TokenAuthOptions
from ..client_auth import DEFAULT_ASSERTION_LIFETIME, ClientAssertion, ClientAuth, ClientSecretPost, PrivateKeyJwt
from ..errors import ConfigurationError, TokenRequestError
from ..grants.base import ClientCredentialsGrant, Scope
from ..token import Token
from ..transport.endpoint import TokenEndpoint
from ._advice import advise
from .registry import EnvVar, FromEnv, LazyEmulator, Provider, env_arguments, get_provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AADSTS_ERRORS", "ENTRA_AUTHORITY", "PROVIDER", "EntraCertificate", "EntraIdAuth"]

#: The public cloud's authority host (azure-identity's ``AzureAuthorityHosts.AZURE_PUBLIC_CLOUD``).
ENTRA_AUTHORITY = "https://login.microsoftonline.com"

#: Where workload identity federation tokens are presented ("api://AzureADTokenExchange" is the
#: audience Entra ID expects of them: https://learn.microsoft.com/entra/workload-id/workload-identity-federation).
FEDERATED_TOKEN_AUDIENCE = "api://AzureADTokenExchange"

#: ``thumbprint=`` choices: the certificate hash Entra ID finds the certificate by, and the algorithm that goes with it.
THUMBPRINTS = {"sha256": ("x5t#S256", "PS256"), "sha1": ("x5t", "RS256")}

#: Documented meanings and what to do, by AADSTS code
#: (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
AADSTS_ERRORS: Mapping[str, Tuple[str, str]] = {
    "700016": (
        "the application was not found in the tenant",
        "check client_id (the app's Application (client) ID) and tenant_id; the app may be registered in another "
        "tenant or not consented in this one",
    ),
    "7000215": (
        "an invalid client secret was provided",
        "pass the secret's Value, not its Secret ID, from Certificates & secrets in the app registration",
    ),
    "7000222": ("the client secret has expired", "create a new client secret in the app registration"),
    "700024": (
        "the client assertion is not within its valid time range",
        "check the machine's clock; for a federated token, the token file must be the current one "
        "(it is re-read when it changes: check that the projected token is still refreshed)",
    ),
    "700027": (
        "the client assertion failed signature validation, or the certificate is not registered",
        "upload the certificate (its public part) to the app registration, or pass the certificate "
        "it already has; with thumbprint='sha1', check that the app accepts SHA-1 thumbprints",
    ),
    "70021": (
        "no federated identity credential of the app matches the presented token",
        "add a federated credential whose issuer, subject and audience match the token (for AKS: the cluster's "
        "OIDC issuer URL and system:serviceaccount:<namespace>:<name>)",
    ),
    "700211": (
        "no federated identity credential matches the token's issuer",
        "check the issuer URL of the app's federated credential",
    ),
    "700212": (
        "no federated identity credential matches the token's audience",
        f"the token's audience must be {FEDERATED_TOKEN_AUDIENCE} (or the one the federated credential names)",
    ),
    "70025": (
        "the app has no federated identity credentials",
        "add a federated credential to the app registration (or the user-assigned managed identity)",
    ),
    "90002": ("the tenant was not found", "check tenant_id and the authority (a national cloud has its own host)"),
    "1002012": (
        "the scope is not valid: client credentials need a scope ending in /.default",
        "ask for '<resource>/.default', e.g. 'https://graph.microsoft.com/.default'",
    ),
    "70011": ("the scope is invalid", "ask for '<resource>/.default', one resource per token"),
    "500011": (
        "the resource principal was not found in the tenant",
        "check the resource in scope (its application ID URI) and that it is consented in this tenant",
    ),
    "7000112": ("the application is disabled", "enable the app's service principal (Enterprise applications)"),
    "50034": (
        "the account does not exist in the directory",
        "check tenant_id: the app or account belongs to another tenant",
    ),
    "53003": (
        "access was blocked by Conditional Access policies",
        "ask the tenant's administrator to allow this workload identity",
    ),
}

_AADSTS = re.compile(r"AADSTS(\d+)")

FederatedSource = Union[str, "os.PathLike[str]", Callable[[], str]]


def _authority(value: str) -> str:
    """An authority host as azure-identity takes it: a bare host means HTTPS; no trailing slash."""
    value = value.strip().rstrip("/")
    if not value:
        raise ConfigurationError("authority is empty: pass 'https://login.microsoftonline.com' or a national cloud's")
    return value if "://" in value else f"https://{value}"


class EntraCertificate(PrivateKeyJwt):
    """Entra ID's certificate credential: a ``private_key_jwt`` that names its certificate.

    The header carries the certificate's ``x5t#S256`` (PS256) or ``x5t`` (SHA-1,
    RS256), and with *x5c* the certificate itself; the claims are those of
    https://learn.microsoft.com/entra/identity-platform/certificate-credentials:
    ``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id, ``jti``, ``iat``,
    ``exp`` (the page's optional ``nbf`` is left out, as msal and azure-identity leave it).
    The key and certificate are read once (a PEM holding both, or a PKCS #12 file with
    *password*); the key is never shown.
    """

    def __init__(
        self,
        certificate: Union[str, bytes, os.PathLike[str]],
        *,
        password: Union[str, bytes, None] = None,
        thumbprint: str = "sha256",
        x5c: bool = False,
        lifetime: float = DEFAULT_ASSERTION_LIFETIME,
    ) -> None:
        if thumbprint not in THUMBPRINTS:
            raise ConfigurationError(f"thumbprint={thumbprint!r}: use 'sha256' (PS256, the default) or 'sha1' (RS256)")
        header, alg = THUMBPRINTS[thumbprint]
        key, der = _key_and_certificate(certificate, password)
        super().__init__(key, alg=alg, lifetime=lifetime)
        self.thumbprint_kind = thumbprint
        digest = hashlib.sha256(der).digest() if thumbprint == "sha256" else hashlib.sha1(der).digest()  # noqa: S324 - SHA-1 is the x5t the legacy header asks for, not a security hash
        self._headers: Dict[str, Any] = {header: _jose.b64url(digest)}
        if x5c:
            self._headers["x5c"] = [base64.b64encode(der).decode("ascii")]  # RFC 7515 §4.1.6: standard base64 DER
        self.x5t_s256 = None  # the header is ours (above), not PrivateKeyJwt's

    def _sign(self, claims: Dict[str, Any], client_secret: Optional[str]) -> str:
        return self.key.sign(claims, self._headers)

    def __repr__(self) -> str:
        return f"EntraCertificate(thumbprint={self.thumbprint_kind!r}, alg={self.alg!r}, x5c={'x5c' in self._headers})"


def _key_and_certificate(
    certificate: Union[str, bytes, os.PathLike[str]], password: Union[str, bytes, None]
) -> Tuple[Any, bytes]:
    """The private key and the certificate's DER, from a PEM holding both or a PKCS #12 (PFX) file."""
    if isinstance(certificate, (str, os.PathLike)) and not (
        isinstance(certificate, str) and "-----BEGIN" in certificate
    ):
        path = os.fspath(certificate)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ConfigurationError(
                f"certificate: cannot read {path!r} ({exc.strerror or type(exc).__name__}): pass the path of a PEM "
                "holding the certificate and its private key, or of a .pfx with password="
            ) from None
    else:
        data = certificate.encode("utf-8") if isinstance(certificate, str) else bytes(certificate)
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY-----" not in data or b"-----BEGIN CERTIFICATE-----" not in data:
            raise ConfigurationError(
                "certificate: the PEM must hold both the certificate and its private key (as azure-identity's "
                "certificate file does): concatenate them"
            )
        keys = re.findall(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", data, re.S)
        key = _jose.load_signing_key(keys[0], password=password, what="the certificate's private key").private_key
        return key, _jose.certificate_der(data)
    _jose.require_jwt("a certificate")
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, secret)
    except ValueError:
        raise ConfigurationError(
            "certificate: not a PEM, and not a PKCS #12 (.pfx) file this password opens: check password="
        ) from None
    if key is None or cert is None:
        raise ConfigurationError("certificate: the .pfx holds no private key or no certificate: export both")
    return key, cert.public_bytes(Encoding.DER)


def _federated(source: FederatedSource) -> ClientAssertion:
    """The federated token as a client assertion: a path is re-read when it changes; a callable is called per
    token call; a plain string that is not an existing file is the token itself."""
    if isinstance(source, str) and not os.path.exists(source) and source.count(".") == 2:
        literal = source.strip()
        return ClientAssertion(lambda: literal)
    return ClientAssertion(source)


class EntraIdGrant(ClientCredentialsGrant):
    """Client credentials as the identity platform takes them; refusals name their AADSTS meaning."""

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        try:
            return super().fetch(endpoint, previous, now)
        except TokenRequestError as exc:
            found = _AADSTS.search(exc.error_description or "") or _AADSTS.search(str(exc))
            meaning, hint = AADSTS_ERRORS.get(found.group(1), (None, None)) if found else (None, None)
            raise advise(exc, f"AADSTS{found.group(1)}: {meaning}" if meaning and found else None, hint) from None


class EntraIdAuth(FromEnv, TokenAuth):
    """An API protected by Microsoft Entra ID, as an app (client credentials). Safe for concurrent use.

    Args:
        tenant_id: the directory (tenant) ID or a verified domain.
        client_id: the app's Application (client) ID.
        client_secret: the app's secret value; or
        certificate: a PEM path or bytes holding the certificate and its private key,
            or a PKCS #12 (.pfx) path or bytes, opened with *password*; or
        federated_token: a federated token source: a ``pathlib.Path`` or path (re-read
            when the file changes, as Kubernetes rotates it), a callable, or the token.
        password: the password of the certificate's key or .pfx.
        thumbprint: ``"sha256"`` (``x5t#S256`` + PS256, the default) or ``"sha1"`` (``x5t`` + RS256).
        x5c: send the certificate in the assertion (subject name / issuer authentication).
        scope: the resource's ``.default`` scope (``"https://graph.microsoft.com/.default"``); required.
        authority: the cloud's login host; ``https://login.microsoftonline.us`` for US Government.
        token_url: the token endpoint; default ``{authority}/{tenant_id}/oauth2/v2.0/token``.
        options: the options of every renewing auth (``cache``, ``leeway``, ``session`` ...).

    Environment (``from_env()``, azure-identity's names and precedence): ``AZURE_TENANT_ID``,
    ``AZURE_CLIENT_ID``, then ``AZURE_CLIENT_SECRET``, or ``AZURE_CLIENT_CERTIFICATE_PATH``
    (``AZURE_CLIENT_CERTIFICATE_PASSWORD``, ``AZURE_CLIENT_SEND_CERTIFICATE_CHAIN``), or
    ``AZURE_FEDERATED_TOKEN_FILE``; ``AZURE_AUTHORITY_HOST``; our ``ENTRA_ID_SCOPE``
    and ``ENTRA_ID_CA_BUNDLE``.

    Raises:
        ConfigurationError: no credential or more than one, a scope without ``/.default``,
            an unreadable certificate or wrong password.
        TokenRequestError, InvalidClientError: Entra ID refused; the message names the AADSTS code's meaning.
    """

    provider_name = "entra-id"

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: Optional[str] = None,
        certificate: Union[str, bytes, os.PathLike[str], None] = None,
        password: Union[str, bytes, None] = None,
        thumbprint: str = "sha256",
        x5c: bool = False,
        federated_token: Optional[FederatedSource] = None,
        scope: Scope = None,
        authority: str = ENTRA_AUTHORITY,
        token_url: Optional[str] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        for label, value in (("tenant_id", tenant_id), ("client_id", client_id)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{label} is missing or empty: copy it from the app registration's Overview")
        given = [
            name
            for name, value in (
                ("client_secret", client_secret),
                ("certificate", certificate),
                ("federated_token", federated_token),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ConfigurationError(
                "pass exactly one of client_secret=, certificate= or federated_token= "
                + (f"(got {', '.join(given)})" if given else "(got none)")
            )
        scopes = [scope] if isinstance(scope, str) else list(scope or ())
        if not scopes or not all(s.strip() for s in scopes):
            raise ConfigurationError(
                "scope= is required: the resource's '.default' scope, like 'https://graph.microsoft.com/.default'"
            )
        # "the value passed for the scope parameter ... should be the resource identifier ... affixed with the
        # .default suffix" (v2-oauth2-client-creds-grant-flow#first-case-access-token-request-with-a-shared-secret)
        if not all(s.strip().endswith("/.default") for s in scopes):
            raise ConfigurationError(
                f"scope={scope!r}: client credentials take the resource's '.default' scope "
                "('https://graph.microsoft.com/.default'); Entra ID would answer AADSTS1002012"
            )
        self.tenant_id = tenant_id
        self.authority = _authority(authority)
        url = token_url or f"{self.authority}/{tenant_id}/oauth2/v2.0/token"
        # Exactly one is given (checked above); a secret goes in the body, as the client-credentials page shows.
        client_auth: ClientAuth = ClientSecretPost()
        self.credential = "secret"
        if certificate is not None:
            client_auth = EntraCertificate(certificate, password=password, thumbprint=thumbprint, x5c=x5c)
            self.credential = "certificate"
        elif federated_token is not None:
            client_auth = _federated(federated_token)
            self.credential = "federated_token"
        grant = EntraIdGrant(client_id, client_secret, scope=scopes, client_auth=client_auth, token_url=url)
        self.client_id = client_id
        self.scope = grant.scope
        self.client_auth = client_auth
        super().__init__(grant, url, **options)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any) -> EntraIdAuth:
        """Build from azure-identity's variables, with ``EnvironmentCredential``'s precedence:
        a client secret, else a certificate, else a federated token file (workload identity).
        *options* win over any variable; a credential given in *options* wins over all."""
        arguments = env_arguments(get_provider(cls.provider_name), cls, environ, options)  # options on top
        credentials = ("client_secret", "certificate", "federated_token")
        chosen = next((name for name in credentials if name in options), None)
        chosen = chosen or next((name for name in credentials if name in arguments), None)
        for name in credentials:
            if name != chosen and name not in options:
                arguments.pop(name, None)
        if chosen != "certificate":
            for name in ("password", "x5c"):
                if name not in options:
                    arguments.pop(name, None)
        if chosen == "federated_token" and "federated_token" not in options:
            arguments["federated_token"] = Path(arguments["federated_token"])
        return cls(**arguments)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (
            *super()._public_fields(),
            ("client_id", self.client_id),
            ("credential", self.credential),
            ("scope", self.scope),
        )


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes")


PROVIDER = Provider(
    name="entra-id",
    auth_class=EntraIdAuth,
    env=(
        EnvVar("AZURE_TENANT_ID", "tenant_id", "the directory (tenant) ID"),
        EnvVar("AZURE_CLIENT_ID", "client_id", "the app's Application (client) ID"),
        EnvVar("AZURE_CLIENT_SECRET", "client_secret", "the app's client secret", required=False, secret=True),
        EnvVar(
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "certificate",
            "a PEM (certificate and key) or .pfx file",
            required=False,
            path=True,
        ),
        EnvVar(
            "AZURE_CLIENT_CERTIFICATE_PASSWORD", "password", "the certificate's password", required=False, secret=True
        ),
        EnvVar(
            "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
            "x5c",
            "send the certificate (subject name/issuer auth)",
            required=False,
            convert=_flag,
        ),
        EnvVar(
            "AZURE_FEDERATED_TOKEN_FILE",
            "federated_token",
            "a federated token file (workload identity)",
            required=False,
            path=True,
        ),
        EnvVar("AZURE_AUTHORITY_HOST", "authority", "the cloud's login host", required=False),
        EnvVar("ENTRA_ID_SCOPE", "scope", "the resource's .default scope", required=False),
        EnvVar("ENTRA_ID_CA_BUNDLE", "verify", "a CA bundle for the token calls", required=False, path=True),
    ),
    docs_url="https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow",
    emulator=LazyEmulator("requests_multiauth.testing._entra:EntraIdEmulator"),
    scheme="Entra ID v2.0 client credentials: secret, certificate or federated token",
    from_env=EntraIdAuth.from_env,  # azure-identity's precedence among the credentials it finds
)
