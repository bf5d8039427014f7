"""A local GitHub Actions runner OIDC endpoint: what ``ACTIONS_ID_TOKEN_REQUEST_URL`` answers.

In a job with ``permissions: id-token: write`` the runner sets
``ACTIONS_ID_TOKEN_REQUEST_URL`` (a URL that already has ``?api-version=2.0``) and
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; the job's client (actions/toolkit
``core.getIDToken``) sends ``GET <url>&audience=<aud>`` with ``Authorization:
Bearer <request token>`` and reads ``{"value": "<JWT>"}``
(https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect).

:class:`GitHubActionsEmulator` answers exactly that: it refuses a request without
the request token (401) or with another method (405), and issues an RS256 JWT from
:attr:`~GitHubActionsEmulator.issuer` (``iss`` ``https://token.actions.githubusercontent.com``)
with the claims GitHub documents (``sub`` ``repo:<owner>/<repo>:ref:<ref>``,
``repository``, ``repository_owner``, ``ref``, ``sha``, ``workflow``, ``actor``,
``event_name``, ``run_id``, ``job_workflow_ref``, ``runner_environment``, ``jti``) and ``aud``
the audience asked for, else ``https://github.com/<owner>`` as GitHub does. The
body of a refusal is the emulator's own: GitHub does not document it.
"""

from __future__ import annotations

import secrets
from typing import Any, Dict, List, Optional

from requests.auth import AuthBase

from ._emulator import ProviderEmulator
from ._server import Reply, Request
from ._token_exchange import WorkloadIssuer
from ._wire import Refusal

__all__ = ["GITHUB_ACTIONS_ISSUER", "GitHubActionsEmulator"]

#: The ``iss`` of GitHub Actions OIDC tokens (github.com; GHES has its own).
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"


class GitHubActionsEmulator(ProviderEmulator):
    """The runner's OIDC token endpoint on loopback HTTPS. See the module docstring.

    Args:
        owner, repo, ref: the repository and ref the job runs for (they shape ``sub``).
        **options: those of :class:`~requests_multiauth.testing.ProviderEmulator`
            (``lifetime`` is the tokens' ``exp`` - ``iat``: the emulator's choice).

    Attributes:
        issuer: the :class:`~requests_multiauth.testing.WorkloadIssuer` that signs the
            tokens; give it to a relying party emulator to trust them.
        request_token: the job's ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (a secret).
        audiences: the audience of each token issued, in order (None: the default).
    """

    name = "github-actions"
    token_path = "/00000000-0000-0000-0000-000000000000/_apis/distributedtask/hubs/Actions/plans/1/jobs/2/idtoken"
    api_path = "/api/"
    default_lifetime = 300.0

    def __init__(
        self, *, owner: str = "octo-org", repo: str = "octo-repo", ref: str = "refs/heads/main", **options: Any
    ) -> None:
        self.owner, self.repo, self.ref = owner, repo, ref
        self.audiences: List[Optional[str]] = []
        super().__init__(**options)
        self.issuer = WorkloadIssuer(GITHUB_ACTIONS_ISSUER, clock=self.clock)

    def _make_credentials(self) -> None:
        self.request_token = secrets.token_urlsafe(32)

    @property
    def request_url(self) -> str:
        """``ACTIONS_ID_TOKEN_REQUEST_URL``: the endpoint with its ``api-version`` query."""
        return self.token_url + "?api-version=2.0"

    def environ(self) -> Dict[str, str]:
        """The two variables a job with ``permissions: id-token: write`` has."""
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token}

    @property
    def credentials(self) -> Dict[str, str]:
        return {"request_token": self.request_token}

    def auth(self, **options: Any) -> AuthBase:
        raise NotImplementedError("the runner gives tokens to other auths: use GitHubActionsToken(environ=...)")

    def token_source(self, audience: Any = None, **options: Any) -> Any:
        """A :class:`~requests_multiauth.GitHubActionsToken` for *audience* reading this
        emulator's variables and trusting its certificate."""
        from ..sources import GitHubActionsToken

        if "session" not in options:
            options["session"] = self.api_session()
        options.setdefault("allow_insecure_loopback", not self.tls)
        return GitHubActionsToken(audience, environ=self.environ(), **options)

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "GET")
        if request.query.get("api-version") != ["2.0"]:
            raise Refusal(Reply(400, {"message": "api-version=2.0 is required"}))
        if request.bearer is None or request.bearer != self.request_token:
            raise Refusal(Reply(401, {"message": "the request token is missing or wrong"}))
        audiences = request.query.get("audience")
        if audiences is not None and len(audiences) != 1:
            raise Refusal(Reply(400, {"message": "audience is repeated"}))
        audience = audiences[0] if audiences else f"https://github.com/{self.owner}"
        with self._lock:
            self.audiences.append(audiences[0] if audiences else None)
        self.issuer.clock = self.clock
        repository = f"{self.owner}/{self.repo}"
        value = self.issuer.token(
            f"repo:{repository}:ref:{self.ref}",
            audience,
            lifetime=self.lifetime,
            repository=repository,
            repository_owner=self.owner,
            ref=self.ref,
            sha="0" * 40,
            workflow="CI",
            actor="octocat",
            event_name="push",
            run_id="1",
            job_workflow_ref=f"{repository}/.github/workflows/ci.yml@{self.ref}",
            runner_environment="github-hosted",
            jti=secrets.token_hex(16),
        )
        self._bump("issued")
        return Reply(200, {"value": value})
