"""GitHub's REST API for a GitHub App, on loopback: the app JWT checked, installations, tokens, issues.

What is checked, as GitHub documents it:

* the app JWT (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app):
  RS256 signed by the app's key, ``iss`` the app ID or client ID, ``iat`` not in the
  future, ``exp`` not passed and at most 10 minutes ahead; refused with GitHub's 401
  messages (``A JSON web token could not be decoded`` ...);
* ``GET /app``, ``GET /app/installations``, ``GET /repos/{owner}/{repo}/installation``,
  ``/orgs/{org}/installation``, ``/users/{username}/installation`` (the app JWT);
* ``POST /app/installations/{id}/access_tokens`` (the app JWT; JSON ``repositories``
  and ``permissions`` narrowing, 422 beyond the installation's) answering 201
  ``{"token", "expires_at", "permissions", "repository_selection"}``;
* the API (installation tokens, ``Bearer`` or ``token``): ``GET /repos/{owner}/{repo}``,
  ``GET|POST /repos/{owner}/{repo}/issues/{n}/comments``; 401 ``Bad credentials``
  for an unknown, expired or revoked token; with ``rate_limited``, 403 with
  ``x-ratelimit-remaining: 0`` (GitHub's primary rate limit answer).

Error bodies are GitHub's: ``{"message", "documentation_url", "status"}``.
"""

from __future__ import annotations

import datetime
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..providers.github_app import GITHUB_API_VERSION, GitHubAppAuth
from ..providers.github_app_jwt import GitHubAppJwtAuth
from ._emulator import EXPIRED, ProviderEmulator
from ._server import Reply, Request
from ._wire import Refusal, random_id

__all__ = ["GitHubEmulator", "Installation"]

#: GitHub's cap on an app JWT's exp, seconds ahead of its clock.
MAX_JWT_AHEAD = 600

#: The API versions the emulator accepts in X-GitHub-Api-Version.
API_VERSIONS = frozenset({GITHUB_API_VERSION, "2026-03-10"})

_DOCS = "https://docs.github.com/rest"
_LEVELS = {"read": 1, "write": 2, "admin": 3}


@dataclass
class Installation:
    """One installation of the app: on an account, for all or selected repositories."""

    id: int
    account: str
    account_type: str  # "Organization" or "User"
    repositories: List[str]
    selection: str = "all"  # or "selected"
    permissions: Dict[str, str] = field(
        default_factory=lambda: {"issues": "write", "contents": "read", "metadata": "read"}
    )
    suspended: bool = False


