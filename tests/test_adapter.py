"""AuthAdapter: authenticates only its API, never a redirect target, and replays a 401 once."""

from __future__ import annotations

import io
import logging

import pytest
import requests

from requests_multiauth import AuthAdapter, ConfigurationError, StaticTokenAuth
from tests.fixtures_apis import (
    CLIENTS,
    Api,
    always_401,
    ca_bundle,
    open_route,
    plain_session,
    redirect_to,
    tokens_carried,
)


def test_adapter_on_a_broad_prefix_authenticates_only_its_origin(tokens, api_a, api_b, bundle):
    session = plain_session(bundle)
    session.mount("https://", AuthAdapter(tokens.auth("alpha"), origins=api_a.url))

    assert session.get(api_a.url + "/items").status_code == 200
    assert session.get(api_b.url + "/items").status_code == 401

    (to_b,) = api_b.received("/items")
    assert "Authorization" not in to_b.headers
    assert tokens_carried(to_b, tokens.all_tokens()) == set()


def test_adapter_without_origins_pins_the_first_origin_it_sends_to(tokens, api_a, api_b, bundle):
    adapter = AuthAdapter(tokens.auth("alpha"))
    session = plain_session(bundle)
    session.mount("https://", adapter)
    assert adapter.origins == ()

    assert session.get(api_a.url + "/one").status_code == 200
    session.get(api_b.url + "/two")
    assert session.get(api_a.url + "/three").status_code == 200

    assert adapter.origins == (api_a.url + "/",)
    assert tokens_carried(api_b.received("/two")[0], tokens.all_tokens()) == set()


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("header_name", ["Authorization", "X-Api-Token"])
def test_redirect_to_another_host_carries_no_token(serve, tokens, api_b, tmp_path, status, header_name):
    api_a = Api(serve, tokens, "alpha", header_name=header_name)
    api_a.routes["/moved"] = lambda request: (
        redirect_to(api_b.url + "/landing", status)(request) if api_a.token_of(request) else open_route(request)
    )
    api_b.routes["/landing"] = open_route
    session = plain_session(ca_bundle(tmp_path, tokens.server, api_a.server, api_b.server))
    session.mount("https://", AuthAdapter(tokens.auth("alpha", header_name=header_name), origins=api_a.url))

    response = session.post(api_a.url + "/moved", data=b"payload")

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [status]
    (moved,) = api_a.received("/moved")
    assert api_a.token_of(moved) in tokens.issued["alpha"]  # the API itself got the token
    (landing,) = api_b.received("/landing")
    assert header_name not in landing.headers
    assert tokens_carried(landing, tokens.all_tokens()) == set()


def test_redirect_within_its_api_keeps_the_token(tokens, api_a, bundle):
    api_a.routes["/old"] = redirect_to(api_a.url + "/new")
    session = plain_session(bundle)
    session.mount(api_a.url + "/", AuthAdapter(tokens.auth("alpha"), origins=api_a.url))

    response = session.get(api_a.url + "/old")

    assert response.status_code == 200
    assert response.json()["path"] == "/new"


@pytest.mark.parametrize("make_body", [lambda: b"a=1&b=2", lambda: io.BytesIO(b"a=1&b=2")], ids=["bytes", "file"])
def test_adapter_renews_and_replays_a_401_once_with_the_body_rewound(tokens, api_a, bundle, make_body):
    auth = tokens.auth("alpha")
    first = auth.get_token().access_token
    api_a.revoked.add(first)  # the API gave up the token before its stated expiry
    session = plain_session(bundle)
    session.mount(api_a.url + "/", AuthAdapter(auth, origins=api_a.url))

    response = session.post(api_a.url + "/orders", data=make_body())

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert response.json()["body"] == "a=1&b=2"
    sent = api_a.received("/orders")
    assert [api_a.token_of(r) for r in sent] == [first, tokens.issued["alpha"][1]]
    assert [r.body for r in sent] == [b"a=1&b=2", b"a=1&b=2"]
    assert tokens.calls("alpha") == 2


def test_adapter_returns_a_second_401_without_looping(tokens, api_a, bundle):
    api_a.routes["/forbidden"] = always_401
    session = plain_session(bundle)
    session.mount(api_a.url + "/", AuthAdapter(tokens.auth("alpha"), origins=api_a.url))

    response = session.get(api_a.url + "/forbidden")

    assert response.status_code == 401
    assert len(response.history) == 1
    assert len(api_a.received("/forbidden")) == 2
    assert tokens.calls("alpha") == 2


