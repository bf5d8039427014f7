"""header_name= (auth.py): a bad header name is a ConfigurationError when the auth is
built, never a raw ValueError from requests on the first request."""

from __future__ import annotations

import pytest

from requests_multiauth import ClientCredentialsAuth, ConfigurationError, StaticTokenAuth

URL = "https://login.example.com/oauth2/token"

BAD = ["X-Token\r\nX-Evil: 1", "X-Token\n", "", "X Token", "X-Token:", None, "Tök"]


@pytest.mark.parametrize("name", BAD, ids=repr)
def test_a_renewing_auth_refuses_a_bad_header_name_at_construction(name: object) -> None:
    with pytest.raises(ConfigurationError, match="not a valid HTTP header name") as caught:
        ClientCredentialsAuth("client-a", "s3cr3t-value", URL, header_name=name)  # type: ignore[arg-type]
    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.parametrize("name", BAD, ids=repr)
def test_a_static_token_auth_refuses_a_bad_header_name_at_construction(name: object) -> None:
    with pytest.raises(ConfigurationError, match="not a valid HTTP header name"):
        StaticTokenAuth("static-token-value", header_name=name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Authorization", "X-Api-Token", "x_api_key", "Api-Key~1"])
def test_valid_header_names_are_accepted(name: str) -> None:
    assert ClientCredentialsAuth("client-a", "secret", URL, header_name=name).header_name == name
    assert StaticTokenAuth("static", header_name=name).header_name == name
