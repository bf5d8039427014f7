"""A misconfiguration is a ConfigurationError (a ValueError, not a failed request), seen at construction,
naming what is wrong; and the public signatures agree across classes (issue 19, deliverable 5)."""

from __future__ import annotations

import inspect
import pydoc
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
import requests

import requests_multiauth
from requests_multiauth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    ConfigurationError,
    MultiAuthError,
)

TOKEN_URL = "https://auth.example.test/oauth2/token"


# -- the exception tree --------------------------------------------------------------------


def test_a_configuration_error_is_a_value_error_outside_the_requests_tree() -> None:
    assert issubclass(ConfigurationError, ValueError)
    assert not issubclass(ConfigurationError, requests.RequestException)
    assert not issubclass(ConfigurationError, MultiAuthError)


def test_a_retry_loop_catching_requests_errors_does_not_swallow_a_misconfiguration() -> None:
    caught: List[Exception] = []

    def retry_loop() -> None:
        for _attempt in range(3):
            try:
                ClientCredentialsAuth("id", "secret", token_url="")
            except requests.RequestException as exc:  # what retry loops catch
                caught.append(exc)

    with pytest.raises(ConfigurationError):
        retry_loop()
    assert caught == []


def test_a_configuration_error_still_renders_short_in_ipython() -> None:
    try:
        ClientCredentialsAuth("id", "secret", token_url="")
    except ConfigurationError as exc:
        lines = exc._render_traceback_()
    assert any("ConfigurationError" in line for line in lines)


# -- verify= and cert= paths are checked at construction ----------------------------------------

AUTHS: Dict[str, Callable[..., Any]] = {
    "ClientCredentialsAuth": lambda **o: ClientCredentialsAuth("id", "secret", TOKEN_URL, **o),
    "AudienceClientCredentialsAuth": lambda **o: AudienceClientCredentialsAuth(
        "id", "secret", TOKEN_URL, audience="https://api", **o
    ),
    "ApiKeyTokenAuth": lambda **o: ApiKeyTokenAuth("key", TOKEN_URL, **o),
    "DataloyAuth": lambda **o: requests_multiauth.DataloyAuth("id", "secret", TOKEN_URL, **o),
    "DiagramsAuth": lambda **o: requests_multiauth.DiagramsAuth("id", "secret", **o),
    "OpsNowAuth": lambda **o: requests_multiauth.OpsNowAuth("key", **o),
}


