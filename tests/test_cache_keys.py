"""Cache keys (cache.cache_key over each grant's identity in grants.py): who shares a token.

A key derives from the scheme, the token URL, the client id, the scope and the
audience, and a slow one-way digest of the secret (so that a rotated or wrong
secret never reads another credential's token), hashed; never the secret itself. Auths whose keys differ never share a
token, whatever cache they are handed; auths with the same settings do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest

from requests_multiauth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    CognitoAuth,
    FileTokenCache,
    InvalidClientError,
    MemoryTokenCache,
    RetryPolicy,
    TokenAuth,
)
from requests_multiauth.testing import CognitoEmulator, LocalServer
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


def test_the_same_settings_and_secret_give_the_same_key_whatever_the_preset() -> None:
    assert key_of(ClientCredentialsAuth("client-a", CLIENT_SECRET, URL, scope="read")) == key_of(BASE)
    assert key_of(CognitoAuth("client-a", CLIENT_SECRET, URL, scope="read")) == key_of(BASE)


@pytest.mark.parametrize(
    "make",
    [
        lambda secret: ClientCredentialsAuth("client-a", secret, URL, scope="read"),
        lambda secret: ClientCredentialsAuth("client-a", secret, URL, client_auth="client_secret_jwt"),
        lambda secret: AudienceClientCredentialsAuth("client-a", secret, URL, audience="https://dataloy"),
    ],
    ids=["basic", "client_secret_jwt", "json"],
)
def test_a_rotated_or_wrong_secret_gives_another_key_that_shows_nothing_of_it(
    make: Callable[[str], TokenAuth],
) -> None:
    good, rotated = make(CLIENT_SECRET), make("rotated-secret")
    assert key_of(good) != key_of(rotated)
    assert key_of(good) == key_of(make(CLIENT_SECRET))
    assert CLIENT_SECRET not in key_of(good)
    assert "rotated" not in key_of(rotated)


def test_the_secret_digest_is_made_on_the_first_token_call_not_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from requests_multiauth.grants import base

    digests: list = []
    real = base._key_digest
    monkeypatch.setattr(base, "_key_digest", lambda secret: digests.append(1) or real(secret))
    auth = ClientCredentialsAuth("client-a", "a-secret-for-digest", URL)
    assert digests == []
    key_of(auth), key_of(auth)
    assert digests == [1]  # once, however often the key is read


def test_a_wrong_secret_on_a_shared_cache_makes_its_own_token_call_and_gets_the_refusal(tmp_path: Path) -> None:
    with CognitoEmulator() as cognito:
        cache = FileTokenCache(tmp_path / "tokens")
        good = cognito.auth(cache=cache)
        assert cognito.api_session().get(cognito.api_url + "items", auth=good).status_code == 200
        wrong = CognitoAuth(
            cognito.client_id,
            "not-" + cognito.client_secret,
            cognito.token_url,
            cache=cache,
            session=cognito.api_session(),
            retry=RetryPolicy(attempts=1),
            scope=good.scope,
        )
        with pytest.raises(InvalidClientError):
            wrong.get_token()
        assert cognito.token_calls == 2


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
