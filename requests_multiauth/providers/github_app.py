"""GitHub Apps: the app JWT, and installation access tokens traded for it.

A GitHub App signs a short JWT with its private key (RS256; ``iat`` 60 s in the past
against clock drift, ``exp`` at most 10 minutes ahead, ``iss`` the app's client ID or
app ID: https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app)
and trades it for an installation access token that lives an hour
(``POST {api_url}/app/installations/{id}/access_tokens``, 201 ``{token, expires_at}``:
https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app).
The installation is found from the account or repository when no id is given
(``GET /repos/{owner}/{repo}/installation``, ``/orgs/{org}/installation``,
``/users/{username}/installation``), once per auth.

* :class:`GitHubAppAuth` presents installation tokens: for the repositories and
  organizations the app is installed on.
* :class:`~requests_multiauth.GitHubAppJwtAuth` (its own module, ``github_app_jwt``) presents the
  app JWT itself, for the ``/app`` endpoints.

GitHub Enterprise Server by ``api_url`` (``https://HOST/api/v3``). The token's format is
never assumed (GitHub changes it; ``ghs_`` today): it is an opaque string whose expiry
is ``expires_at``. A rate-limit answer (403 or 429 with ``x-ratelimit-*`` or
``retry-after``: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api)
is never a reason to renew a token; only a 401 is.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from .. import _jose
from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenRequestError
from ..grants.base import Grant, GrantRequest
from ..token import Token, parse_token_response
from ..transport.endpoint import TokenEndpoint
from ._advice import advise
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "GITHUB_API_URL",
    "GITHUB_API_VERSION",
    "PROVIDER",
    "GitHubAppAuth",
    "GitHubAppJwtGrant",
    "GitHubInstallationGrant",
]

#: The app's private key as GitHub hands it out: PEM text or bytes, or the path of the ``.pem`` file.
PrivateKey = Union[str, bytes, "os.PathLike[str]"]

#: GitHub.com's REST API; GitHub Enterprise Server's is ``https://HOST/api/v3``.
GITHUB_API_URL = "https://api.github.com"

#: The REST API version asked for (https://docs.github.com/en/rest/about-the-rest-api/api-versions).
GITHUB_API_VERSION = "2022-11-28"

#: The media type GitHub recommends (https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#media-types).
GITHUB_ACCEPT = "application/vnd.github+json"

#: "set this 60 seconds in the past to allow for clock drift" (the JWT page above).
APP_JWT_BACKDATE = 60

#: Seconds ahead the app JWT expires. GitHub refuses more than 10 minutes ahead; a minute
#: less leaves room for a server clock behind ours.
APP_JWT_LIFETIME = 540

#: An installation token lives an hour ("The installation access token will expire after 1 hour",
#: the access-token endpoint's page); used only when an answer says no expires_at.
INSTALLATION_TOKEN_LIFETIME = 3600.0

#: GitHub's messages on a refused app JWT or token call, with their meaning and what to do.
GITHUB_ERRORS: Tuple[Tuple[str, str, str], ...] = (
    (
        "could not be decoded",
        "GitHub could not verify the app JWT with the app's public key",
        "pass the private key generated for this app (app settings, Private keys) and its own app or client ID",
    ),
    (
        "too far in the future",
        "the app JWT's exp is more than 10 minutes ahead of GitHub's clock",
        "check the machine's clock (NTP)",
    ),
    (
        "'issued at' claim",
        "the app JWT's iat is in the future for GitHub's clock",
        "check the machine's clock (NTP)",
    ),
    (
        "integration not found",
        "no GitHub App has this app ID or client ID",
        "check app_id: the App ID or Client ID on the app's settings page",
    ),
    (
        "suspended",
        "the installation is suspended",
        "ask an owner of the account to unsuspend the app's installation",
    ),
    (
        "rate limit",
        "GitHub's rate limit for this app is spent; this is not a credential problem",
        "wait until the time in the x-ratelimit-reset header, or make fewer calls",
    ),
    (
        "not accessible to the parent installation",
        "a repository asked for is not one the installation can reach",
        "install the app on that repository, or drop it from repositories=",
    ),
    (
        "permissions requested are not granted",
        "a permission asked for is more than the app was granted",
        "narrow permissions= to what the app's settings grant (read < write < admin)",
    ),
)


def _advise(exc: TokenRequestError) -> TokenRequestError:
    text = f"{exc.error_description or ''} {exc}".lower()
    for needle, meaning, hint in GITHUB_ERRORS:
        if needle in text:
            return advise(exc, meaning, hint)
    return exc


def _api_url(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("api_url is empty: pass 'https://api.github.com' or 'https://HOST/api/v3' for GHES")
    return value.strip().rstrip("/")


def _headers(jwt: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {jwt}", "Accept": GITHUB_ACCEPT, "X-GitHub-Api-Version": GITHUB_API_VERSION}


class AppJwt:
    """Signs app JWTs with the app's private key. Immutable and thread-safe; the key is never shown."""

    def __init__(self, app_id: Union[int, str], private_key: PrivateKey) -> None:
        if isinstance(app_id, bool) or not isinstance(app_id, (int, str)) or not str(app_id).strip():
            raise ConfigurationError("app_id is missing: pass the App ID (a number) or the Client ID (Iv...)")
        self.issuer = str(app_id).strip()
        self.key = _jose.load_signing_key(private_key, alg="RS256", what="the GitHub App's private key")
        self.secrets: Tuple[str, ...] = (
            (private_key,) if isinstance(private_key, str) and "-----BEGIN" in private_key else ()
        )

    def sign(self, now: float) -> Tuple[str, int]:
        """A new app JWT and when it expires (epoch seconds)."""
        issued = int(now) - APP_JWT_BACKDATE
        expires = int(now) + APP_JWT_LIFETIME
        return self.key.sign({"iat": issued, "exp": expires, "iss": self.issuer}), expires

    def __repr__(self) -> str:
        return f"AppJwt(iss={self.issuer!r}, thumbprint={self.key.thumbprint!r})"