@pytest.mark.parametrize("make", AUTHS.values(), ids=list(AUTHS))
def test_a_missing_ca_bundle_is_named_at_construction(make: Callable[..., Any], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(ConfigurationError) as raised:
        make(verify=str(missing))
    assert str(missing) in str(raised.value)
    assert "verify=" in str(raised.value)


def test_a_missing_ca_bundle_on_the_given_session_is_named_at_construction(tmp_path: Path) -> None:
    session = requests.Session()
    session.verify = str(tmp_path / "ca.pem")
    with pytest.raises(ConfigurationError, match=r"ca\.pem"):
        ClientCredentialsAuth("id", "secret", TOKEN_URL, session=session)


def test_an_existing_ca_bundle_file_or_directory_is_accepted(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    ClientCredentialsAuth("id", "secret", TOKEN_URL, verify=str(bundle))
    ClientCredentialsAuth("id", "secret", TOKEN_URL, verify=str(tmp_path))
    ClientCredentialsAuth("id", "secret", TOKEN_URL, verify=False)


def test_a_missing_client_certificate_of_a_session_is_named_at_construction(tmp_path: Path) -> None:
    session = requests.Session()
    session.cert = (str(tmp_path / "client.pem"), str(tmp_path / "client.key"))
    with pytest.raises(ConfigurationError, match=r"client\.pem"):
        ClientCredentialsAuth("id", "secret", TOKEN_URL, session=session)


# -- every preset takes client_auth=, and no secret where the method needs none ----------------------


@pytest.fixture
def oauth2() -> Iterator[Any]:
    pytest.importorskip("jwt")
    from requests_multiauth.testing import OAuth2Emulator

    with OAuth2Emulator() as server:
        yield server


def test_diagrams_takes_client_auth_post_and_sends_the_secret_in_the_body(oauth2: Any) -> None:
    client = oauth2.register_client("client_secret_post")
    auth = requests_multiauth.DiagramsAuth(
        client.client_id,
        client.client_secret,
        client_auth="post",
        token_url=oauth2.token_url,
        session=oauth2.api_session(),
    )
    assert oauth2.api_session().get(oauth2.api_url + "things", auth=auth).status_code == 200
    assert oauth2.count_token_calls(client_id=client.client_id, method="client_secret_post", outcome="ok") == 1


def test_diagrams_from_issuer_reads_the_token_endpoint_from_discovery(oauth2: Any) -> None:
    client = oauth2.register_client("client_secret_basic")
    auth = requests_multiauth.DiagramsAuth.from_issuer(
        oauth2.issuer, client.client_id, client.client_secret, session=oauth2.api_session()
    )
    assert auth.token_url == oauth2.token_url
    assert oauth2.api_session().get(oauth2.api_url + "things", auth=auth).status_code == 200
    assert oauth2.count_token_calls(client_id=client.client_id, method="client_secret_basic", outcome="ok") == 1


@pytest.mark.parametrize("preset", ["CognitoAuth", "DiagramsAuth"])
def test_a_form_preset_with_private_key_jwt_needs_no_secret(oauth2: Any, preset: str) -> None:
    from requests_multiauth import PrivateKeyJwt

    client = oauth2.register_client("private_key_jwt")
    cls = getattr(requests_multiauth, preset)
    auth = cls(
        client.client_id,
        token_url=oauth2.token_url,
        client_auth=PrivateKeyJwt(client.private_key_pem),
        session=oauth2.api_session(),
    )
    assert oauth2.api_session().get(oauth2.api_url + "things", auth=auth).status_code == 200
    assert oauth2.count_token_calls(client_id=client.client_id, method="private_key_jwt", outcome="ok") == 1


def test_dataloy_with_private_key_jwt_needs_no_secret(tmp_path: Path) -> None:
    pytest.importorskip("jwt")
    from requests_multiauth import PrivateKeyJwt
    from requests_multiauth._jose import generate_signing_key

    key = PrivateKeyJwt(generate_signing_key("ES256"))
    auth = requests_multiauth.DataloyAuth("client-7", token_url=TOKEN_URL, client_auth=key)
    assert auth.client_auth is key


def test_a_method_that_needs_a_secret_still_refuses_to_be_built_without_one() -> None:
    for make in (
        lambda: requests_multiauth.CognitoAuth("client-7", token_url=TOKEN_URL),
        lambda: requests_multiauth.DiagramsAuth("client-7"),
        lambda: requests_multiauth.DataloyAuth("client-7", token_url=TOKEN_URL),
    ):
        with pytest.raises(ConfigurationError, match="secret"):
            make()


# -- the signatures help(), inspect and IDEs show -----------------------------------------------------

RENEWING = [
    "ClientCredentialsAuth",
    "AudienceClientCredentialsAuth",
    "ApiKeyTokenAuth",
    "CognitoAuth",
    "DataloyAuth",
    "DiagramsAuth",
    "OpsNowAuth",
]


def shared_options() -> List[str]:
    from requests_multiauth.auth import TokenAuth

    params = inspect.signature(TokenAuth).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def test_the_shared_options_are_the_typed_dict_mypy_sees() -> None:
    from requests_multiauth.auth import TokenAuthOptions

    assert shared_options() == list(TokenAuthOptions.__annotations__)


@pytest.mark.parametrize("name", RENEWING)
def test_every_renewing_auth_shows_the_shared_options_as_keyword_parameters(name: str) -> None:
    cls = getattr(requests_multiauth, name)
    params = inspect.signature(cls).parameters
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
    for option in shared_options():
        assert params[option].kind is inspect.Parameter.KEYWORD_ONLY, option
    assert params["leeway"].default == 30.0
    shown = pydoc.plain(pydoc.render_doc(cls))
    header = next(
        line for line in shown.splitlines() if line.lstrip(" |").startswith(f"{name}(")
    )  # help()'s first line
    assert "leeway: 'float' = 30.0" in header
    assert "dpop: " in header
    assert "**options" not in header


@pytest.mark.parametrize("name", RENEWING)
def test_token_url_is_never_an_empty_string_default_and_follows_the_credentials(name: str) -> None:
    params = list(inspect.signature(getattr(requests_multiauth, name)).parameters.values())
    token_url = next(p for p in params if p.name == "token_url")
    assert token_url.default != ""
    credentials = [p for p in params[: params.index(token_url)] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert credentials, "token_url comes after the credentials"
    if token_url.default in (inspect.Parameter.empty, None):  # required: positional or keyword
        assert token_url.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    else:  # the provider's documented default: by keyword
        assert token_url.kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize(
    "name", ["ClientCredentialsAuth", "AudienceClientCredentialsAuth", "CognitoAuth", "DataloyAuth"]
)
def test_a_missing_token_url_is_a_configuration_error(name: str) -> None:
    extra = {"audience": "https://api"} if name == "AudienceClientCredentialsAuth" else {}
    with pytest.raises(ConfigurationError, match="token_url"):
        getattr(requests_multiauth, name)("client-7", "secret-7", **extra)
