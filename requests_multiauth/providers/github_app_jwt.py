"""``GitHubAppJwtAuth`` (``github-app-jwt``): the GitHub App's own JWT, for the ``/app`` endpoints.

The JWT is the one :mod:`.github_app` signs to ask for installation tokens (same key
handling, same claims); this module presents it itself. Its variables are
github-app's: an app is configured once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Tuple, Union

from ..auth import TokenAuth, TokenAuthOptions
from .github_app import _API_ENV, _APP_ENV, GITHUB_API_URL, AppJwt, GitHubAppJwtGrant, PrivateKey, _api_url
from .registry import FromEnv, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["PROVIDER", "GitHubAppJwtAuth"]


class GitHubAppJwtAuth(FromEnv, TokenAuth):
    """The app JWT itself, for GitHub's ``/app`` endpoints (list installations, the app's own details).

    A new JWT is signed ahead of the current one's expiry (it lives 9 minutes);
    no HTTP call is made to get one. Safe for concurrent use.

    Environment (``from_env()``): the app id, key and API URL variables of github-app's
    record (``multiauth providers`` lists them).
    """

    provider_name = "github-app-jwt"

    def __init__(
        self,
        app_id: Union[int, str],
        private_key: PrivateKey,
        *,
        api_url: str = GITHUB_API_URL,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        self.api_url = _api_url(api_url)
        grant = GitHubAppJwtGrant(AppJwt(app_id, private_key), self.api_url)
        self.app_id = grant.jwt.issuer
        super().__init__(grant, f"{self.api_url}/app", **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (("api_url", self.api_url), ("app_id", self.app_id))


PROVIDER = Provider(
    name="github-app-jwt",
    auth_class=GitHubAppJwtAuth,
    env=(*_APP_ENV, *_API_ENV),
    docs_url="https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app",
    emulator=None,  # it shares github-app's: GitHubEmulator.jwt_auth()
    scheme="GitHub App: the app JWT itself, for the /app endpoints",
)