class GitHubAppJwtGrant(Grant):
    """The app JWT itself as the token: signed here, no HTTP call. Renewed ahead of its expiry."""

    name = "github_app_jwt"

    def __init__(self, jwt: AppJwt, api_url: str) -> None:
        self.jwt = jwt
        self.api_url = api_url
        self.secrets = jwt.secrets

    def identity(self) -> Mapping[str, Optional[str]]:
        return {"iss": self.jwt.issuer, "api_url": self.api_url, "key_thumbprint": self.jwt.key.thumbprint}

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        signed, expires = self.jwt.sign(now)
        return Token(access_token=signed, token_type="Bearer", expires_at=float(expires), issued_at=now)


class GitHubInstallationGrant(Grant):
    """An installation access token for an app JWT; the installation looked up once when not given.

    Two steps per token call at most: the lookup (first call only, when no
    installation id was given) and the ``access_tokens`` POST, each through the
    auth's endpoint (its retries, errors and telemetry). Called by one thread at
    a time (the auth's lock), so the looked-up id needs no lock of its own.
    """

    name = "github_app_installation"
    default_lifetime = INSTALLATION_TOKEN_LIFETIME

    def __init__(
        self,
        jwt: AppJwt,
        api_url: str,
        *,
        installation_id: Optional[int] = None,
        owner: Optional[str] = None,
        repo: Optional[str] = None,
        repositories: Optional[Sequence[str]] = None,
        permissions: Optional[Mapping[str, str]] = None,
    ) -> None:
        if installation_id is None and not owner:
            raise ConfigurationError(
                "pass installation_id=, or owner= (an organization or user) with repo= if the app is installed on "
                "selected repositories, to find the installation"
            )
        if repo is not None and not owner:
            raise ConfigurationError("repo= needs owner= (the account that owns the repository)")
        if isinstance(repositories, str):
            raise ConfigurationError("repositories= takes a list of repository names, not one string")
        self.jwt = jwt
        self.api_url = api_url
        self.owner = owner
        self.repo = repo
        self.repositories = list(repositories) if repositories is not None else None
        self.permissions = dict(permissions) if permissions is not None else None
        self.installation_id: Optional[int] = int(installation_id) if installation_id is not None else None
        self._given_id = installation_id is not None
        self.secrets = jwt.secrets

    def identity(self) -> Mapping[str, Optional[str]]:
        return {
            "iss": self.jwt.issuer,
            "api_url": self.api_url,
            "installation": str(self.installation_id) if self._given_id else f"{self.owner}/{self.repo or ''}",
            "repositories": ",".join(sorted(self.repositories)) if self.repositories is not None else None,
            "permissions": repr(sorted(self.permissions.items())) if self.permissions is not None else None,
        }

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        try:
            installation = self._installation(endpoint, now)
            token: Token = endpoint.call(
                lambda: self._token_request(installation, now),
                parse=lambda answer: self._parse_installation_token(answer, now),
                grant=self.name,
            )
        except TokenRequestError as exc:
            if exc.status_code == 404 and not self._given_id:
                self.installation_id = None  # uninstalled and installed again: look it up anew next time
            raise _advise(exc) from None
        return token

    def _installation(self, endpoint: TokenEndpoint, now: float) -> int:
        if self.installation_id is not None:
            return self.installation_id
        if self.repo is not None:
            paths = [f"/repos/{self.owner}/{self.repo}/installation"]
        else:
            paths = [f"/orgs/{self.owner}/installation", f"/users/{self.owner}/installation"]
        for index, path in enumerate(paths):
            try:
                lookup = GrantRequest(method="GET", url=self.api_url + path)
                answer = endpoint.call(
                    functools.partial(self._signed, lookup, now), grant="github_app_installation_lookup"
                )
            except TokenRequestError as exc:
                if exc.status_code == 404 and index + 1 < len(paths):
                    continue  # not an organization: try the user
                if exc.status_code == 404:
                    where = f"{self.owner}/{self.repo}" if self.repo else str(self.owner)
                    raise advise(
                        exc,
                        f"the app is not installed on {where}",
                        "install the app on that account or repository (or check owner=/repo=)",
                    ) from None
                raise
            if not isinstance(answer, Mapping) or not isinstance(answer.get("id"), int):
                raise TokenRequestError(f"{self.api_url}{path} answered no installation id")
            found: int = answer["id"]
            self.installation_id = found
            return found
        raise TokenRequestError(f"no installation of the app was found for {self.owner}")  # (the loop returns)

    def _signed(self, request: GrantRequest, now: float) -> GrantRequest:
        signed, _ = self.jwt.sign(now)
        return GrantRequest(
            method=request.method,
            url=request.url,
            json=request.json,
            headers={**_headers(signed), **request.headers},
            secrets=(signed,),
        )

    def _token_request(self, installation: int, now: float) -> GrantRequest:
        body: Dict[str, Any] = {}
        if self.repositories is not None:
            body["repositories"] = self.repositories
        if self.permissions is not None:
            body["permissions"] = self.permissions
        url = f"{self.api_url}/app/installations/{installation}/access_tokens"
        return self._signed(GrantRequest(url=url, json=body or None), now)

    def _parse_installation_token(self, answer: Any, now: float) -> Token:
        # 201 {"token", "expires_at": ISO 8601, "permissions", "repository_selection", ...}: "token" is what
        # RFC 6749 calls access_token; the rest is kept on Token.extra.
        fields = dict(answer) if isinstance(answer, Mapping) else answer
        if isinstance(fields, dict) and "token" in fields and "access_token" not in fields:
            fields["access_token"] = fields.pop("token")
        return parse_token_response(fields, now=now, default_lifetime=self.default_lifetime, secrets=self.secrets)


