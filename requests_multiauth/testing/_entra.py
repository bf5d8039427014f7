"""Microsoft Entra ID's v2.0 token endpoint, its discovery documents, and a protected API, on loopback.

What is checked, as https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
and https://learn.microsoft.com/entra/identity-platform/certificate-credentials say:

* ``POST /{tenant}/oauth2/v2.0/token``, a form with ``grant_type=client_credentials``,
  the registered ``client_id`` and a ``scope`` ending in ``/.default``;
* exactly one credential: ``client_secret``; or a ``client_assertion`` signed by the
  registered certificate's key, found by its ``x5t#S256`` (PS256 or RS256) or ``x5t``
  (RS256) header, or by its ``x5c`` when the app trusts subject name and issuer, with
  ``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id, ``jti``, and an
  ``exp`` in the future; or a federated token signed by the emulator's own OIDC
  issuer (a stand-in for an AKS cluster's) whose ``iss``/``sub``/``aud`` match the
  app's federated credential.

Refusals are Entra ID's shape: ``{"error", "error_description": "AADSTS<code>: ...",
"error_codes": [<code>], "timestamp", "trace_id", "correlation_id", "error_uri"}``,
401 for ``invalid_client``, 400 otherwise. msal's discovery is served too
(``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/common/discovery/instance``),
so azure-identity and msal can be pointed at this emulator. The API under ``/v1.0/``
(Microsoft Graph's shape) accepts only the tokens issued here.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
import shutil
import tempfile
import uuid
from typing import Any, Dict, List, Optional

from .._jose import b64url
from ..client_auth import JWT_BEARER
from ..providers.entra_id import FEDERATED_TOKEN_AUDIENCE, EntraIdAuth
from ._crypto import certificate_der, certificate_pem, der_thumbprint, private_pem, self_signed_certificate
from ._emulator import ProviderEmulator
from ._server import Reply, Request
from ._wire import Refusal, oauth_form, same_secret

__all__ = ["EntraIdEmulator"]

#: The scope the emulator's API is reached with (Microsoft Graph's).
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

#: The subject of the emulator's workload (an AKS service account).
WORKLOAD_SUBJECT = "system:serviceaccount:default:workload"

#: The clock skew Entra ID allows a federated token, in seconds.
FEDERATED_SKEW = 300

#: Entra ID's error texts, by AADSTS code (the first sentence of each, as the service words it).
_TEXTS = {
    7000215: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
    "not the client secret ID, for a secret added to app '{client}'.",
    700016: "Application with identifier '{client}' was not found in the directory '{tenant}'.",
    90002: "Tenant '{tenant}' not found.",
    1002012: "The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
    "with /.default suffixed to the resource identifier (application ID URI).",
    700024: "Client assertion is not within its valid time range.",
    700027: "Client assertion failed signature validation.",
    700211: "No matching federated identity record found for presented assertion issuer '{issuer}'.",
    700212: "No matching federated identity record found for presented assertion audience '{audience}'.",
    70021: "No matching federated identity record found for presented assertion.",
    50027: "JWT token is invalid or malformed.",
    900144: "The request body must contain the following parameter: '{field}'.",
    900023: "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain.",
    7000218: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    70003: "The app requested an unsupported grant type '{grant}'.",
}


def _unpadded(value: Any) -> Optional[str]:
    return value.rstrip("=") if isinstance(value, str) else None


class EntraIdEmulator(ProviderEmulator):
    """Entra ID for one tenant and one app: secret, certificate and federated credentials.

    Attributes (made up once): ``tenant_id``, ``client_id``, ``client_secret``;
    ``certificate_path`` (a PEM holding the certificate and its key, as azure-identity
    reads), ``pfx_path`` with ``pfx_password``; ``federated_token_file`` (rewritten by
    :meth:`rotate_federated_token`). They live in a temporary directory removed by :meth:`stop`.

    Settings: ``accept_sha1`` (the app accepts ``x5t``; True, as Entra ID does today),
    ``subject_name_issuer`` (find the certificate by the ``x5c`` it carries, as SNI apps are),
    ``federated_subject`` (the subject the app's federated credential names).
    """

    name = "entra-id"
    api_path = "/v1.0/"
    default_lifetime = 3599.0  # Entra answers expires_in 3599 for a one-hour token

    tenant_id: str
    client_id: str
    client_secret: str
    accept_sha1: bool
    subject_name_issuer: bool
    federated_subject: str

    def _make_credentials(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = "Q~" + secrets.token_urlsafe(30)
        self.directory = tempfile.mkdtemp(prefix="entra-emulator-")
        # An app registration's certificate: self-signed RSA 2048, for one day.
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._certificate = self_signed_certificate("requests-multiauth-emulator", self._key)
        der = certificate_der(self._certificate)
        self.certificate_der = der
        self.certificate_pem = certificate_pem(self._certificate).decode("ascii")
        self.key_pem = private_pem(self._key).decode("ascii")
        self.certificate_path = f"{self.directory}/app-certificate.pem"
        with open(self.certificate_path, "w", encoding="ascii") as handle:
            handle.write(self.certificate_pem + self.key_pem)
        self.pfx_password = secrets.token_urlsafe(12)
        self.pfx_path = f"{self.directory}/app-certificate.pfx"
        with open(self.pfx_path, "wb") as handle:
            handle.write(
                pkcs12.serialize_key_and_certificates(
                    b"app", self._key, self._certificate, None, BestAvailableEncryption(self.pfx_password.encode())
                )
            )
        self.sha256_thumbprint = der_thumbprint(der)
        self.sha1_thumbprint = b64url(hashlib.sha1(der).digest())  # noqa: S324 - the legacy x5t header
        # The OIDC issuer that signs federated tokens (an AKS cluster's, say).
        self._issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.federated_token_file = f"{self.directory}/azure-identity-token"
        self._assertions: List[Dict[str, Any]] = []

    def _reset_settings(self) -> None:
        self.accept_sha1 = True
        self.subject_name_issuer = False
        self.federated_subject = WORKLOAD_SUBJECT

    def start(self) -> EntraIdEmulator:
        super().start()
        self.rotate_federated_token()
        return self

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- where it is ------------------------------------------------------------------

    @property
    def token_path(self) -> str:  # type: ignore[override]
        return f"/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def authority(self) -> str:
        """What to pass as ``authority=`` (or as ``from_env()``'s authority host variable): this origin."""
        return self.url

    @property
    def federated_issuer(self) -> str:
        """The ``iss`` of the federated tokens this emulator mints."""
        return f"{self.url}/oidc-issuer"

    @property
    def credentials(self) -> Dict[str, str]:
        return {"tenant_id": self.tenant_id, "client_id": self.client_id, "client_secret": self.client_secret}

    def environ_values(self) -> Dict[str, str]:
        """azure-identity's variables (by parameter): the secret, which ``EnvironmentCredential``
        chooses first, and the certificate and federated token files, for code that reads them itself."""
        return {
            **self.credentials,
            "certificate": self.certificate_path,
            "federated_token": self.federated_token_file,
            "authority": self.authority,
            "scope": GRAPH_SCOPE,
        }

    def auth(self, **options: Any) -> EntraIdAuth:
        """``EntraIdAuth`` with the client secret (unless *options* give another credential), Graph's
        scope and this emulator as the authority; *options* go to ``EntraIdAuth``."""
        if not any(name in options for name in ("certificate", "federated_token", "client_secret")):
            options["client_secret"] = self.client_secret
        options.setdefault("scope", GRAPH_SCOPE)
        options.setdefault("authority", self.authority)
        return EntraIdAuth(self.tenant_id, self.client_id, **self._auth_options(options))

    # -- federated tokens -------------------------------------------------------------------

    def mint_federated_token(
        self, *, lifetime: float = 3600.0, subject: Optional[str] = None, audience: str = FEDERATED_TOKEN_AUDIENCE
    ) -> str:
        """A federated token as the workload's platform issues it (signed by this emulator's issuer key)."""
        import jwt

        now = int(self.clock())
        claims = {
            "iss": self.federated_issuer,
            "sub": subject or WORKLOAD_SUBJECT,
            "aud": [audience],
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._issuer_key, algorithm="RS256", headers={"kid": "issuer-1"})

    def rotate_federated_token(self, **options: Any) -> str:
        """Write a new federated token to ``federated_token_file`` (as the kubelet rotates it); returns it."""
        token = self.mint_federated_token(**options)
        temporary = f"{self.federated_token_file}.new"
        with open(temporary, "w", encoding="ascii") as handle:
            handle.write(token)
        import os

        os.replace(temporary, self.federated_token_file)
        return token

    def assertions(self) -> List[Dict[str, Any]]:
        """The client assertions accepted so far: ``{"header": ..., "claims": ...}`` each, in order."""
        with self._lock:
            return list(self._assertions)

    # -- the request flow ------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == f"/{self.tenant_id}/v2.0/.well-known/openid-configuration":
            return Reply(200, self._openid_configuration())
        if request.method == "GET" and request.path == "/common/discovery/instance":
            return Reply(200, self._instance_discovery())
        return super()._handle(request)

    def _openid_configuration(self) -> Dict[str, Any]:
        base = f"{self.url}/{self.tenant_id}"
        return {
            "issuer": f"{self.url}/{self.tenant_id}/v2.0",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "NA",
        }

    def _instance_discovery(self) -> Dict[str, Any]:
        host = self.url.split("://", 1)[1]
        return {
            "tenant_discovery_endpoint": f"{self.url}/{self.tenant_id}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def _refuse(self, code: int, error: str, **values: str) -> Refusal:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        text = _TEXTS[code].format(client=self.client_id, tenant=self.tenant_id, **values)
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{self.url}/error?code={code}",
        }
        return Refusal(Reply(401 if error == "invalid_client" else 400, body))

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        form = oauth_form(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise self._refuse(900144, "invalid_request", field="grant_type")
        if grant_type != "client_credentials":
            raise self._refuse(70003, "unsupported_grant_type", grant=grant_type)
        if form.get("client_id") is None:
            raise self._refuse(900144, "invalid_request", field="client_id")
        if form["client_id"] != self.client_id:
            raise self._refuse(700016, "unauthorized_client")
        scope = form.get("scope")
        if scope is None:
            raise self._refuse(900144, "invalid_request", field="scope")
        if not all(part.endswith("/.default") for part in scope.split()) or len(scope.split()) != 1:
            raise self._refuse(1002012, "invalid_scope", scope=scope)
        if "client_secret" in form and "client_assertion" in form:
            raise self._refuse(7000218, "invalid_request")
        if "client_secret" in form:
            if not same_secret(form["client_secret"], self.client_secret):
                raise self._refuse(7000215, "invalid_client")
        elif "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise self._refuse(900144, "invalid_request", field="client_assertion_type")
            self._check_assertion(form["client_assertion"])
        else:
            raise self._refuse(7000218, "invalid_request")
        claims = {"tid": self.tenant_id, "appid": self.client_id, "aud": scope[: -len("/.default")]}
        token, _ = self._issue(self.client_id, claims=claims, scope=scope)
        lifetime = int(self.lifetime)
        return Reply(
            200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        )

    def _check_assertion(self, assertion: str) -> None:
        import jwt

        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise self._refuse(50027, "invalid_request") from None
        if unverified.get("iss") == self.federated_issuer:
            self._check_federated(assertion, unverified)
            return
        key = self._certificate_key(header)
        if key is None:
            raise self._refuse(700027, "invalid_client")
        alg = header.get("alg")
        if alg not in ("PS256", "RS256") or ("x5t" in header and "x5t#S256" not in header and alg != "RS256"):
            raise self._refuse(700027, "invalid_client")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                audience=self.token_url,
                issuer=self.client_id,
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
                leeway=300,  # Entra ID allows five minutes of clock skew
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise self._refuse(700024, "invalid_client") from None
        except jwt.PyJWTError:
            raise self._refuse(700027, "invalid_client") from None
        if claims.get("sub") != self.client_id:
            raise self._refuse(700027, "invalid_client")
        with self._lock:
            self._assertions.append({"header": dict(header), "claims": dict(claims)})

    def _certificate_key(self, header: Dict[str, Any]) -> Any:
        """The registered certificate's public key, if the header names that certificate."""
        if self.subject_name_issuer:
            chain = header.get("x5c")
            if isinstance(chain, list) and chain and base64.b64decode(chain[0]) == self.certificate_der:
                return self._certificate.public_key()
            return None
        # base64url, with or without padding: msal and azure-identity pad it, Entra ID accepts both.
        if _unpadded(header.get("x5t#S256")) == self.sha256_thumbprint:
            return self._certificate.public_key()
        if self.accept_sha1 and _unpadded(header.get("x5t")) == self.sha1_thumbprint:
            return self._certificate.public_key()
        return None

    def _check_federated(self, assertion: str, unverified: Dict[str, Any]) -> None:
        import jwt

        try:
            claims = jwt.decode(
                assertion,
                self._issuer_key.public_key(),
                algorithms=["RS256"],
                # the times are checked below on this emulator's clock, which minted the token
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "iss", "sub", "aud"],
                },
            )
        except jwt.PyJWTError:
            raise self._refuse(50027, "invalid_request") from None
        now = self.clock()
        if not claims["exp"] > now - FEDERATED_SKEW or claims.get("nbf", now) > now + FEDERATED_SKEW:
            raise self._refuse(700024, "invalid_client")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if FEDERATED_TOKEN_AUDIENCE not in audiences:
            raise self._refuse(700212, "invalid_client", audience=",".join(audiences))
        if claims["sub"] != self.federated_subject:
            raise self._refuse(70021, "invalid_client")
        with self._lock:
            self._assertions.append({"header": {"alg": "RS256"}, "claims": dict(claims), "federated": True})

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        # Microsoft Graph's answer to a bad token.
        return Reply(
            401,
            {"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}},
            {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
        )
