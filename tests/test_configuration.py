"""A misconfiguration is a ConfigurationError (a ValueError, not a failed request), seen at construction,
naming what is wrong; and the public signatures agree across classes (issue 19, deliverable 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict

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
    caught = []
    with pytest.raises(ConfigurationError):
        for _attempt in range(3):
            try:
                ClientCredentialsAuth("id", "secret", token_url="")
            except requests.RequestException as exc:  # what retry loops catch
                caught.append(exc)
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
    with pytest.raises(ConfigurationError, match="ca.pem"):
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
    with pytest.raises(ConfigurationError, match="client.pem"):
        ClientCredentialsAuth("id", "secret", TOKEN_URL, session=session)
