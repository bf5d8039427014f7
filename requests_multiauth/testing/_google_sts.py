"""A local Google STS and IAM Credentials: workload identity federation on loopback HTTPS.

:class:`GoogleStsEmulator` serves, on one origin:

* ``POST /v1/token``: the Security Token Service's token exchange as its reference
  states it (https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token):
  ``grant_type`` token-exchange, ``requested_token_type`` access_token,
  ``subject_token_type`` jwt or id_token, ``audience`` the pool provider's full
  resource name, a ``scope``; the subject token must be signed by the trusted
  identity provider (:attr:`~GoogleStsEmulator.issuer`) for the provider's
  audience (``https://iam.googleapis.com/projects/.../providers/...``, the default
  allowed audience of an OIDC provider) and be in date. Refusals are OAuth errors
  (``invalid_request``, ``invalid_grant``, ``invalid_target``...) as STS answers them.
* ``POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken``: IAM Credentials
  (https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken):
  a live STS token as bearer, JSON ``{"scope": [...], "lifetime": "<n>s"}`` (at most
  3600 s), answered ``{"accessToken", "expireTime"}``; refusals in Google's API error
  shape ``{"error": {"code", "message", "status"}}`` (UNAUTHENTICATED,
  PERMISSION_DENIED, INVALID_ARGUMENT).
* ``/storage/v1/...``: a protected API that accepts the tokens either issued.

:meth:`~GoogleStsEmulator.credential_config` writes the ``external_account``
configuration that points at it, as ``gcloud iam workload-identity-pools
create-cred-config`` would (file or URL source, with or without impersonation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from requests.auth import AuthBase

from ._emulator import Issued, ProviderEmulator
from ._server import Reply, Request
from ._token_exchange import WorkloadIssuer
from ._wire import Refusal, oauth_form, oauth_refusal, seconds

__all__ = ["GoogleStsEmulator"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token")
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM = "https://www.googleapis.com/auth/iam"

#: generateAccessToken's longest lifetime without an organisation policy exception.
MAX_LIFETIME = 3600

_IAM_PATH = re.compile(r"^/v1/projects/-/serviceAccounts/(?P<email>[^/:]+):generateAccessToken$")
_LIFETIME = re.compile(r"^(?P<seconds>[0-9]+)(\.[0-9]+)?s$")


def _google_error(code: int, status: str, message: str) -> Refusal:
    """A Google API error answer (https://cloud.google.com/apis/design/errors)."""
    return Refusal(Reply(code, {"error": {"code": code, "message": message, "status": status}}))


class GoogleStsEmulator(ProviderEmulator):
    """Google STS, IAM Credentials and a protected API on loopback (see the module docstring).

    Args:
        project_number, pool, provider: the workload identity pool provider.
        service_account: the email the pool may impersonate.
        issuer: the identity provider whose tokens the pool trusts (a
            :class:`~requests_multiauth.testing.GitHubActionsEmulator`'s ``issuer``,
            say); default a new :class:`~requests_multiauth.testing.WorkloadIssuer`.
        **options: those of :class:`~requests_multiauth.testing.ProviderEmulator`.

    Attributes:
        sts_calls, iam_calls: requests each endpoint received (``token_calls`` is ``sts_calls``).
    """

    name = "google-external-account"
    token_path = "/v1/token"
    api_path = "/storage/v1/"
    default_lifetime = 3600.0

    def __init__(
        self,
        *,
        project_number: str = "123456789012",
        pool: str = "octo-pool",
        provider: str = "octo-provider",
        service_account: str = "deployer@octo-project.iam.gserviceaccount.com",
        issuer: Optional[WorkloadIssuer] = None,
        **options: Any,
    ) -> None:
        self.project_number, self.pool, self.provider = project_number, pool, provider
        self.service_account = service_account
        self._tmpdir: Optional[str] = None
        super().__init__(**options)
        self.issuer = issuer if issuer is not None else WorkloadIssuer("https://oidc.example.test", clock=self.clock)

    # -- where it is ----------------------------------------------------------------------

    @property
    def audience(self) -> str:
        """The STS ``audience``: the pool provider's full resource name."""
        return (
            f"//iam.googleapis.com/projects/{self.project_number}/locations/global/"
            f"workloadIdentityPools/{self.pool}/providers/{self.provider}"
        )

    @property
    def subject_audience(self) -> str:
        """The ``aud`` an OIDC provider accepts by default: https: plus the audience."""
        return "https:" + self.audience

    @property
    def impersonation_url(self) -> str:
        return f"{self.url}/v1/projects/-/serviceAccounts/{self.service_account}:generateAccessToken"

    @property
    def sts_calls(self) -> int:
        """Requests the STS token endpoint received (the same count as ``token_calls``)."""
        return self._count("token")

    @property
    def iam_calls(self) -> int:
        """``generateAccessToken`` requests the IAM endpoint received (impersonation)."""
        return self._count("iam")

    def subject_token(self, subject: str = "repo:octo-org/octo-repo:ref:refs/heads/main", **claims: Any) -> str:
        """A token of the trusted identity provider, for this pool provider."""
        self.issuer.clock = self.clock
        return self.issuer.token(subject, self.subject_audience, **claims)

    def credential_config(
        self,
        subject_token_file: Optional[str] = None,
        *,
        url: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        json_field: Optional[str] = None,
        impersonate: bool = True,
        lifetime: Optional[int] = None,
    ) -> Dict[str, Any]:
        """The ``external_account`` configuration for this emulator, with a file
        (*subject_token_file*) or URL (*url*, *headers*) credential source, read as JSON
        when *json_field* is given."""
        source: Dict[str, Any] = {"file": subject_token_file} if url is None else {"url": url}
        if headers:
            source["headers"] = dict(headers)
        if json_field:
            source["format"] = {"type": "json", "subject_token_field_name": json_field}
        config: Dict[str, Any] = {
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": self.audience,
            "subject_token_type": SUBJECT_TYPES[0],
            "token_url": self.token_url,
            "credential_source": source,
        }
        if impersonate:
            config["service_account_impersonation_url"] = self.impersonation_url
            if lifetime is not None:
                config["service_account_impersonation"] = {"token_lifetime_seconds": lifetime}
        return config

    def environ_values(self) -> Dict[str, str]:
        """The configuration's path (``path_or_info``: the credentials file variable), written
        in a directory of its own, deleted by :meth:`stop`, whose file source holds a fresh
        subject token; ``environ()`` adds the CA bundle variable over HTTPS."""
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="multiauth-google-")
        token_file = os.path.join(self._tmpdir, "subject-token")
        with open(token_file, "w", encoding="utf-8") as handle:
            handle.write(self.subject_token())
        config = os.path.join(self._tmpdir, "credentials.json")
        with open(config, "w", encoding="utf-8") as handle:
            json.dump(self.credential_config(token_file), handle)
        return {"path_or_info": config}

    @property
    def credentials(self) -> Dict[str, str]:
        return {"subject_token": self.subject_token()}

    def auth(self, **options: Any) -> AuthBase:
        """A :class:`~requests_multiauth.GoogleExternalAccountAuth` from ``environ_values()``'s
        configuration (or ``path_or_info=``), pointed at this emulator."""
        from ..providers.google_external_account import GoogleExternalAccountAuth

        info = options.pop("path_or_info", None) or self.environ_values()["path_or_info"]
        return GoogleExternalAccountAuth(info, **self._auth_options(options))

    def stop(self) -> None:
        super().stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    # -- the endpoints ---------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        if _IAM_PATH.match(request.path):
            self._bump("iam")
            return self._respond("token", self._generate_access_token, request)  # a fault queued at "token" hits it
        return super()._handle(request)

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        fields = oauth_form(request)
        if fields.get("grant_type") != GRANT_TYPE:
            raise oauth_refusal("unsupported_grant_type", f"Invalid grant_type: {fields.get('grant_type')!r}")
        if fields.get("requested_token_type") != ACCESS_TOKEN:
            raise oauth_refusal("invalid_request", f"requested_token_type must be {ACCESS_TOKEN}")
        if fields.get("subject_token_type") not in SUBJECT_TYPES:
            raise oauth_refusal("invalid_request", "subject_token_type must be a JWT or an OIDC ID token")
        if fields.get("audience") != self.audience:
            raise oauth_refusal("invalid_target", "The target service indicated by the audience is invalid")
        scope = fields.get("scope")
        if not scope:
            raise oauth_refusal("invalid_scope", "a scope is required")
        try:
            claims = self.issuer.verify(fields.get("subject_token", ""), self.subject_audience)
        except ValueError as exc:
            raise oauth_refusal("invalid_grant", f"The subject token was refused: {exc}") from None
        subject = f"principal://iam.googleapis.com/projects/{self.project_number}/subject/{claims['sub']}"
        token, _ = self._issue(subject, scope=scope, jwt=False)
        return Reply(
            200,
            {
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": seconds(self.lifetime),
            },
        )

    def _generate_access_token(self, request: Request) -> Reply:
        if request.method != "POST":
            raise _google_error(405, "METHOD_NOT_ALLOWED", "use POST")
        checked = self._check_bearer(request)
        if isinstance(checked, str):
            raise _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if not set((checked.scope or "").split()) & {IAM, CLOUD_PLATFORM}:
            raise _google_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        email = _IAM_PATH.match(request.path).group("email")  # type: ignore[union-attr]
        if email != self.service_account:
            raise _google_error(
                403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource"
            )
        try:
            body = request.json()
        except ValueError:
            raise _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
        scopes = body.get("scope") if isinstance(body, dict) else None
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
            raise _google_error(400, "INVALID_ARGUMENT", "Scope required.")
        lifetime = MAX_LIFETIME
        if "lifetime" in body:
            match = _LIFETIME.match(str(body["lifetime"]))
            if match is None or not 1 <= int(match.group("seconds")) <= MAX_LIFETIME:
                raise _google_error(400, "INVALID_ARGUMENT", "The lifetime must be between 1s and 3600s.")
            lifetime = int(match.group("seconds"))
        lifetime = min(lifetime, int(self.lifetime))
        token, issued = self._issue(self.service_account, scope=" ".join(scopes), lifetime=lifetime, jwt=False)
        expiry = datetime.fromtimestamp(issued.expires_at or 0, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Reply(200, {"accessToken": token, "expireTime": expiry})

    def _api_answer(self, request: Request, issued: Issued) -> Dict[str, Any]:
        return {"kind": "storage#objects", "subject": issued.subject, "path": request.path}
