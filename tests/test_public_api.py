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
    # Stage 2: client authentication (DESIGN.md "client_auth=")
    "ClientSecretJwt",
    "PrivateKeyJwt",
    "ClientAssertion",
    "TlsClientAuth",
    # Stage 2: proof of possession (DESIGN.md "dpop=")
    "DPoPKey",
    # Stage 2: discovery
    "ServerMetadata",
    "discover",
    # Stage 3: token exchange and token sources
    "TokenExchangeAuth",
    "GitHubActionsToken",
    "GoogleExternalAccountAuth",
    # Stage 3: cloud metadata endpoints (DESIGN.md "Vendor presets")
    "GoogleMetadataAuth",
    "AzureManagedIdentityAuth",
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


def test_importing_the_package_does_not_import_the_jwt_library():
    import subprocess
    import sys

    code = "import sys, requests_multiauth; print('jwt' in sys.modules, 'cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