def test_same_auth_on_session_and_adapter_renews_and_replays_only_once(tokens, api_a, bundle):
    auth = tokens.auth("alpha")
    api_a.revoked.add(auth.get_token().access_token)
    api_a.routes["/always-401"] = always_401
    session = plain_session(bundle)
    session.auth = auth
    session.mount(api_a.url + "/", AuthAdapter(auth, origins=api_a.url))

    renewed = session.get(api_a.url + "/items")
    refused = session.get(api_a.url + "/always-401")

    assert renewed.status_code == 200
    assert len(api_a.received("/items")) == 2  # first try and one replay, not two
    assert refused.status_code == 401
    assert len(api_a.received("/always-401")) == 2
    assert tokens.calls("alpha") == 3  # first token, the renewal after /items, the one after /always-401


def test_static_token_401_is_returned_once_with_a_hint(api_a, bundle, caplog):
    auth = StaticTokenAuth("static-token-7d1e", renew_hint="make a new token in the console")
    session = plain_session(bundle)
    session.mount(api_a.url + "/", AuthAdapter(auth, origins=api_a.url))

    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        response = session.get(api_a.url + "/items")

    assert response.status_code == 401
    assert len(api_a.received("/items")) == 1
    assert api_a.token_of(api_a.received("/items")[0]) == "static-token-7d1e"
    assert "make a new token in the console" in caplog.text
    assert "static-token-7d1e" not in caplog.text


def test_adapter_refuses_an_auth_it_cannot_drive():
    with pytest.raises(ConfigurationError, match=r"session\.auth"):
        AuthAdapter(requests.auth.HTTPBasicAuth("user", "password"))  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["https://", "api.example.com", "ftp://api.example.com/"])
def test_origins_must_name_a_host(prefix):
    with pytest.raises(ConfigurationError, match="with a host"):
        AuthAdapter(StaticTokenAuth("t"), origins=prefix)


@pytest.mark.parametrize(
    ("url", "served"),
    [
        ("https://api.example.com/v2/items", True),
        ("https://API.example.com:443/v2/items", True),
        ("https://api.example.com/v2", False),
        ("https://api.example.com/v1/items", False),
        ("http://api.example.com/v2/items", False),
        ("https://api.example.com:8443/v2/items", False),
        ("https://api.example.com.evil.example/v2/items", False),
        ("https://evil.example/https://api.example.com/v2/", False),
    ],
)
def test_adapter_serves_its_origin_and_path_prefix_only(url, served):
    adapter = AuthAdapter(StaticTokenAuth("t"), origins=["https://api.example.com/v2/"])
    assert adapter.serves(url) is served


def test_bare_origin_covers_every_path_of_that_origin_only():
    adapter = AuthAdapter(StaticTokenAuth("t"), origins="https://api.example.com")
    assert adapter.serves("https://api.example.com/anything")
    assert not adapter.serves("https://api.example.com.evil.example/anything")


def test_close_closes_the_adapter_pools_but_not_the_token_pool_other_auths_share(tokens, api_a, bundle, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)  # the auths use the shared token session; let it trust us
    auth = tokens.auth("alpha", session=None)
    other = tokens.auth("beta", session=None)
    adapter = AuthAdapter(auth, origins=api_a.url)
    session = plain_session(bundle)
    session.mount(api_a.url + "/", adapter)
    assert session.get(api_a.url + "/items").status_code == 200
    assert len(adapter.poolmanager.pools) == 1

    session.close()

    assert len(adapter.poolmanager.pools) == 0
    assert other.get_token().access_token  # the token pool the auths share still works
    assert session.get(api_a.url + "/again").status_code == 200  # closed is not broken


def test_repr_shows_the_auth_and_origins_but_no_secret(tokens, api_a, bundle):
    auth = tokens.auth("alpha")
    adapter = AuthAdapter(auth, origins=api_a.url + "/v2/")
    session = plain_session(bundle)
    session.mount(api_a.url + "/", adapter)
    session.get(api_a.url + "/v2/items")

    shown = repr(adapter)

    assert shown.startswith("AuthAdapter(ClientCredentialsAuth(client_id='alpha'")
    assert f"origins=['{api_a.url}/v2/']" in shown
    assert CLIENTS["alpha"] not in shown
    assert not any(token in shown for token in tokens.all_tokens())
    assert "first origin" in repr(AuthAdapter(StaticTokenAuth("static-secret-token")))
    assert "static-secret-token" not in repr(AuthAdapter(StaticTokenAuth("static-secret-token")))
