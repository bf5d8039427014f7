"""Google Cloud's metadata server: the tokens of the service account attached to a
Compute Engine VM, a GKE pod (Workload Identity), Cloud Run or Cloud Functions.

No secret is held: the metadata server hands out tokens to whoever runs on the
machine. The token call is a plain-HTTP ``GET`` to ``metadata.google.internal``
(or the host the platform variable of :data:`PROVIDER` names, as google-auth reads it), the one
exception to HTTPS-only (see :mod:`requests_multiauth.transport.urls`); the
tokens obtained still go only to HTTPS APIs.

The request flow: :class:`GoogleMetadataAuth` (a :class:`~requests_multiauth.TokenAuth`)
asks :class:`GoogleMetadataGrant` for each token call, which the endpoint sends;
the engine reuses, renews ahead and shares the token as for every other grant.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import requests

from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenRequestError, TokenResponseError
from ..grants.base import Grant, GrantRequest
from ..token import Token, jwt_expiry, parse_token_response
from ..transport.endpoint import TokenEndpoint
from ..transport.retry import RetryPolicy
from ..transport.urls import metadata_origin, safe_url
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "GOOGLE_METADATA_HOST",
    "GOOGLE_METADATA_RETRY",
    "GOOGLE_METADATA_TIMEOUT",
    "PROVIDER",
    "GoogleMetadataAuth",
    "GoogleMetadataGrant",
]

#: The metadata server's name inside Google Cloud; the platform variable of PROVIDER replaces it, as in google-auth.
#: https://cloud.google.com/compute/docs/metadata/querying-metadata
GOOGLE_METADATA_HOST = "metadata.google.internal"

#: The header every request must carry and every answer of the real server carries.
#: "Metadata-Flavor: Google ... indicates that the request was sent with the intention of
#: retrieving metadata values" (https://cloud.google.com/compute/docs/metadata/querying-metadata);
#: an answer without it did not come from Google's metadata server (google-auth's ping refuses it too).
METADATA_FLAVOR = ("Metadata-Flavor", "Google")

#: The path of a service account's tokens under the metadata root.
#: https://cloud.google.com/compute/docs/access/authenticate-workloads#applications
_ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/{account}/{what}"

#: Connect quickly or not at all: the metadata server is on the machine (or the node), so
#: a connection that takes more than a second means "not on Google Cloud". The read
#: allows for GKE's metadata server, which can take seconds to answer a pod's first call.
GOOGLE_METADATA_TIMEOUT: Tuple[float, float] = (1.0, 10.0)

#: Four tries within 20 s; google-auth's metadata get() tries 5 times with exponential backoff.
GOOGLE_METADATA_RETRY = RetryPolicy(attempts=4, backoff=0.5, max_backoff=4.0, budget=20.0)

#: What to check when no metadata server answered, in the words of the error.
NOT_ON_GOOGLE_CLOUD = (
    "no metadata server answered at {where} in time: this code does not seem to run on Google Cloud "
    "(Compute Engine, GKE, Cloud Run, Cloud Functions). Run it there, or set {variable} to the metadata "
    "server's host:port (a local emulator), or use GoogleServiceAccountAuth or GoogleExternalAccountAuth "
    "outside Google Cloud; on a busy GKE node whose metadata server is slow, raise timeout="
)

Scopes = Union[str, Sequence[str], None]


class GoogleMetadataGrant(Grant):
    """One token call to the metadata server: an access token, or an ID token for an audience.

    Access token: ``GET .../service-accounts/{account}/token`` (``?scopes=a,b`` when
    scopes are given, comma-separated as google-auth sends them), answered with
    ``{"access_token", "expires_in", "token_type"}``. ID token:
    ``GET .../service-accounts/{account}/identity?audience=...&format=full``, answered
    with the JWT as text; its expiry is its ``exp``. Both carry ``Metadata-Flavor:
    Google``, and an answer without that header is refused.
    """

    name = "google_metadata"

    def __init__(
        self,
        token_url: str,
        *,
        service_account: str,
        scopes: Optional[str],
        target_audience: Optional[str],
        plain_http_hosts: Tuple[str, ...],
    ) -> None:
        self.token_url = token_url
        self.service_account = service_account
        self.scopes = scopes
        self.target_audience = target_audience
        self.plain_http_hosts = plain_http_hosts

    def identity(self) -> Mapping[str, Optional[str]]:
        return {
            "token_url": safe_url(self.token_url),
            "service_account": self.service_account,
            "scopes": self.scopes,
            "target_audience": self.target_audience,
        }

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        query = None
        if self.target_audience is not None:
            # https://cloud.google.com/compute/docs/instances/verifying-instance-identity#request_signature
            query = {"audience": self.target_audience, "format": "full"}
        elif self.scopes is not None:
            query = {"scopes": self.scopes}
        return GrantRequest(method="GET", headers=dict([METADATA_FLAVOR]), query=query)

    def parse(self, answer: Any, now: float) -> Token:
        if self.target_audience is None:
            return parse_token_response(answer, now=now)
        id_token = answer.strip() if isinstance(answer, str) else ""
        expires_at = jwt_expiry(id_token)
        if expires_at is None:
            raise TokenResponseError("the identity answer is not a JWT with an exp claim")
        return Token(access_token=id_token, expires_at=expires_at, issued_at=now)

    def read(self, response: requests.Response, text: str) -> Any:
        """The decoded answer; refused unless it carries ``Metadata-Flavor: Google``."""
        name, value = METADATA_FLAVOR
        if response.headers.get(name) != value:
            variable = PROVIDER.variable_name("metadata_host")
            raise TokenResponseError(
                f"{safe_url(response.url or self.token_url)} answered without the {name}: {value} header, so it "
                f"is not Google's metadata server (a proxy or another service answered): check {variable} "
                "and that no proxy intercepts requests to the metadata server"
            )
        if self.target_audience is not None:
            return text  # the ID token itself, as text
        try:
            return json.loads(text)
        except ValueError:
            raise TokenResponseError("the token answer is not JSON") from None

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        try:
            token: Token = endpoint.call(
                lambda: self.request(previous, now),
                parse=lambda answer: self.parse(answer, now),
                grant=self.name,
                read=self.read,
            )
        except TokenRequestError as exc:
            if exc.status_code is None:  # no answer at all: not on Google Cloud
                hint = NOT_ON_GOOGLE_CLOUD.format(
                    where=safe_url(self.token_url), variable=PROVIDER.variable_name("metadata_host")
                )
                raise exc.with_hint(hint) from None
            if exc.status_code == 404:
                raise exc.with_hint(
                    f"the service account {self.service_account!r} is not attached here (the metadata server knows "
                    "no such account): attach it to the VM, node pool or service, or use service_account='default'"
                ) from None
            if exc.status_code == 403:
                raise exc.with_hint(
                    "the metadata server refused the request as a proxied one (X-Forwarded-For, or a lost "
                    "Metadata-Flavor header): call it directly, without an HTTP proxy (add it to NO_PROXY)"
                ) from None
            raise
        return token


def _scopes(scopes: Scopes) -> Optional[str]:
    if scopes is None:
        return None
    listed = [scopes] if isinstance(scopes, str) else list(scopes)
    joined = ",".join(s.strip() for s in listed if s and s.strip())
    return joined or None


class GoogleMetadataAuth(TokenAuth, FromEnv):
    """Tokens of the service account attached to where the code runs on Google Cloud.

    Safe for concurrent use; one token call per token lifetime whatever the thread
    count (and across processes with a shared cache), renewed ahead of expiry.

    Args:
        scopes: OAuth scopes for the access token (a string or a list); None: the
            scopes the VM's service account was given. GKE and Cloud Run ignore them.
        target_audience: ask for an ID token for this audience instead of an
            access token (Cloud Run, IAP, your own services); ``format=full``.
        service_account: ``"default"`` or the email of another attached account.
        metadata_host: the metadata server's ``host[:port]``; default: the platform
            variable google-auth reads (see :data:`PROVIDER`), else ``metadata.google.internal``.
        token_url: the metadata URL to call instead of the one built from the host.
            Plain HTTP is allowed only to a metadata address or to the host the
            platform variable names.
        environ: where the platform variable is read; default ``os.environ``.
        options: the options of every renewing auth (``cache``, ``leeway``,
            ``timeout`` ...; see :class:`~requests_multiauth.TokenAuth`). The
            defaults here: ``timeout=GOOGLE_METADATA_TIMEOUT`` and
            ``retry=GOOGLE_METADATA_RETRY``.

    Raises (on a request):
        TokenRequestError: no metadata server answered ("not on Google Cloud"), or it refused.
        TokenResponseError: the answer lacks ``Metadata-Flavor: Google`` or holds no token.
    """

    reads_platform_environ = True
    provider_name = "google-metadata"

    def __init__(
        self,
        *,
        scopes: Scopes = None,
        target_audience: Optional[str] = None,
        service_account: str = "default",
        metadata_host: Optional[str] = None,
        token_url: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        if not isinstance(service_account, str) or not service_account.strip():
            raise ConfigurationError("service_account must be 'default' or a service account's email")
        if target_audience is not None and not target_audience.strip():
            raise ConfigurationError("target_audience is empty: pass the audience of the ID token, or None")
        source = os.environ if environ is None else environ
        named = PROVIDER.value("metadata_host", source)  # where the platform says its server is
        if token_url is None:
            host = (metadata_host or "").strip() or named or GOOGLE_METADATA_HOST
            what = "identity" if target_audience is not None else "token"
            token_url = "http://" + host + _ACCOUNT_PATH.format(account=quote(service_account, safe="@"), what=what)
        found = metadata_origin(token_url, [named])
        grant = GoogleMetadataGrant(
            token_url,
            service_account=service_account,
            scopes=_scopes(scopes),
            target_audience=target_audience,
            plain_http_hosts=(found,) if found is not None else (),
        )
        options.setdefault("timeout", GOOGLE_METADATA_TIMEOUT)
        options.setdefault("retry", GOOGLE_METADATA_RETRY)
        self.scopes = grant.scopes
        self.target_audience = target_audience
        self.service_account = service_account
        super().__init__(grant, token_url, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (
            ("service_account", self.service_account),
            *super()._public_fields(),
            ("scopes", self.scopes),
            ("target_audience", self.target_audience),
        )


PROVIDER = Provider(
    name="google-metadata",
    auth_class=GoogleMetadataAuth,
    env=(
        EnvVar(
            name="GCE_METADATA_HOST",
            parameter="metadata_host",
            meaning="the metadata server's host[:port], as google-auth reads it (default metadata.google.internal)",
            required=False,
        ),
        EnvVar(
            name="GOOGLE_METADATA_SCOPES",
            parameter="scopes",
            meaning="OAuth scopes of the access token, comma-separated (default: the VM's)",
            required=False,
        ),
        EnvVar(
            name="GOOGLE_METADATA_AUDIENCE",
            parameter="target_audience",
            meaning="ask for an ID token for this audience instead of an access token",
            required=False,
        ),
    ),
    docs_url="https://cloud.google.com/compute/docs/access/authenticate-workloads",
    emulator=LazyEmulator("requests_multiauth.testing._metadata:GoogleMetadataEmulator"),
    scheme="Google Cloud metadata server (GCE, GKE, Cloud Run): access or ID tokens, no secret",
)
