"""Google workload identity federation: the ``external_account`` credential configuration.

A workload outside Google Cloud (Kubernetes, GitHub Actions, Azure, any OIDC
identity provider) trades its platform's token for a Google access token, with no
stored key:

1. the subject token is read from the configuration's ``credential_source``: a
   file (text, or JSON with ``subject_token_field_name``) or a URL (with headers,
   JSON), which is how GitHub Actions configurations are written;
2. Google's Security Token Service exchanges it (RFC 8693) at ``token_url``;
3. when ``service_account_impersonation_url`` is present, IAM Credentials'
   ``generateAccessToken`` trades the STS token for a service account's token.

Steps 2 and 3 are two auths of one chain on the same engine: each link renews
once however many threads or processes (with a shared cache) wait.

The wire follows Google's references and the Python peer, google-auth's
``external_account`` / ``identity_pool`` / ``impersonated_credentials`` (2.63),
field by field; the documented differences are in
``tests/test_google_external_account.py`` and ``docs/providers/google-external-account.rst``.

Executable-sourced credentials (``credential_source.executable``) are refused:
google-auth runs them only when ``GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1``,
with its output format, timeout and output-file rules, and running a command named
in a file is not something this package does. AWS (``environment_id``) and X.509
(``certificate``) sources are refused too, with the message saying so.

Where the request goes next: the subject token is read through
:mod:`requests_multiauth.sources`, the exchange is
:mod:`requests_multiauth.grants.token_exchange`'s, and both calls go through
:class:`~requests_multiauth.transport.endpoint.TokenEndpoint`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenRequestError, TokenResponseError
from ..grants.base import Grant, GrantRequest
from ..grants.token_exchange import ACCESS_TOKEN_TYPE, TokenExchangeGrant
from ..sources import AuthToken, FileToken, TokenSource, UrlToken
from ..token import Token
from ..transport.endpoint import TokenEndpoint
from ._google import CREDENTIALS_VARIABLE, CredentialsInput, read_credentials
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "IAM_SCOPE",
    "PROVIDER",
    "STS_TOKEN_URL",
    "GoogleExternalAccountAuth",
    "GoogleImpersonationGrant",
    "GoogleStsGrant",
]

#: Google's STS token endpoint (``{universe_domain}`` is ``googleapis.com``):
#: https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
STS_TOKEN_URL = "https://sts.googleapis.com/v1/token"

#: The scope asked of STS and IAM when none is given: every Google Cloud API, the
#: scope Google's workload identity federation guides use.
#: https://cloud.google.com/iam/docs/workload-identity-federation-with-other-providers
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

#: The scope of the STS token when it only serves to impersonate a service account:
#: what google-auth's impersonated_credentials asks of its source credentials (iam._IAM_SCOPE).
IAM_SCOPE = "https://www.googleapis.com/auth/iam"

#: generateAccessToken's default and maximum ``lifetime`` (12 h needs an org policy exception):
#: https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
DEFAULT_IMPERSONATION_LIFETIME = 3600
MAX_IMPERSONATION_LIFETIME = 43200

#: The options of the chain's auth that its first link (the STS exchange) shares.
_SHARED_OPTIONS = ("cache", "session", "verify", "timeout", "retry", "clock", "allow_insecure_loopback", "leeway")

#: What the file's ``type`` must say.
EXTERNAL_ACCOUNT = "external_account"


def _text(info: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> Optional[str]:
    value = info.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where} has no {name!r}: it is not a complete external_account configuration")
    return value


def _scopes(scopes: Union[str, Sequence[str], None]) -> List[str]:
    if scopes is None:
        return [CLOUD_PLATFORM_SCOPE]
    listed = [scopes] if isinstance(scopes, str) else list(scopes)
    if not listed or not all(isinstance(scope, str) and scope.strip() for scope in listed):
        raise ConfigurationError("scopes must be a non-empty list of scope URLs (default: cloud-platform)")
    return listed


class GoogleStsGrant(TokenExchangeGrant):
    """The STS exchange, its refusals explained the way Google's troubleshooting page does:
    https://cloud.google.com/iam/docs/troubleshooting-workload-identity-federation"""

    hints: ClassVar[Mapping[str, str]] = {
        **TokenExchangeGrant.hints,
        "invalid_grant": (
            "STS refused the subject token: check that it is in date, that its 'aud' is one of the pool "
            "provider's allowed audiences, that its issuer is the provider's, and the provider's attribute "
            "condition"
        ),
        "invalid_target": "no workload identity pool provider has this audience: check 'audience' in the configuration",
        "invalid_scope": "check the scopes: STS grants Google Cloud scopes (cloud-platform, iam)",
    }


