"""Where tokens and secrets go, beyond the happy path (transport/urls.py, endpoint.py,
session.py, adapter.py, auth.py): never through a proxy to loopback, IDN hosts
matched in their punycode form, and .netrc never replacing our header on a redirect."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List

import pytest
import requests

from requests_multiauth import AuthAdapter, ClientCredentialsAuth, MultiAuthSession, RetryPolicy, StaticTokenAuth
from requests_multiauth.testing import LocalServer, Reply, Request
from requests_multiauth.transport.urls import ascii_url, origin

CLIENT_SECRET = "proxy-must-never-see-this-secret"


def _token_endpoint(request: Request) -> Reply:
    return Reply(200, {"access_token": "direct-token", "token_type": "Bearer", "expires_in": 3600})


class _Proxy:
    """Stands in for a forward proxy: records what reached it, answers 502."""

    def __init__(self) -> None:
        self.seen: List[Request] = []

    def __call__(self, request: Request) -> Reply:
        self.seen.append(request)
        return Reply(502, {"error": "proxied"})


@pytest.mark.parametrize("how", ["HTTP_PROXY", "ALL_PROXY", "session.proxies"])
def test_a_plain_http_loopback_token_call_never_goes_through_a_proxy(
    serve: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    proxy = _Proxy()
    proxy_server = serve(proxy, tls=False)
    token_server = serve(_token_endpoint, tls=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    session = None
    if how == "session.proxies":
        session = requests.Session()
        session.proxies = {"http": proxy_server.url, "https": proxy_server.url}
    else:
        monkeypatch.setenv(how, proxy_server.url)
    auth = ClientCredentialsAuth(
        "client-a",
        CLIENT_SECRET,
        token_server.url + "/token",
        allow_insecure_loopback=True,
        session=session,
        retry=RetryPolicy(attempts=1),
    )
    assert auth.get_token().access_token == "direct-token"
    assert proxy.seen == []
    assert len(token_server.requests) == 1


def test_a_proxy_still_serves_token_calls_to_other_hosts() -> None:
    from requests_multiauth.transport.urls import proxies_for

    assert proxies_for("https://login.example.com/oauth2/token") is None
    assert proxies_for("http://127.0.0.1:8080/token") == {"http": None, "https": None, "all": None}
    assert proxies_for("http://[::1]:8080/token") is not None


# -- internationalised host names -----------------------------------------------------------

IDN_PREFIX = "https://bücher.example/api/"
PUNYCODE = "xn--bcher-kva.example"


def test_an_idn_host_is_one_origin_with_its_punycode_form() -> None:
    assert origin("https://BÜCHER.example/x") == ("https", PUNYCODE, 443)
    assert origin("https://bücher.example/x") == origin(f"https://{PUNYCODE}/y")
    assert ascii_url("https://bücher.example:8443/api/?q=ä") == f"https://{PUNYCODE}:8443/api/?q=ä"
    assert ascii_url("https://api.example.com/v1") == "https://api.example.com/v1"


def test_mount_auth_with_an_idn_prefix_authenticates_the_punycode_url_requests_sends() -> None:
    session = MultiAuthSession()
    adapter = session.mount_auth(IDN_PREFIX, StaticTokenAuth("idn-static-token"))
    for url in ("https://bücher.example/api/books", f"https://{PUNYCODE}/api/books"):
        prepared = session.prepare_request(requests.Request("GET", url))
        assert prepared.url == f"https://{PUNYCODE}/api/books"
        assert session.get_adapter(prepared.url) is adapter
        assert adapter.serves(prepared.url)
    assert not adapter.serves("https://buecher.example/api/books")


def test_auth_adapter_origins_with_an_idn_host_serve_the_punycode_url() -> None:
    adapter = AuthAdapter(StaticTokenAuth("idn-static-token"), origins=IDN_PREFIX)
    assert adapter.serves(f"https://{PUNYCODE}/api/books")
    assert not adapter.serves(f"https://{PUNYCODE}/other")
    punycode_adapter = AuthAdapter(StaticTokenAuth("idn-static-token"), origins=f"https://{PUNYCODE}/api/")
    assert punycode_adapter.serves(f"https://{PUNYCODE}/api/books")


# -- .netrc on redirects ----------------------------------------------------------------------

NETRC_PASSWORD = "netrc-password-for-the-api-host"


class _ApiWithMove:
    """A token endpoint (``/token``) and an API (``/api/...``) on one origin: ``/api/moved``
    redirects to ``/api/data`` with *status*; the API accepts only the token it issued."""

    def __init__(self, status: int = 302) -> None:
        self.status = status
        self.seen: List[Request] = []

    def __call__(self, request: Request) -> Reply:
        if request.path == "/token":
            return Reply(200, {"access_token": "tok-ours", "token_type": "Bearer", "expires_in": 3600})
        self.seen.append(request)
        if request.path == "/api/moved":
            return Reply(self.status, None, {"Location": "/api/data"})
        if request.bearer == "tok-ours":
            return Reply(200, {"ok": True})
        return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


@pytest.fixture
def netrc_for_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin netrc-user\npassword {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.mark.usefixtures("netrc_for_loopback")
@pytest.mark.parametrize("how", ["session.auth", "auth=", "MultiAuthSession(auth)", "static session.auth"])
@pytest.mark.parametrize("status", [301, 302, 307])
def test_netrc_never_replaces_our_header_on_a_same_origin_redirect(
    serve: Callable[..., LocalServer], how: str, status: int
) -> None:
    api = _ApiWithMove(status)
    server = serve(api)
    auth: Any = ClientCredentialsAuth(
        "client-a", CLIENT_SECRET, server.url + "/token", session=server.session(), retry=RetryPolicy(attempts=1)
    )
    if how == "static session.auth":
        auth = StaticTokenAuth("tok-ours")
    session = MultiAuthSession(auth) if how == "MultiAuthSession(auth)" else requests.Session()
    session.verify = server.verify
    if how in ("session.auth", "static session.auth"):
        session.auth = auth
    with session:
        response = session.get(server.url + "/api/moved", auth=auth if how == "auth=" else None)

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [status]
    assert [r.path for r in api.seen] == ["/api/moved", "/api/data"]
    assert all(r.headers.get("Authorization") == "Bearer tok-ours" for r in api.seen)


@pytest.mark.usefixtures("netrc_for_loopback")
def test_netrc_still_applies_to_a_request_without_our_auth(serve: Callable[..., LocalServer]) -> None:
    api = _ApiWithMove()
    server = serve(api)
    with requests.Session() as session:
        session.verify = server.verify
        session.get(server.url + "/api/moved")
    assert all(r.headers.get("Authorization", "").startswith("Basic ") for r in api.seen)


class _ApiRenewingThenMoving:
    """Issues ``tok-1``, then ``tok-2``; ``/api/moved`` refuses ``tok-1`` (a 401) and, with
    ``tok-2``, redirects to ``/api/data``, which accepts only ``tok-2``."""

    def __init__(self) -> None:
        self.issued = 0
        self.seen: List[Request] = []

    def __call__(self, request: Request) -> Reply:
        if request.path == "/token":
            self.issued += 1
            return Reply(200, {"access_token": f"tok-{self.issued}", "token_type": "Bearer", "expires_in": 3600})
        self.seen.append(request)
        if request.bearer != "tok-2":
            return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if request.path == "/api/moved":
            return Reply(307, None, {"Location": "/api/data"})
        return Reply(200, {"ok": True})


@pytest.mark.usefixtures("netrc_for_loopback")
def test_a_redirect_answering_the_replay_carries_the_renewed_token_and_no_netrc_login(
    serve: Callable[..., LocalServer],
) -> None:
    api = _ApiRenewingThenMoving()
    server = serve(api)
    auth = ClientCredentialsAuth(
        "client-a", CLIENT_SECRET, server.url + "/token", session=server.session(), retry=RetryPolicy(attempts=1)
    )
    with requests.Session() as session:
        session.verify = server.verify
        session.auth = auth
        response = session.get(server.url + "/api/moved")

    assert response.status_code == 200
    assert [(r.path, r.headers.get("Authorization")) for r in api.seen] == [
        ("/api/moved", "Bearer tok-1"),
        ("/api/moved", "Bearer tok-2"),
        ("/api/data", "Bearer tok-2"),
    ]


def test_a_redirect_answering_the_replay_takes_no_custom_token_header_to_another_origin(
    serve: Callable[..., LocalServer],
) -> None:
    # requests copies the caller's request (which still carries the refused token) for the
    # hop, and drops only Authorization when the host changes: ours must drop our header there.
    elsewhere_seen: List[Request] = []

    def elsewhere(request: Request) -> Reply:
        elsewhere_seen.append(request)
        return Reply(200, {"ok": True})

    other = serve(elsewhere)
    issued: List[str] = []

    def api(request: Request) -> Reply:
        if request.path == "/token":
            issued.append(f"tok-{len(issued) + 1}")
            return Reply(200, {"access_token": issued[-1], "token_type": "Bearer", "expires_in": 3600})
        if request.headers.get("X-Api-Token") != "tok-2":
            return Reply(401, {"error": "invalid_token"})
        return Reply(307, None, {"Location": other.url + "/data"})

    server = serve(api, ca=other.ca)
    auth = ClientCredentialsAuth(
        "client-a",
        CLIENT_SECRET,
        server.url + "/token",
        session=server.session(),
        retry=RetryPolicy(attempts=1),
        header_name="X-Api-Token",
    )
    with requests.Session() as session:
        session.verify = server.verify
        session.auth = auth
        response = session.get(server.url + "/api/moved")

    assert response.status_code == 200
    assert issued == ["tok-1", "tok-2"]
    assert [r.headers.get("X-Api-Token") for r in elsewhere_seen] == [None]