def _error(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> Refusal:
    return Refusal(
        Reply(status, {"message": message, "documentation_url": _DOCS, "status": str(status)}, headers or {})
    )


class GitHubEmulator(ProviderEmulator):
    """GitHub's API for one app with two installations: the organization ``octo-org``
    (all repositories: ``hello-world``, ``spoon-knife``) and the user ``octocat``
    (selected: ``linguist``).

    Attributes: ``app_id``, ``client_id``, ``private_key`` (PEM text), ``private_key_path``
    (a file in a temporary directory removed by :meth:`stop`), ``installations``.
    Settings: ``rate_limited`` (the API answers GitHub's 403 rate-limit answer).
    Counters: ``token_calls`` (access-token POSTs), ``lookups`` (installation lookups),
    ``app_calls`` (``/app`` calls with the JWT); :meth:`jwts` gives the app JWTs accepted.
    """

    name = "github-app"
    token_path = "/app/installations/"
    api_path = "/repos/"  # the repositories API; the REST root (api_url=) is the origin, url
    default_lifetime = 3600.0  # "The installation access token will expire after 1 hour"

    app_id: int
    client_id: str
    private_key: str
    rate_limited: bool

    def _make_credentials(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        self.app_id = secrets.randbelow(900_000) + 100_000
        self.client_id = "Iv23li" + random_id(14)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = key.public_key()
        # GitHub hands out PKCS#1 ("BEGIN RSA PRIVATE KEY") files.
        self.private_key = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()
        self.directory = tempfile.mkdtemp(prefix="github-emulator-")
        self.private_key_path = f"{self.directory}/app.private-key.pem"
        with open(self.private_key_path, "w", encoding="ascii") as handle:
            handle.write(self.private_key)
        self.installations: Dict[int, Installation] = {}
        for account, kind, repositories, selection in (
            ("octo-org", "Organization", ["hello-world", "spoon-knife"], "all"),
            ("octocat", "User", ["linguist"], "selected"),
        ):
            number = secrets.randbelow(90_000_000) + 10_000_000
            self.installations[number] = Installation(number, account, kind, repositories, selection)
        self._jwts: List[Dict[str, Any]] = []
        self._comments: Dict[Tuple[str, str, int], List[Dict[str, Any]]] = {}
        self._grants: Dict[str, Tuple[int, Dict[str, str], List[str]]] = {}

    def _reset_settings(self) -> None:
        self.rate_limited = False

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- where it is ---------------------------------------------------------------------

    def installation(self, account: str) -> Installation:
        """The installation on *account*."""
        return next(found for found in self.installations.values() if found.account == account)

    @property
    def credentials(self) -> Dict[str, str]:
        return {"app_id": str(self.app_id), "private_key": self.private_key}

    def environ_values(self) -> Dict[str, str]:
        return {
            "app_id": str(self.app_id),
            "private_key": self.private_key_path,
            "owner": "octo-org",
            "api_url": self.url,
        }

    def auth(self, **options: Any) -> GitHubAppAuth:
        """``GitHubAppAuth`` for the ``octo-org`` installation (looked up by owner), unless *options* say otherwise."""
        if "installation_id" not in options:
            options.setdefault("owner", "octo-org")
        options.setdefault("api_url", self.url)
        return GitHubAppAuth(self.app_id, self.private_key, **self._auth_options(options))

    def jwt_auth(self, **options: Any) -> GitHubAppJwtAuth:
        """``GitHubAppJwtAuth`` for this emulator's app."""
        options.setdefault("api_url", self.url)
        return GitHubAppJwtAuth(self.app_id, self.private_key, **self._auth_options(options))

    # -- what tests look at ------------------------------------------------------------------

    @property
    def lookups(self) -> int:
        """Installation lookups received (``GET /repos|orgs|users/.../installation``)."""
        return self._count("lookup")

    @property
    def app_calls(self) -> int:
        """Requests to the app's own endpoints (``/app``, ``/app/installations``), not counting token requests."""
        return self._count("app")

    def jwts(self) -> List[Dict[str, Any]]:
        """The app JWTs accepted: ``{"header", "claims", "path"}`` each, in order."""
        with self._lock:
            return list(self._jwts)

    def comments(self, owner: str, repo: str, number: int) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self._comments.get((owner, repo, number), []))

    # -- the request flow ------------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        try:
            version = request.headers.get("X-GitHub-Api-Version")
            if version is not None and version not in API_VERSIONS:
                raise _error(400, f"API version '{version}' is not supported.")
            return self._route(request)
        except Refusal as refusal:
            return refusal.reply

    def _route(self, request: Request) -> Reply:
        path, method = request.path, request.method
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if match:
            self._bump("token")
            fault = self._take_fault("token")
            if fault is not None:
                return fault
            if method != "POST":
                raise _error(404, "Not Found")
            return self._access_token(request, int(match.group(1)))
        if path == "/app" or path.startswith("/app/"):
            self._bump("app")
            claims = self._check_jwt(request)
            if path == "/app" and method == "GET":
                return Reply(
                    200,
                    {
                        "id": self.app_id,
                        "client_id": self.client_id,
                        "slug": "emulated-app",
                        "name": "Emulated App",
                        "owner": {"login": "octo-org"},
                    },
                )
            if path == "/app/installations" and method == "GET":
                return Reply(200, [self._installation_json(found) for found in self.installations.values()])
            del claims
            raise _error(404, "Not Found")
        lookup = re.fullmatch(r"/(repos/([^/]+)/([^/]+)|orgs/([^/]+)|users/([^/]+))/installation", path)
        if lookup and method == "GET":
            self._bump("lookup")
            self._check_jwt(request)
            repo_owner, repo, org, user = lookup.group(2), lookup.group(3), lookup.group(4), lookup.group(5)
            for found in self.installations.values():
                if repo_owner and found.account == repo_owner and repo in found.repositories:
                    return Reply(200, self._installation_json(found))
                if org and found.account == org and found.account_type == "Organization":
                    return Reply(200, self._installation_json(found))
                if user and found.account == user:
                    return Reply(200, self._installation_json(found))
            raise _error(404, "Not Found")
        if not self._is_api(path):
            raise _error(404, "Not Found")
        return self._api_request(request)

    def _check_jwt(self, request: Request) -> Dict[str, Any]:
        import jwt

        value = request.bearer
        if value is None:
            raise _error(401, "A JSON web token could not be decoded")  # GitHub's words for no JWT at all
        try:
            header = jwt.get_unverified_header(value)
            claims = jwt.decode(
                value,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            raise _error(401, "A JSON web token could not be decoded") from None
        now = self.clock()
        if str(claims["iss"]) not in (str(self.app_id), self.client_id):
            raise _error(401, "Integration not found")
        if not isinstance(claims["iat"], int) or claims["iat"] > now + 1:
            raise _error(
                401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued."
            )
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            raise _error(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time "
                "at which the assertion expires.",
            )
        if claims["exp"] > now + MAX_JWT_AHEAD:
            raise _error(401, "'Expiration time' claim ('exp') is too far in the future.")
        with self._lock:
            self._jwts.append(
                {"header": header, "claims": claims, "path": request.path, "headers": dict(request.headers)}
            )
        return claims

    def _installation_json(self, found: Installation) -> Dict[str, Any]:
        return {
            "id": found.id,
            "account": {"login": found.account, "type": found.account_type},
            "app_id": self.app_id,
            "client_id": self.client_id,
            "repository_selection": found.selection,
            "access_tokens_url": f"{self.url}/app/installations/{found.id}/access_tokens",
            "permissions": dict(found.permissions),
            "suspended_at": "2026-01-01T00:00:00Z" if found.suspended else None,
        }

    def _access_token(self, request: Request, number: int) -> Reply:
        self._check_jwt(request)
        found = self.installations.get(number)
        if found is None:
            raise _error(404, "Not Found")
        if found.suspended:
            raise _error(403, "This installation has been suspended")
        body: Dict[str, Any] = {}
        if request.body:
            try:
                body = request.json()
            except ValueError:
                raise _error(400, "Problems parsing JSON") from None
            if not isinstance(body, dict):
                raise _error(400, "Problems parsing JSON")
        repositories = body.get("repositories")
        if repositories is not None and (
            not isinstance(repositories, list) or any(name not in found.repositories for name in repositories)
        ):
            raise _error(
                422,
                "There is at least one repository that does not exist or is not accessible to the parent installation.",
            )
        permissions = body.get("permissions") or {}
        for scope, level in permissions.items():
            granted = found.permissions.get(scope)
            if granted is None or _LEVELS.get(level, 99) > _LEVELS[granted]:
                raise _error(422, "The permissions requested are not granted to this installation.")
        token = "ghs_" + random_id(36, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        _, issued = self._issue(found.account, jwt=False)
        # _issue made its own opaque token; remember ours in its place, as GitHub's ghs_ format.
        with self._lock:
            for key, value in list(self._tokens.items()):
                if value is issued:
                    del self._tokens[key]
            self._tokens[token] = issued
            self._grants[token] = (
                number,
                dict(permissions or found.permissions),
                list(repositories or found.repositories),
            )
        expires = datetime.datetime.fromtimestamp(issued.expires_at or 0, datetime.timezone.utc)
        answer: Dict[str, Any] = {
            "token": token,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": dict(permissions or found.permissions),
            "repository_selection": "selected" if repositories is not None else found.selection,
        }
        if repositories is not None:
            answer["repositories"] = [{"name": name, "full_name": f"{found.account}/{name}"} for name in repositories]
        return Reply(201, answer)

    def _api_request(self, request: Request) -> Reply:
        self._bump("api")
        fault = self._take_fault("api")
        if fault is not None:
            return fault
        if self.rate_limited:
            reset = int(self.clock()) + 600
            raise _error(
                403,
                "API rate limit exceeded for installation ID.",
                {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-used": "5000",
                    "x-ratelimit-reset": str(reset),
                    "x-ratelimit-resource": "core",
                },
            )
        value = request.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            raise _error(401, "Requires authentication")
        with self._lock:
            issued = self._tokens.get(token)
            grant = self._grants.get(token)
        if (
            issued is None
            or grant is None
            or issued.revoked
            or (issued.expires_at is not None and self.clock() >= issued.expires_at)
        ):
            raise _error(401, "Bad credentials")
        number, permissions, repositories = grant
        found = self.installations[number]
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/issues/(\d+)/comments)?", request.path)
        if match is None:  # any other path: an echo of what was received, as every emulator's API answers
            return Reply(200, self._api_answer(request, issued))
        owner, repo = match.group(1), match.group(2)
        if owner != found.account or repo not in repositories:
            raise _error(404, "Not Found")
        if match.group(3) is None:
            return Reply(200, {"name": repo, "full_name": f"{owner}/{repo}", "private": False})
        number_ = int(match.group(4))
        key = (owner, repo, number_)
        if request.method == "GET":
            return Reply(200, self.comments(owner, repo, number_))
        if request.method != "POST":
            raise _error(404, "Not Found")
        if _LEVELS.get(permissions.get("issues", ""), 0) < _LEVELS["write"]:
            raise _error(403, "Resource not accessible by integration")
        try:
            body = request.json()
        except ValueError:
            raise _error(400, "Problems parsing JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            raise _error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        comment = {
            "id": secrets.randbelow(10**9),
            "body": body["body"],
            "user": {"login": "emulated-app[bot]", "type": "Bot"},
        }
        with self._lock:
            self._comments.setdefault(key, []).append(comment)
        return Reply(201, comment)

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        return Reply(
            401,
            {"message": "Bad credentials", "documentation_url": _DOCS, "status": "401", "expired": reason == EXPIRED},
        )
