"""Cloud metadata servers on loopback: Google's and Azure's managed identity endpoints.

A metadata emulator runs two servers, as the cloud does: the metadata server over
plain HTTP (it is on the machine, and the token request carries no secret) and a
protected API over HTTPS that accepts only the tokens the metadata server issued.
The presets reach the metadata server the way the vendors' SDKs allow: through the
platform's own variable (google-auth's metadata host, App Service's identity endpoint,
AKS pod identity's IMDS host: the provider records name them), which :meth:`environ` gives.

Each checks requests as the vendor's server does and refuses deviations with the
vendor's own answers; ``inject()`` queues faults on the metadata server (a 410
while IMDS updates, a dropped connection).
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple, TypeVar

from ._emulator import Issued, ProviderEmulator
from ._google import google_api_refusal
from ._server import LocalServer, Reply, Request
from ._wire import Refusal, seconds

__all__ = ["AzureManagedIdentityEmulator", "GoogleMetadataEmulator"]

M = TypeVar("M", bound="_MetadataEmulator")


class _MetadataEmulator(ProviderEmulator):
    """The metadata server (plain HTTP) beside the protected API (HTTPS, the base's server)."""

    api_path = "/api/"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.metadata_server = LocalServer(self._handle_metadata, tls=False)

    def start(self: M) -> M:
        self.metadata_server.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.metadata_server.stop()

    def reset(self) -> None:
        super().reset()
        self.metadata_server.clear()

    @property
    def metadata_url(self) -> str:
        """The metadata server's origin, ``http://127.0.0.1:PORT``."""
        return self.metadata_server.url

    @property
    def metadata_host(self) -> str:
        """``127.0.0.1:PORT``."""
        return self.metadata_server.url.split("://", 1)[1]

    @property
    def token_url(self) -> str:
        """The metadata server's token URL, as the preset builds it from :meth:`environ`."""
        raise NotImplementedError

    def token_requests(self) -> List[Request]:
        """The token requests the metadata server received, in order."""
        return [r for r in self.metadata_server.received() if self._is_token_path(r.path)]

    def _is_token_path(self, path: str) -> bool:
        raise NotImplementedError

    def _auth_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        # The metadata call is plain HTTP by the metadata rule, not by allow_insecure_loopback:
        # the auth keeps refusing plain HTTP everywhere else, as in the cloud.
        options.setdefault("clock", self.clock)
        options.setdefault("environ", self.environ())
        # Without TLS (no trustme) the API is plain HTTP on loopback too, as for every emulator.
        options.setdefault("allow_insecure_loopback", not self.tls)
        return options

    def _handle(self, request: Request) -> Reply:
        """The API server: only the protected API lives there."""
        if not self._is_api(request.path):
            return Reply(404, {"message": f"no such path: {request.path}"})
        self._bump("api")
        fault = self._take_fault("api")
        if fault is not None:
            return fault
        return self._api(request)

    def _is_api(self, path: str) -> bool:
        return path.startswith(self.api_path)

    def _handle_metadata(self, request: Request) -> Reply:
        token = self._is_token_path(request.path)
        if token:
            self._bump("token")
            if self.latency > 0:
                time.sleep(self.latency)
            fault = self._take_fault("token")
            if fault is not None:
                return fault
        try:
            return self._metadata(request)
        except Refusal as refusal:
            return refusal.reply

    def _metadata(self, request: Request) -> Reply:
        raise NotImplementedError

    def _remember(self, token: str, subject: str, expires_at: float, scope: Optional[str]) -> None:
        with self._lock:
            self._tokens[token] = Issued(subject=subject, expires_at=expires_at, scope=scope)
            self._counts["issued"] = self._counts.get("issued", 0) + 1


# -- Google ----------------------------------------------------------------------------------

#: The scopes a VM's default service account has unless told otherwise.
GOOGLE_DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

_GOOGLE_ACCOUNT = re.compile(r"^/computeMetadata/v1/instance/service-accounts/([^/]+)/(token|identity|)$")


class GoogleMetadataEmulator(_MetadataEmulator):
    """Google's metadata server (https://cloud.google.com/compute/docs/metadata/querying-metadata).

    Serves, for the ``default`` account and its email:

    * ``GET /computeMetadata/v1/instance/service-accounts/{account}/token[?scopes=a,b]``:
      ``{"access_token", "expires_in", "token_type": "Bearer"}`` (JSON);
    * ``.../identity?audience=...[&format=full]``: an RS256 ID token as text, its
      signature checkable against :attr:`public_key`;
    * ``.../{account}/?recursive=true``: ``{"email", "scopes", "aliases"}`` (google-auth reads it);
    * ``/``: the detection ping.

    Every request must carry ``Metadata-Flavor: Google`` and no ``X-Forwarded-For``
    (403 otherwise, as the real server answers); every answer carries
    ``Metadata-Flavor: Google`` unless :attr:`flavor_header` is False (a stand-in
    that is not Google's server).

    Attributes:
        email: the default service account's email.
        flavor_header: answer with ``Metadata-Flavor: Google`` (default True).
    """

    name = "google-metadata"
    default_lifetime = 3599.0

    def _make_credentials(self) -> None:
        from .._jose import generate_signing_key

        self.email = "app@demo-project.iam.gserviceaccount.com"
        self.numeric_id = str(100000000000000000000 + secrets.randbelow(10**20))
        self._id_key = generate_signing_key("RS256", kid=secrets.token_hex(20))

    def _reset_settings(self) -> None:
        self.flavor_header = True

    @property
    def public_key(self) -> Any:
        """The public key the ID tokens are signed with (a ``cryptography`` key)."""
        return self._id_key.private_key.public_key()

    @property
    def credentials(self) -> Dict[str, str]:
        return {}

    def environ(self) -> Dict[str, str]:
        """The platform variable of the preset's record (google-auth's metadata host) at this server."""
        return _variables(self.name, metadata_host=self.metadata_host)

    def auth(self, **options: Any) -> Any:
        """``GoogleMetadataAuth`` at this emulator; *options* go to it."""
        from ..providers.google_metadata import GoogleMetadataAuth

        if "session" not in options:
            options["session"] = self.api_session()
        return GoogleMetadataAuth(**self._auth_options(options))

    @property
    def token_url(self) -> str:
        return self.metadata_url + "/computeMetadata/v1/instance/service-accounts/default/token"

    def _is_token_path(self, path: str) -> bool:
        match = _GOOGLE_ACCOUNT.match(path)
        return match is not None and match.group(2) in ("token", "identity")

    def _reply(self, status: int, body: Any, content_type: Optional[str] = None) -> Reply:
        headers = {"Metadata-Flavor": "Google"} if self.flavor_header else {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return Reply(status, body, headers)

    def _metadata(self, request: Request) -> Reply:
        if request.method != "GET":
            return self._reply(405, "Method Not Allowed", "text/html; charset=UTF-8")
        if "X-Forwarded-For" in request.headers:
            return self._reply(403, "Request denied: X-Forwarded-For header present", "text/html; charset=UTF-8")
        if request.headers.get("Metadata-Flavor") != "Google":
            return self._reply(
                403,
                "Missing required header: Metadata-Flavor\nYour client does not have permission to get URL "
                f"{request.path} from this server. Missing Metadata-Flavor:Google header.",
                "text/html; charset=UTF-8",
            )
        if request.path == "/":
            return self._reply(200, "computeMetadata/\n", "application/text")
        match = _GOOGLE_ACCOUNT.match(request.path)
        if match is None or match.group(1) not in ("default", self.email):
            return self._reply(404, "Not Found", "text/html; charset=UTF-8")
        what = match.group(2)
        if what == "":
            return self._reply(
                200, {"aliases": ["default"], "email": self.email, "scopes": list(GOOGLE_DEFAULT_SCOPES)}
            )
        if what == "token":
            scopes = _single(request, "scopes")
            scope = " ".join(scopes.split(",")) if scopes else " ".join(GOOGLE_DEFAULT_SCOPES)
            now = self.clock()
            token = "ya29." + secrets.token_urlsafe(48)
            self._remember(token, self.email, now + self.lifetime, scope)
            return self._reply(200, {"access_token": token, "expires_in": int(self.lifetime), "token_type": "Bearer"})
        audience = _single(request, "audience")
        if not audience:
            return self._reply(400, "non-empty audience parameter required", "text/html; charset=UTF-8")
        now = self.clock()
        claims: Dict[str, Any] = {
            "aud": audience,
            "azp": self.numeric_id,
            "email": self.email,
            "email_verified": True,
            "exp": int(now + self.lifetime),
            "iat": int(now),
            "iss": "https://accounts.google.com",
            "sub": self.numeric_id,
        }
        if _single(request, "format") == "full":
            claims["google"] = {
                "compute_engine": {
                    "instance_id": "4803829016410217431",
                    "instance_name": "emulated-vm",
                    "project_id": "demo-project",
                    "project_number": 123456789012,
                    "zone": "europe-west1-b",
                }
            }
        id_token = self._id_key.sign(claims, {"typ": "JWT"})
        self._remember(id_token, self.email, now + self.lifetime, None)
        return self._reply(200, id_token, "text/html; charset=utf-8")

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        return google_api_refusal()


def _single(request: Request, name: str) -> Optional[str]:
    values = request.query.get(name)
    return values[0] if values else None


# -- Azure -----------------------------------------------------------------------------------

#: IMDS's token path and the API version azure-identity and msal send.
#: https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
IMDS_PATH = "/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
#: App Service's endpoint (its identity endpoint variable names it) and its API version.
#: https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference
APP_SERVICE_PATH = "/msi/token"
APP_SERVICE_API_VERSION = "2019-08-01"

#: Where the emulator says it runs: an Azure VM (IMDS) or App Service / Functions / Container Apps.
PLATFORMS = ("imds", "app_service")


class _Identity:
    def __init__(self) -> None:
        self.client_id = str(uuid.uuid4())
        self.object_id = str(uuid.uuid4())
        name = f"id-{secrets.token_hex(4)}"
        self.resource_id = (
            f"/subscriptions/{uuid.uuid4()}/resourcegroups/demo/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
        )


class AzureManagedIdentityEmulator(_MetadataEmulator):
    """Azure's managed identity endpoints: IMDS (a VM, AKS) and App Service's.

    IMDS: ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...``
    with ``Metadata: true`` (and ``client_id``, ``object_id`` or ``msi_res_id`` for a
    user-assigned identity), answered with string-valued ``expires_in`` /
    ``expires_on``, as IMDS does. App Service: ``GET {identity endpoint}?api-version=
    2019-08-01&resource=...`` with ``X-IDENTITY-HEADER`` (``client_id``,
    ``principal_id`` / ``object_id`` or ``mi_res_id``), answered with a string
    ``expires_on``. Refusals are the vendors' (IMDS's ``invalid_request`` /
    ``invalid_resource``; App Service's ``statusCode`` / ``message``).

    Args:
        platform: ``"imds"`` (default) or ``"app_service"``: which variables
            :meth:`environ` gives, as the platform sets them.

    Attributes:
        system: the system-assigned identity; ``user``: one user-assigned identity
            (``client_id``, ``object_id``, ``resource_id``).
        identity_header: the value of App Service's identity header variable.
    """

    name = "azure-managed-identity"
    default_lifetime = 86399.0  # IMDS tokens live about a day

    def __init__(self, *, platform: str = "imds", **options: Any) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"platform={platform!r}: expected one of {PLATFORMS}")
        self.platform = platform
        super().__init__(**options)

    def _make_credentials(self) -> None:
        self.system = _Identity()
        self.user = _Identity()
        self.identity_header = str(uuid.uuid4())

    @property
    def credentials(self) -> Dict[str, str]:
        return {}

    def environ(self) -> Dict[str, str]:
        """The variables the platform sets (the preset record's): the identity endpoint and
        header on App Service, the pod identity's IMDS host for IMDS (its documented override);
        and the scope of this emulator's API."""
        scope = self.resource + "/.default"
        if self.platform == "app_service":
            return _variables(
                self.name,
                identity_endpoint=self.metadata_url + APP_SERVICE_PATH,
                identity_header=self.identity_header,
                scope=scope,
            )
        return _variables(self.name, imds_host=self.metadata_url, scope=scope)

    def auth(self, **options: Any) -> Any:
        """``AzureManagedIdentityAuth`` at this emulator (``scope`` default: the API's); *options* go to it."""
        from ..providers.azure_managed_identity import AzureManagedIdentityAuth

        if "session" not in options:
            options["session"] = self.api_session()
        if "resource" not in options:
            options.setdefault("scope", self.resource + "/.default")
        return AzureManagedIdentityAuth(**self._auth_options(options))

    @property
    def resource(self) -> str:
        """The resource the protected API stands for (Azure Resource Manager's)."""
        return "https://management.azure.com"

    @property
    def token_url(self) -> str:
        return self.metadata_url + (APP_SERVICE_PATH if self.platform == "app_service" else IMDS_PATH)

    def _is_token_path(self, path: str) -> bool:
        return path in (IMDS_PATH, APP_SERVICE_PATH)

    def _metadata(self, request: Request) -> Reply:
        if request.path == IMDS_PATH:
            return self._imds(request)
        if request.path == APP_SERVICE_PATH:
            return self._app_service(request)
        return Reply(404, {"error": "not_found", "error_description": "no such path"})

    def _identity(self, request: Request, names: Tuple[str, str, str]) -> _Identity:
        given = [(name, values[0]) for name, values in request.query.items() if name in names and values]
        if len(given) > 1:
            raise Refusal(
                Reply(400, {"error": "invalid_request", "error_description": "Multiple identities specified"})
            )
        if not given:
            return self.system
        name, value = given[0]
        attribute = ("client_id", "object_id", "resource_id")[names.index(name)]
        for identity in (self.user,):
            if getattr(identity, attribute).lower() == value.lower():
                return identity
        raise Refusal(Reply(400, {"error": "invalid_request", "error_description": "Identity not found"}))

    def _imds(self, request: Request) -> Reply:
        # https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling
        if request.method != "GET":
            return Reply(405, {"error": "invalid_request", "error_description": "Method not allowed"})
        if "X-Forwarded-For" in request.headers:
            return Reply(400, {"error": "invalid_request", "error_description": "Request has X-Forwarded-For header"})
        if request.headers.get("Metadata", "").lower() != "true":
            return Reply(
                400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}
            )
        if _single(request, "api-version") != IMDS_API_VERSION:
            return Reply(400, {"error": "invalid_request", "error_description": "Invalid api-version"})
        resource = _single(request, "resource")
        if not resource:
            return Reply(
                400, {"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"}
            )
        if resource.rstrip("/") != self.resource:
            return Reply(
                400,
                {
                    "error": "invalid_resource",
                    "error_description": f"AADSTS500011: The resource principal named {resource} was not found "
                    "in the tenant.",
                },
            )
        identity = self._identity(request, ("client_id", "object_id", "msi_res_id"))
        token, expires_on, now = self._mint(identity, resource)
        return Reply(
            200,
            {
                "access_token": token,
                "client_id": identity.client_id,
                "refresh_token": "",  # as in the page's sample answer: IMDS gives no refresh token
                "expires_in": str(seconds(self.lifetime)),
                "expires_on": str(int(expires_on)),
                "ext_expires_in": str(seconds(self.lifetime)),
                "not_before": str(int(now)),
                "resource": resource,
                "token_type": "Bearer",
            },
        )

    def _app_service(self, request: Request) -> Reply:
        # https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference
        if request.method != "GET":
            return Reply(405, {"statusCode": 405, "message": "Method not allowed"})
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return Reply(400, {"statusCode": 400, "message": "Missing or invalid X-IDENTITY-HEADER"})
        if _single(request, "api-version") != APP_SERVICE_API_VERSION:
            return Reply(400, {"statusCode": 400, "message": "Invalid api-version"})
        resource = _single(request, "resource")
        if not resource or resource.rstrip("/") != self.resource:
            return Reply(
                500,
                {
                    "statusCode": 500,
                    "message": f"An unexpected error occured while fetching the AAD Token. resource {resource}",
                },
            )
        if "principal_id" in request.query and "object_id" not in request.query:
            request.query["object_id"] = request.query["principal_id"]
        identity = self._identity(request, ("client_id", "object_id", "mi_res_id"))
        token, expires_on, _ = self._mint(identity, resource)
        return Reply(
            200,
            {
                "access_token": token,
                "expires_on": str(int(expires_on)),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            },
        )

    def _mint(self, identity: _Identity, resource: str) -> Tuple[str, float, float]:
        now = self.clock()
        token, issued = self._issue(identity.object_id, claims={"aud": resource, "appid": identity.client_id})
        return token, issued.expires_at if issued.expires_at is not None else now + self.lifetime, now

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        # Azure Resource Manager's 401: https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/common-deployment-errors
        code = {"expired": "ExpiredAuthenticationToken", "missing": "AuthenticationFailed"}.get(
            reason, "InvalidAuthenticationToken"
        )
        return Reply(
            401,
            {"error": {"code": code, "message": f"The access token is {reason}."}},
            {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"'},
        )


def _variables(provider: str, **values: str) -> Dict[str, str]:
    """``{variable: value}`` for the parameters *values* names, the variables being *provider*'s record's."""
    from ..providers.registry import get_provider

    return {var.name: values[var.parameter] for var in get_provider(provider).env if var.parameter in values}
