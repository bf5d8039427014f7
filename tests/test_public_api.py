"""The public names are a contract (DESIGN.md): this guards them."""

import requests

import requests_multiauth

#: Public names from DESIGN.md that must never disappear or be renamed.
CONTRACT = {
    "Token",
    "StaticTokenAuth",
    "ApiKeyTokenAuth",
    "ClientCredentialsAuth",
    "AudienceClientCredentialsAuth",
    "RatedAuth",
    "OpsNowAuth",
    "CognitoAuth",
    "DataloyAuth",
    "DiagramsAuth",
    "MemoryTokenCache",
    "FileTokenCache",
    "RedisTokenCache",
    "MultiAuthSession",
    "AuthAdapter",
    "MultiAuthError",
    "TokenRequestError",
    "InvalidClientError",
    "TokenResponseError",
    "TokenExpiredError",
    "InsecureTransportError",
    # Stage 2
    "ServerMetadata",
    "discover",
}


def test_every_contract_name_is_exported():
    assert set(requests_multiauth.__all__) >= CONTRACT


def test_every_exported_name_exists():
    for name in requests_multiauth.__all__:
        assert hasattr(requests_multiauth, name), name


def test_errors_are_requests_exceptions():
    assert issubclass(requests_multiauth.MultiAuthError, requests.RequestException)
    assert issubclass(requests_multiauth.InvalidClientError, requests_multiauth.TokenRequestError)
    for name in ("TokenRequestError", "TokenResponseError", "TokenExpiredError", "InsecureTransportError"):
        assert issubclass(getattr(requests_multiauth, name), requests_multiauth.MultiAuthError)


def test_package_is_typed():
    from importlib import resources

    assert resources.files("requests_multiauth").joinpath("py.typed").is_file()