#: What to check when generateAccessToken refuses, by HTTP status (Google's API errors carry no OAuth code).
IMPERSONATION_HINTS: Mapping[int, str] = {
    401: "IAM refused the STS token: it may have been revoked; it is renewed once automatically",
    403: (
        "the pool's principal may not impersonate this service account: grant it "
        "roles/iam.workloadIdentityUser on the service account, and check the email in "
        "service_account_impersonation_url"
    ),
    404: "no such service account: check the email in service_account_impersonation_url",
}


class GoogleImpersonationGrant(Grant):
    """IAM Credentials ``generateAccessToken``: a service account's token for the caller's token.

    ``POST <url>`` with ``Authorization: Bearer <source token>`` and JSON
    ``{"scope": [...], "lifetime": "<n>s"}``, answered ``{"accessToken",
    "expireTime"}`` (RFC 3339).
    https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
    """

    name = "google_impersonation"

    def __init__(self, source: TokenSource, url: str, *, scopes: Sequence[str], lifetime: int) -> None:
        self.source = source
        self.url = url
        self.scopes = list(scopes)
        self.lifetime = lifetime

    def identity(self) -> Mapping[str, Optional[str]]:
        return {
            "url": self.url,
            "source": self.source.identity(),
            "scope": " ".join(self.scopes),
            "lifetime": str(self.lifetime),
        }

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        bearer = self.source.token()
        return GrantRequest(
            json={"scope": self.scopes, "lifetime": f"{self.lifetime}s"},
            headers={"Authorization": f"Bearer {bearer}"},
            secrets=(bearer,),
        )

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        """One generateAccessToken call; when IAM answers 401 to the source token (revoked
        before its expiry), the source renews it and the call is made once more."""
        sent: List[str] = []

        def make() -> GrantRequest:
            request = self.request(previous, now)
            sent.append(request.secrets[0])
            return request

        def parse(answer: Any) -> Token:
            return self.parse(answer, now)

        try:
            try:
                token: Token = endpoint.call(make, parse=parse, grant=self.name)
            except TokenRequestError as exc:
                if exc.status_code != 401 or not sent or not self.source.rejected(sent[-1]):
                    raise
                token = endpoint.call(make, parse=parse, grant=self.name)
        except TokenRequestError as exc:
            hint = IMPERSONATION_HINTS.get(exc.status_code or 0)
            raise (exc.with_hint(hint) if hint else exc) from None
        return token

    def parse(self, answer: Any, now: float) -> Token:
        token = answer.get("accessToken") if isinstance(answer, dict) else None
        expiry = answer.get("expireTime") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expiry, str):
            raise TokenResponseError("generateAccessToken answered no accessToken and expireTime")
        try:
            expires_at = datetime.fromisoformat(expiry.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()
        except ValueError:
            raise TokenResponseError(f"generateAccessToken's expireTime {expiry!r} is not an RFC 3339 time") from None
        return Token(access_token=token, expires_at=expires_at, scope=" ".join(self.scopes), issued_at=now)


class GoogleExternalAccountAuth(TokenAuth, FromEnv):
    """Google workload identity federation from an ``external_account`` configuration.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    single flight (per link of the chain: 32 threads after expiry make one STS call
    and one IAM call), the 401 replay, retries and errors are those of
    :class:`~requests_multiauth.TokenAuth`. The subject token is read from the
    ``credential_source`` at every STS call (a rotated file is picked up).

    Args:
        path_or_info: the configuration file's path, or its parsed content.
        scopes: the scopes of the token; default cloud-platform.
        token_url: the STS endpoint instead of the file's ``token_url`` (an emulator, a proxy).
        impersonation_url: the ``generateAccessToken`` URL instead of the file's.
        **options: those of :class:`~requests_multiauth.TokenAuth`; ``cache``,
            ``session``, ``verify``, ``timeout``, ``retry``, ``clock`` and
            ``allow_insecure_loopback`` serve every step (the credential source's
            URL, STS and IAM).

    Attributes:
        sts: the auth of the STS step (the chain's first link); ``self`` when there is
            no impersonation.
        service_account: the impersonated service account's email, or None.

    Raises:
        ConfigurationError: the file is missing, not an ``external_account``, lacks a
            field, or has a credential source this package does not run (executable,
            AWS, X.509), each said in the message.
    """

    provider_name = "google-external-account"

    def __init__(
        self,
        path_or_info: CredentialsInput,
        *,
        scopes: Union[str, Sequence[str], None] = None,
        token_url: Optional[str] = None,
        impersonation_url: Optional[str] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        info, where = read_credentials(path_or_info, "external_account configuration file")
        if info.get("type") != EXTERNAL_ACCOUNT:
            raise ConfigurationError(
                f"{where} has type {info.get('type')!r}, not {EXTERNAL_ACCOUNT!r}: a service account key "
                "goes to GoogleServiceAccountAuth.from_file()"
            )
        self.scopes = _scopes(scopes)
        audience = str(_text(info, "audience", where))
        subject_token_type = str(_text(info, "subject_token_type", where))
        sts_url = token_url or _text(info, "token_url", where, required=False) or STS_TOKEN_URL
        self.service_account_impersonation_url = impersonation_url or _text(
            info, "service_account_impersonation_url", where, required=False
        )
        lifetime = (info.get("service_account_impersonation") or {}).get("token_lifetime_seconds")
        self.lifetime = DEFAULT_IMPERSONATION_LIFETIME if lifetime is None else int(lifetime)
        if not 600 <= self.lifetime <= MAX_IMPERSONATION_LIFETIME:
            # https://cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds#impersonation
            raise ConfigurationError(
                f"{where}: token_lifetime_seconds={self.lifetime} is out of bounds: 600 to {MAX_IMPERSONATION_LIFETIME}"
            )
        source = _credential_source(info.get("credential_source"), where, options)
        client_id = _text(info, "client_id", where, required=False)
        client_secret = _text(info, "client_secret", where, required=False)
        params: Dict[str, str] = {}
        user_project = _text(info, "workforce_pool_user_project", where, required=False)
        if user_project and not client_id:
            # As google-auth sends it: a URL-quoted JSON object in the form field "options".
            # https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token (options)
            params["options"] = quote(json.dumps({"userProject": user_project}))
        impersonating = self.service_account_impersonation_url is not None
        exchange = GoogleStsGrant(
            source,
            subject_token_type=subject_token_type,
            requested_token_type=ACCESS_TOKEN_TYPE,
            audience=audience,
            scope=[IAM_SCOPE] if impersonating else self.scopes,
            client_id=client_id,
            client_secret=client_secret,
            params=params,
            token_url=sts_url,
        )
        self.audience = audience
        self.subject_token = source
        if self.service_account_impersonation_url is None:
            self.service_account = None
            self.sts: TokenAuth = self
            super().__init__(exchange, sts_url, **options)
            return
        self.service_account = _service_account(self.service_account_impersonation_url)
        # The chain's first link: an auth of its own (its own token, key and single flight) on
        # the same cache, session and clock, so that each link renews once.
        shared = {name: value for name, value in options.items() if name in _SHARED_OPTIONS}
        self.sts = TokenAuth(exchange, sts_url, **shared)  # type: ignore[arg-type]
        grant = GoogleImpersonationGrant(
            AuthToken(self.sts), self.service_account_impersonation_url, scopes=self.scopes, lifetime=self.lifetime
        )
        super().__init__(grant, self.service_account_impersonation_url, **options)

    @classmethod
    def from_file(
        cls, path_or_info: CredentialsInput, *, scopes: Union[str, Sequence[str], None] = None, **options: Any
    ) -> GoogleExternalAccountAuth:
        """The auth of an ``external_account`` configuration file (or its parsed content);
        see the class for *scopes* and *options*."""
        return cls(path_or_info, scopes=scopes, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        account = (("service_account", self.service_account),) if self.service_account else ()
        return (("audience", self.audience), *account, *super()._public_fields(), ("subject_token", self.subject_token))


def _service_account(url: str) -> str:
    """The email in ``.../serviceAccounts/<email>:generateAccessToken``, as google-auth reads it."""
    start, end = url.rfind("/"), url.find(":generateAccessToken")
    if start == -1 or end == -1 or end <= start:
        raise ConfigurationError(
            f"service_account_impersonation_url {url!r} does not end in serviceAccounts/<email>:generateAccessToken"
        )
    return url[start + 1 : end]


def _credential_source(source: Any, where: str, options: Mapping[str, Any]) -> TokenSource:
    """The token source a ``credential_source`` describes.
    https://google.aip.dev/auth/4117 (the external_account format)"""
    if not isinstance(source, Mapping):
        raise ConfigurationError(f"{where} has no credential_source object")
    if "executable" in source:
        raise ConfigurationError(
            f"{where} names an executable credential source: this package does not run commands named in "
            "credential files (google-auth does only with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1). "
            "Run the command yourself and give its token: TokenExchangeAuth(callable, ...), or write it to a "
            "file and use a 'file' credential source"
        )
    if "environment_id" in source:
        raise ConfigurationError(
            f"{where} is an AWS credential source (environment_id): not supported; use google-auth"
        )
    if "certificate" in source:
        raise ConfigurationError(f"{where} is an X.509 credential source (certificate): not supported here")
    kinds = [kind for kind in ("file", "url") if source.get(kind)]
    if len(kinds) != 1:
        raise ConfigurationError(f"{where}: credential_source needs exactly one of 'file' or 'url'")
    form = source.get("format") or {}
    kind_of_format = form.get("type") or "text"
    if kind_of_format not in ("text", "json"):
        raise ConfigurationError(f"{where}: credential_source format {kind_of_format!r} is neither 'text' nor 'json'")
    field = form.get("subject_token_field_name") if kind_of_format == "json" else None
    if kind_of_format == "json" and not field:
        raise ConfigurationError(f"{where}: a 'json' credential_source format needs subject_token_field_name")
    label = "credential_source"
    if kinds == ["file"]:
        return FileToken(source["file"], field=field, label=label, holds="the subject token")
    if field is None:
        raise ConfigurationError(
            f"{where}: a URL credential_source with format 'text' is not supported (the answer is read as JSON): "
            "use format {'type': 'json', 'subject_token_field_name': ...}"
        )
    passed = {
        name: options[name]
        for name in ("session", "verify", "timeout", "retry", "allow_insecure_loopback")
        if name in options
    }
    return UrlToken(source["url"], field=field, headers=source.get("headers"), label=label, **passed)


PROVIDER = Provider(
    name="google-external-account",
    auth_class=GoogleExternalAccountAuth,
    env=(
        EnvVar(
            name=CREDENTIALS_VARIABLE,
            parameter="path_or_info",
            meaning="the external_account configuration file (workload identity federation)",
            path=True,
        ),
        EnvVar(
            name="GOOGLE_EXTERNAL_ACCOUNT_CA_BUNDLE",
            parameter="verify",
            meaning="a CA bundle the token calls trust (a private CA, a local emulator)",
            required=False,
            path=True,
        ),
    ),
    docs_url="https://cloud.google.com/iam/docs/workload-identity-federation",
    emulator=LazyEmulator("requests_multiauth.testing._google_sts:GoogleStsEmulator"),
    scheme="workload identity federation: STS token exchange (RFC 8693), then service account impersonation",
    local=False,
)
