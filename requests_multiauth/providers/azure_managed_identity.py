"""Azure managed identity: tokens for the identity of the VM, AKS pod, App Service,
Functions or Container Apps app the code runs in, without a secret.

Which endpoint is used is read from the environment, as azure-identity's
``ManagedIdentityCredential`` (through msal's managed identity client) chooses it:

* App Service's identity endpoint and header set (the variables of :data:`PROVIDER`):
  App Service, Functions or Container Apps; ``GET {endpoint}?api-version=2019-08-01&resource=...``
  with ``X-IDENTITY-HEADER``;
* otherwise IMDS: ``GET http://169.254.169.254/metadata/identity/oauth2/token?
  api-version=2018-02-01&resource=...`` with ``Metadata: true``, at the host the
  pod identity variable names if set (AKS pod identity, and the override
  azure-identity documents).

Both are plain HTTP, the one exception to HTTPS-only (see
:mod:`requests_multiauth.transport.urls`); the tokens still go only to HTTPS APIs.
Service Fabric, Azure Arc, Azure ML and Cloud Shell are not supported: their
variables are reported at construction.
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenRequestError
from ..grants.base import Grant, GrantRequest
from ..token import Token
from ..transport.endpoint import TokenEndpoint
from ..transport.retry import RetryPolicy
from ..transport.urls import metadata_origin, safe_url
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "AZURE_IMDS_RETRY",
    "AZURE_MANAGED_IDENTITY_TIMEOUT",
    "IMDS_ORIGIN",
    "PROVIDER",
    "AzureManagedIdentityAuth",
    "AzureManagedIdentityGrant",
]

#: The parameters the platform's own variables fill (the variables are PROVIDER's).
_PLATFORM_PARAMETERS = ("identity_endpoint", "identity_header", "imds_host")
#: Variables of managed-identity platforms this preset does not speak, and what they mean.
_UNSUPPORTED = {
    "IDENTITY_SERVER_THUMBPRINT": "Service Fabric",
    "IMDS_ENDPOINT": "Azure Arc",
    "MSI_ENDPOINT": "Azure ML or Cloud Shell",
}

#: IMDS, on every Azure VM (and behind AKS's node): link-local, plain HTTP.
#: https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http
IMDS_ORIGIN = "http://169.254.169.254"
IMDS_PATH = "/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
#: https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference
APP_SERVICE_API_VERSION = "2019-08-01"

#: The query names of a user-assigned identity: IMDS says msi_res_id, App Service mi_res_id
#: (both as msal sends them; App Service also takes principal_id for object_id).
_IMDS_IDS = {"client_id": "client_id", "object_id": "object_id", "resource_id": "msi_res_id"}
_APP_SERVICE_IDS = {"client_id": "client_id", "object_id": "object_id", "resource_id": "mi_res_id"}

#: Retried as Microsoft's retry guidance says: 404 (IMDS updating), 410 (IMDS updating,
#: "available within 70 seconds"), 429 (throttled) and every 5xx, with exponential backoff.
#: https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#retry-guidance
IMDS_RETRY_STATUSES = frozenset({404, 410, 429, *range(500, 600)})

#: Five tries, waiting about 5, 10, 20 and 40 s between them (75 s, as azure-identity's
#: ImdsRetryPolicy waits on a 410 so that an IMDS updating after a VM start is waited
#: out), never more than 90 s in all.
AZURE_IMDS_RETRY = RetryPolicy(attempts=5, backoff=5.0, max_backoff=40.0, budget=90.0, statuses=IMDS_RETRY_STATUSES)

#: The probe of IMDS at its default address before the first token call: one try, as
#: azure-identity's (``connection_timeout=1, retry_total=0``); any answer means IMDS is there.
PROBE_RETRY = RetryPolicy(attempts=1, budget=5.0, statuses=IMDS_RETRY_STATUSES)

#: A second to connect, as azure-identity's IMDS probe allows: the endpoint is on the
#: machine, so a longer connect means there is none.
AZURE_MANAGED_IDENTITY_TIMEOUT: Tuple[float, float] = (1.0, 10.0)

#: What to check when no managed identity endpoint answered.
NOT_ON_AZURE = (
    "no managed identity endpoint answered at {where} in time (within {budget:g} s in all): this code does not "
    "seem to run where Azure gives it a managed identity (a VM or scale set, AKS, App Service, Functions, "
    "Container Apps), or the endpoint is overloaded (raise timeout=). "
    "Check that a managed identity is enabled for the resource, that {endpoint} and {header} "
    "are set on App Service, or set {imds}; outside Azure use EntraIdAuth"
)
#: What to check when IMDS kept answering that it is updating.
IMDS_UPDATING = (
    "Azure's managed identity endpoint at {where} kept answering {status} within {budget:g} s (IMDS answers "
    "404 or 410 while it updates, and Microsoft says it is back within 70 s; 429 when throttled): try again "
    "shortly, or pass retry=RetryPolicy(...) with a longer budget"
)


class AzureManagedIdentityGrant(Grant):
    """One token call to IMDS or the App Service endpoint (see the module docstring).

    The answer is read by the standard parser, which takes ``expires_on`` (epoch
    seconds) and ``expires_in`` as the strings Azure sends; ``resource``, ``client_id``
    and the rest are in ``Token.extra``.
    """

    name = "azure_managed_identity"

    def __init__(
        self,
        token_url: str,
        *,
        platform: str,
        resource: str,
        user_assigned: Optional[Tuple[str, str]],
        identity_header: Optional[str],
        plain_http_hosts: Tuple[str, ...],
        budget: float,
        probe: bool = False,
    ) -> None:
        self.token_url = token_url
        self.platform = platform
        self.resource = resource
        self.user_assigned = user_assigned
        self._identity_header = identity_header
        self.plain_http_hosts = plain_http_hosts
        # The header only stops SSRF on the app's own host, but it is not for messages either.
        self.secrets = (identity_header,) if identity_header else ()
        self._budget = budget
        #: Probe with one quick try before the first token call (IMDS found by default, not named by the platform).
        self.probe = probe
        self._answered = False

    def identity(self) -> Mapping[str, Optional[str]]:
        kind, value = self.user_assigned if self.user_assigned is not None else ("system", "assigned")
        return {"token_url": safe_url(self.token_url), "resource": self.resource, kind: value}

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        app_service = self.platform == "app_service"
        query: Dict[str, str] = {
            "api-version": APP_SERVICE_API_VERSION if app_service else IMDS_API_VERSION,
            "resource": self.resource,
        }
        if self.user_assigned is not None:
            kind, value = self.user_assigned
            query[(_APP_SERVICE_IDS if app_service else _IMDS_IDS)[kind]] = value
        headers = {"Metadata": "true"}  # IMDS requires it; msal sends it to App Service too (harmless there)
        if app_service and self._identity_header is not None:
            headers["X-IDENTITY-HEADER"] = self._identity_header
        return GrantRequest(method="GET", query=query, headers=headers)

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        if self.probe and not self._answered:
            # Is anything there? One quick try, as azure-identity probes IMDS: off Azure the
            # answer is "no" in about a second instead of after every retry.
            quick = copy.copy(endpoint)
            quick.retry = PROBE_RETRY
            try:
                token = self._call(quick, previous, now)
            except TokenRequestError as exc:
                if exc.status_code is None:
                    where = safe_url(self.token_url)
                    raise exc.with_hint(_not_on_azure(where, PROBE_RETRY.budget)) from None
                self._answered = True  # IMDS is there (updating, throttled ...): retry as Microsoft advises
            else:
                self._answered = True
                return token
        return self._call(endpoint, previous, now)

    def _call(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        try:
            token: Token = endpoint.call(
                lambda: self.request(previous, now), parse=lambda answer: self.parse(answer, now), grant=self.name
            )
        except TokenRequestError as exc:
            where = safe_url(self.token_url)
            if exc.status_code is None:
                raise exc.with_hint(_not_on_azure(where, self._budget)) from None
            if exc.status_code in (404, 410, 429):
                raise exc.with_hint(
                    IMDS_UPDATING.format(where=where, status=exc.status_code, budget=self._budget)
                ) from None
            advice = _advice(exc, self)
            if advice is not None:
                raise exc.with_hint(advice) from None
            raise
        self._answered = True
        return token


def _advice(exc: TokenRequestError, grant: AzureManagedIdentityGrant) -> Optional[str]:
    """What to do about a refusal, as Microsoft's error table explains it, or None.

    https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling
    """
    said = f"{exc.error or ''} {exc.error_description or ''}".lower()
    if "identity not found" in said:
        named = "=".join(grant.user_assigned) if grant.user_assigned is not None else "the system-assigned identity"
        return (
            f"the identity ({named}) is not assigned to this resource: assign it in the portal or with "
            "'az vm identity assign' / 'az webapp identity assign', or check client_id, object_id or resource_id"
        )
    if exc.error == "invalid_resource" or "aadsts500011" in said or "aadsts50001" in said:
        return (
            f"no resource {grant.resource!r} exists in the tenant: check scope= / resource= (the App ID URI of "
            "the API, like https://management.azure.com or https://vault.azure.net)"
        )
    if exc.error == "invalid_request" and "metadata" in said:
        return "a proxy or the platform dropped the Metadata header: call IMDS directly, without a proxy"
    return None


def _resource(scope: Optional[str], resource: Optional[str]) -> str:
    """The v1 ``resource`` the endpoints take, from a v2 scope ending in ``/.default``
    (as azure-identity converts it) or given directly."""
    if (scope is None) == (resource is None):
        raise ConfigurationError(
            "pass scope= (like 'https://management.azure.com/.default') or resource= "
            "(like 'https://management.azure.com'), exactly one"
        )
    if resource is not None:
        if not resource.strip():
            raise ConfigurationError("resource is empty: pass the resource's URI, like 'https://vault.azure.net'")
        return resource.strip()
    scope = (scope or "").strip()
    if not scope.endswith("/.default"):
        raise ConfigurationError(
            f"scope={scope!r}: a managed identity token is for a whole resource, so the scope must end with "
            "'/.default' (like 'https://management.azure.com/.default'); or pass resource="
        )
    return scope[: -len("/.default")]


def _user_assigned(client_id: Optional[str], object_id: Optional[str], resource_id: Optional[str]) -> Any:
    given = [
        (kind, value)
        for kind, value in (("client_id", client_id), ("object_id", object_id), ("resource_id", resource_id))
        if value
    ]
    if len(given) > 1:
        raise ConfigurationError(
            "a user-assigned identity is named by one of client_id, object_id or resource_id, not several"
        )
    return given[0] if given else None


class AzureManagedIdentityAuth(TokenAuth, FromEnv):
    """Tokens of the Azure managed identity of where the code runs. Safe for concurrent use.

    One token call per token lifetime whatever the thread count (and across
    processes with a shared cache), renewed ahead of expiry.

    Args:
        scope: the v2 scope, ending in ``/.default`` (``https://vault.azure.net/.default``).
        resource: or the v1 resource URI directly (``https://vault.azure.net``).
        client_id, object_id, resource_id: a user-assigned identity, by one of them;
            none: the system-assigned identity.
        identity_endpoint, identity_header: App Service's endpoint and header; default:
            the platform's variables (see :data:`PROVIDER`). Both given: App Service.
        imds_host: the IMDS origin (``http://host:port``); default: AKS pod identity's
            variable, else ``http://169.254.169.254``.
        token_url: the endpoint to call instead of the one the environment names.
            Plain HTTP only to a metadata address or the endpoint a platform variable names.
        environ: where the platform variables are read; default ``os.environ``.
        options: the options of every renewing auth (see :class:`~requests_multiauth.TokenAuth`);
            the defaults here: ``timeout=AZURE_MANAGED_IDENTITY_TIMEOUT``, ``retry=AZURE_IMDS_RETRY``.

    Raises:
        ConfigurationError: at construction, for a bad scope or identity, or the
            variables of a platform not supported (Service Fabric, Arc, ML, Cloud Shell).
        TokenRequestError (on a request): no endpoint answered (not on Azure), IMDS
            kept updating, or the identity was refused (``invalid_resource``, ``Identity not found``).
    """

    reads_platform_environ = True
    provider_name = "azure-managed-identity"

    def __init__(
        self,
        *,
        scope: Optional[str] = None,
        resource: Optional[str] = None,
        client_id: Optional[str] = None,
        object_id: Optional[str] = None,
        resource_id: Optional[str] = None,
        identity_endpoint: Optional[str] = None,
        identity_header: Optional[str] = None,
        imds_host: Optional[str] = None,
        token_url: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        resolved = _resource(scope, resource)
        user_assigned = _user_assigned(client_id, object_id, resource_id)
        source = os.environ if environ is None else environ
        platform_said = {name: PROVIDER.value(name, source) for name in _PLATFORM_PARAMETERS}  # what it names
        endpoint = (identity_endpoint or platform_said["identity_endpoint"]).strip()
        header = (identity_header or platform_said["identity_header"]).strip()
        pod_host = (imds_host or platform_said["imds_host"]).strip()
        if endpoint and header and not source.get("IDENTITY_SERVER_THUMBPRINT"):
            platform, url = "app_service", endpoint
        else:
            for variable, what in _UNSUPPORTED.items():
                if source.get(variable, "").strip():
                    raise ConfigurationError(
                        f"{variable} is set: this is {what}, whose managed identity this preset does not speak "
                        "(App Service, Functions, Container Apps, VMs and AKS are supported); use azure-identity's "
                        "ManagedIdentityCredential there"
                    )
            platform = "imds"
            url = (pod_host or IMDS_ORIGIN).rstrip("/") + IMDS_PATH
        url = token_url if token_url is not None else url
        named = [platform_said["identity_endpoint"], platform_said["imds_host"]]
        found = metadata_origin(url, named)
        retry = options.setdefault("retry", AZURE_IMDS_RETRY)
        options.setdefault("timeout", AZURE_MANAGED_IDENTITY_TIMEOUT)
        grant = AzureManagedIdentityGrant(
            url,
            platform=platform,
            resource=resolved,
            user_assigned=user_assigned,
            identity_header=header if platform == "app_service" else None,
            plain_http_hosts=(found,) if found is not None else (),
            budget=(retry or AZURE_IMDS_RETRY).budget,
            # As azure-identity: IMDS at its default address may not exist (not on Azure): probe it
            # first. An endpoint the platform names (App Service, pod identity) is there.
            probe=platform == "imds" and token_url is None and not pod_host,
        )
        self.platform = platform
        self.resource = resolved
        self.user_assigned = user_assigned
        super().__init__(grant, url, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        kind, value = self.user_assigned if self.user_assigned is not None else ("identity", "system-assigned")
        return (("platform", self.platform), *super()._public_fields(), ("resource", self.resource), (kind, value))


PROVIDER = Provider(
    name="azure-managed-identity",
    auth_class=AzureManagedIdentityAuth,
    env=(
        EnvVar(
            name="IDENTITY_ENDPOINT",
            parameter="identity_endpoint",
            meaning="App Service's managed identity endpoint (set by App Service, Functions, Container Apps)",
            required=False,
        ),
        EnvVar(
            name="IDENTITY_HEADER",
            parameter="identity_header",
            meaning="the header App Service's endpoint wants beside it (set by the platform)",
            required=False,
            secret=True,
        ),
        EnvVar(
            name="AZURE_POD_IDENTITY_AUTHORITY_HOST",
            parameter="imds_host",
            meaning="the IMDS origin of AKS pod identity (azure-identity's override of 169.254.169.254)",
            required=False,
        ),
        EnvVar(
            name="AZURE_MANAGED_IDENTITY_SCOPE",
            parameter="scope",
            meaning="the scope of the token, ending in /.default (or give the resource instead)",
            required=False,
        ),
        EnvVar(
            name="AZURE_MANAGED_IDENTITY_RESOURCE",
            parameter="resource",
            meaning="the resource URI of the token, instead of a scope",
            required=False,
        ),
    ),
    docs_url="https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token",
    emulator=LazyEmulator("requests_multiauth.testing._metadata:AzureManagedIdentityEmulator"),
    scheme="Azure managed identity (IMDS, App Service, Functions, Container Apps, AKS): no secret",
)


def _not_on_azure(where: str, budget: float) -> str:
    return NOT_ON_AZURE.format(
        where=where,
        budget=budget,
        endpoint=PROVIDER.variable_name("identity_endpoint"),
        header=PROVIDER.variable_name("identity_header"),
        imds=PROVIDER.variable_name("imds_host"),
    )
