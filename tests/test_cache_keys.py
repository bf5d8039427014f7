"""Cache keys (cache.cache_key over each grant's identity in grants.py): who shares a token.

A key derives from the scheme, the token URL, the client id, the scope and the
audience, hashed; never from the secret. Auths whose keys differ never share a
token, whatever cache they are handed; auths with the same settings do.
"""

from __future__ import annotations

import re
from typing import Callable

import pytest

from requests_multiauth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    CognitoAuth,
    MemoryTokenCache,
    TokenAuth,
)
from requests_multiauth.testing import LocalServer
from tests.fixtures_cache import CLIENT_SECRET, TokenEndpointStub, make_auth

URL = "https://login.example.com/oauth2/token"


def key_of(auth: TokenAuth) -> str:
    return auth._manager.key


BASE = ClientCredentialsAuth("client-a", CLIENT_SECRET, URL, scope="read")

DIFFERENT = {
    "another client": ClientCredentialsAuth("client-b", CLIENT_SECRET, URL, scope="read"),
    "another token URL": ClientCredentialsAuth("client-a", CLIENT_SECRET, URL + "2", scope="read"),
    "another scope": ClientCredentialsAuth("client-a", CLIENT_SECRET, URL, scope="read write"),
    "no scope": ClientCredentialsAuth("client-a", CLIENT_SECRET, URL),
    "another scheme": AudienceClientCredentialsAuth("client-a", CLIENT_SECRET, URL, audience=None),
    "an audience": AudienceClientCredentialsAuth("client-a", CLIENT_SECRET, URL, audience="https://dataloy"),
}


@pytest.mark.parametrize("other", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_a_different_client_url_scope_audience_or_scheme_gives_a_different_key(other: TokenAuth) -> None:
    assert key_of(other) != key_of(BASE)


def test_two_audiences_give_two_keys() -> None:
    dev = AudienceClientCredentialsAuth("client-a", CLIENT_SECRET, URL, audience="https://dataloy.dev")
    assert key_of(dev) != key_of(DIFFERENT["an audience"])


def test_the_same_settings_give_the_same_key_whatever_the_secret_or_preset() -> None:
    assert key_of(ClientCredentialsAuth("client-a", CLIENT_SECRET, URL, scope="read")) == key_of(BASE)
    assert key_of(ClientCredentialsAuth("client-a", "rotated-secret", URL, scope="read")) == key_of(BASE)
    assert key_of(CognitoAuth("client-a", CLIENT_SECRET, URL, scope="read")) == key_of(BASE)


def test_a_key_is_a_hash_that_shows_nothing_of_the_credentials() -> None:
    key = key_of(BASE)
    assert re.fullmatch(r"rma1-[0-9a-f]{40}", key)
    for visible in ("client-a", CLIENT_SECRET, "login.example.com", "read"):
        assert visible not in key


def test_api_keys_tell_two_keys_apart_without_showing_either() -> None:
    first, second = (ApiKeyTokenAuth(api_key, URL) for api_key in ("ak-Zq81Lw0pX7", "ak-Mn52Hd6tR4"))
    assert key_of(first) != key_of(second)
    assert key_of(first) == key_of(ApiKeyTokenAuth("ak-Zq81Lw0pX7", URL))
    assert "ak-" not in key_of(first) + key_of(second)


def test_auths_of_different_clients_on_one_cache_never_share_a_token_and_the_same_client_does(
    serve: Callable[..., LocalServer],
) -> None:
    stub = TokenEndpointStub()
    server = serve(stub)
    cache = MemoryTokenCache()
    a, b, a_again = (make_auth(server, cache, client_id=c) for c in ("client-a", "client-b", "client-a"))

    assert [auth.get_token().access_token for auth in (a, b, a_again)] == ["tok-1", "tok-2", "tok-1"]
    assert stub.calls == ["client-a", "client-b"]
