"""The scheme as a provider of its own: from_env(), the command line and the fixtures follow."""

from typing import Any

from custom_scheme import AppJwtGrant  # the grant of the page's first example (same directory)

from requests_multiauth import TokenAuth
from requests_multiauth.providers.registry import EnvVar, FromEnv, Provider
from requests_multiauth.testing import AppJwtEmulator


class AcmeAppAuth(FromEnv, TokenAuth):
    """Acme's app tokens: the preset users build; from_env() reads the record below."""

    provider_name = "acme-app"

    def __init__(self, app_id: str, private_key: str, token_url: str, **options: Any) -> None:
        super().__init__(AppJwtGrant(app_id, private_key, token_url), token_url, **options)


PROVIDER = Provider(
    name="acme-app",
    auth_class=AcmeAppAuth,
    env=(
        EnvVar("ACME_APP_ID", "app_id", "the app's id"),
        EnvVar("ACME_PRIVATE_KEY", "private_key", "the app's private key (PEM)", secret=True),
        EnvVar("ACME_TOKEN_URL", "token_url", "the token endpoint"),
    ),
    docs_url="https://acme.example/docs/app-tokens",
    scheme="an app JWT traded for a token",
)

with AppJwtEmulator() as server:
    os_environ = {"ACME_APP_ID": server.app_id, "ACME_TOKEN_URL": server.token_url}
    os_environ["ACME_PRIVATE_KEY"] = server.private_key_pem
    auth = PROVIDER.build(os_environ, session=server.api_session())  # AcmeAppAuth.from_env(), once registered
    print(server.api_session().get(server.api_url + "repos", auth=auth).status_code)  # 200