class GitHubAppAuth(FromEnv, TokenAuth):
    """GitHub's REST and GraphQL APIs as a GitHub App installation. Safe for concurrent use.

    Args:
        app_id: the App ID (a number) or the Client ID (``Iv...``), the JWT's ``iss``.
        private_key: the app's private key: PEM text or bytes, or the path of the ``.pem`` GitHub gave.
        installation_id: the installation; or find it from
        owner: the organization or user the app is installed on, and
        repo: a repository of theirs (for an app installed on selected repositories).
        repositories: narrow the token to these repositories (names).
        permissions: narrow the token's permissions (``{"issues": "write"}``).
        api_url: the REST API root; ``https://HOST/api/v3`` for GitHub Enterprise Server.
        options: the options of every renewing auth (``cache``, ``leeway``, ``session`` ...).

    Tokens last an hour and are renewed ahead of ``expires_at``; a 401 (a token
    revoked early) renews once and replays. A 403 or 429 rate-limit answer is
    returned as is: it is not a credential problem.

    Environment (``from_env()``): ``GITHUB_APP_ID``, ``GITHUB_APP_PRIVATE_KEY_PATH``,
    and ``GITHUB_APP_INSTALLATION_ID`` or ``GITHUB_APP_OWNER`` (``GITHUB_APP_REPO``);
    optionally ``GITHUB_API_URL`` and ``GITHUB_APP_CA_BUNDLE``.

    Raises:
        ConfigurationError: no installation and no owner, an unreadable or non-RSA key.
        TokenRequestError, InvalidClientError: GitHub refused (its meaning and advice in the message).
    """

    provider_name = "github-app"

    def __init__(
        self,
        app_id: Union[int, str],
        private_key: PrivateKey,
        *,
        installation_id: Optional[int] = None,
        owner: Optional[str] = None,
        repo: Optional[str] = None,
        repositories: Optional[Sequence[str]] = None,
        permissions: Optional[Mapping[str, str]] = None,
        api_url: str = GITHUB_API_URL,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        self.api_url = _api_url(api_url)
        grant = GitHubInstallationGrant(
            AppJwt(app_id, private_key),
            self.api_url,
            installation_id=installation_id,
            owner=owner,
            repo=repo,
            repositories=repositories,
            permissions=permissions,
        )
        self.app_id = grant.jwt.issuer
        self._installation = grant
        super().__init__(grant, f"{self.api_url}/app/installations", **options)

    @property
    def installation_id(self) -> Optional[int]:
        """The installation's id: given, or found on the first token call (None until then)."""
        return self._installation.installation_id

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        grant = self._installation
        where = grant.installation_id if grant.installation_id is not None else f"{grant.owner}/{grant.repo or ''}"
        return (("api_url", self.api_url), ("app_id", self.app_id), ("installation", where))


_APP_ENV = (
    EnvVar("GITHUB_APP_ID", "app_id", "the App ID or Client ID"),
    EnvVar("GITHUB_APP_PRIVATE_KEY_PATH", "private_key", "the app's private key (.pem)", path=True, secret=False),
)
_API_ENV = (
    EnvVar("GITHUB_API_URL", "api_url", "the REST API root (GitHub Enterprise Server)", required=False),
    EnvVar("GITHUB_APP_CA_BUNDLE", "verify", "a CA bundle for the token calls", required=False, path=True),
)

PROVIDER = Provider(
    name="github-app",
    auth_class=GitHubAppAuth,
    env=(
        *_APP_ENV,
        EnvVar("GITHUB_APP_INSTALLATION_ID", "installation_id", "the installation id", required=False, convert=int),
        EnvVar("GITHUB_APP_OWNER", "owner", "the organization or user the app is installed on", required=False),
        EnvVar("GITHUB_APP_REPO", "repo", "a repository of the owner's", required=False),
        *_API_ENV,
    ),
    docs_url="https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation",
    emulator=LazyEmulator("requests_multiauth.testing._github:GitHubEmulator"),
    scheme="GitHub App: app JWT (RS256) traded for an installation token",
)
