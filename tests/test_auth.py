"""The auth classes (requests_multiauth/auth.py) against real HTTPS servers on loopback: the header,
renew-and-replay once on a 401 for every kind of body, redirects, and HTTPS only."""

from __future__ import annotations

import io
import itertools
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import pytest
import requests

from requests_multiauth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    InsecureTransportError,
    RetryPolicy,
    TokenAuth,
)
from requests_multiauth.testing import LocalServer, Reply, Request

CLIENT_ID = "client-8f2k"
SECRET = "cs-Yv9wQ2mZ7pL4xT1n"

#: Token calls are retried fast, so that a failing test fails quickly.
FAST_RETRY = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=2.0)

UNAUTHORIZED = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Provider:
    """A token endpoint (``POST /token``) and an API (``/api/...``) on one HTTPS server.

    Tokens are ``tok-1``, ``tok-2``, ...; the API accepts only tokens in :attr:`valid`
    (each new token is added), sent as ``Authorization: Bearer`` or in ``X-Api-Token``,
    and answers 401 otherwise. :attr:`routes` overrides the answer for a path.
    """

    def __init__(self, serve: Callable[..., LocalServer]) -> None:
        self.valid: Set[str] = set()
        self.routes: Dict[str, Callable[[Request], Reply]] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.server = serve(self.handle)
        self.token_url = self.server.url + "/token"

    def handle(self, request: Request) -> Reply:
        if request.path == "/token":
            with self._lock:
                token = f"tok-{next(self._counter)}"
                self.valid.add(token)
            # lower-case "bearer", as Diagrams answers: we send "Bearer" all the same
            return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})
        route = self.routes.get(request.path)
        if route is not None:
            return route(request)
        if self.sent_token(request) not in self.valid:
            return Reply(401, {"error": "invalid_token"}, UNAUTHORIZED)
        return Reply(200, {"ok": True, "bytes": len(request.body)})

    @staticmethod
    def sent_token(request: Request) -> Optional[str]:
        return request.bearer or request.headers.get("X-Api-Token")

    def revoke_all(self) -> None:
        with self._lock:
            self.valid.clear()

    @property
    def token_calls(self) -> int:
        return len(self.server.received("/token"))

    def api_requests(self, path: str) -> List[Request]:
        return self.server.received(path)


@pytest.fixture
def provider(serve: Callable[..., LocalServer]) -> Provider:
    return Provider(serve)


@pytest.fixture
def make_auth(provider: Provider) -> Iterator[Callable[..., ClientCredentialsAuth]]:
    made: List[ClientCredentialsAuth] = []

    def make(**options: Any) -> ClientCredentialsAuth:
        options.setdefault("session", provider.server.session())
        options.setdefault("retry", FAST_RETRY)
        auth = ClientCredentialsAuth(CLIENT_ID, SECRET, options.pop("token_url", provider.token_url), **options)
        made.append(auth)
        return auth

    yield make
    for auth in made:
        auth.close()


@pytest.fixture
def session(provider: Provider, make_auth: Callable[..., ClientCredentialsAuth]) -> Iterator[requests.Session]:
    """A session authenticated by a ClientCredentialsAuth against *provider*."""
    with requests.Session() as session:
        session.verify = provider.server.verify
        session.auth = make_auth()
        yield session


def auth_of(session: requests.Session) -> TokenAuth:
    assert isinstance(session.auth, TokenAuth)
    return session.auth


# -- the header and reuse ---------------------------------------------------------------


def test_requests_carry_bearer_and_reuse_one_token(provider: Provider, session: requests.Session) -> None:
    for _ in range(5):
        assert session.get(provider.server.url + "/api/data").status_code == 200
    assert provider.token_calls == 1
    sent = provider.api_requests("/api/data")
    assert [r.headers["Authorization"] for r in sent] == ["Bearer tok-1"] * 5  # "bearer" in the answer


def test_the_token_call_does_not_pass_through_the_authenticated_session(
    provider: Provider, session: requests.Session
) -> None:
    session.get(provider.server.url + "/api/data")
    (token_request,) = provider.server.received("/token")
    assert token_request.headers["Authorization"].startswith("Basic ")  # client auth, not our bearer token
    assert token_request.form()["grant_type"] == ["client_credentials"]


# -- 401: renew and replay once, for every kind of body ------------------------------------

BodyMaker = Callable[[Path], Dict[str, Any]]


def _file_body(tmp_path: Path) -> Dict[str, Any]:
    path = tmp_path / "upload.bin"
    path.write_bytes(b"file body \x00\x01\x02" * 1000)
    return {"data": path.open("rb")}


BODIES: Dict[str, BodyMaker] = {
    "bytes": lambda _: {"data": b"raw bytes \x00\xff body"},
    "str": lambda _: {"data": "a text body"},
    "form dict": lambda _: {"data": {"name": "cargo 7", "weight": "12.5", "tags": ["a", "b"]}},
    "json": lambda _: {"json": {"vessel": "MV Test", "items": [1, 2, 3], "note": "é"}},
    "opened file": _file_body,
    "in-memory file": lambda _: {"data": io.BytesIO(b"in-memory file body" * 100)},
    "multipart files": lambda _: {
        "files": {"report": ("report.csv", b"a,b\n1,2\n", "text/csv")},
        "data": {"kind": "monthly"},
    },
    "no body": lambda _: {},
}


@pytest.mark.parametrize("kind", BODIES)
def test_a_401_renews_the_token_and_replays_the_identical_body(
    kind: str, provider: Provider, session: requests.Session, tmp_path: Path
) -> None:
    auth_of(session).get_token()  # tok-1, which the API then forgets
    provider.revoke_all()
    options = BODIES[kind](tmp_path)
    try:
        response = session.post(provider.server.url + "/api/upload", **options)
    finally:
        if hasattr(options.get("data"), "close"):
            options["data"].close()

    assert response.status_code == 200
    first, replay = provider.api_requests("/api/upload")
    assert first.bearer == "tok-1"
    assert replay.bearer == "tok-2"
    assert replay.body == first.body  # the identical body, rewound
    if kind != "no body":
        assert first.body
    assert replay.headers.get("Content-Type") == first.headers.get("Content-Type")
    assert provider.token_calls == 2
    assert [r.status_code for r in response.history] == [401]  # the first answer is kept
    assert response.history[0].request.headers["Authorization"] == "Bearer tok-1"
    assert response.request.headers["Authorization"] == "Bearer tok-2"


def test_a_generator_body_is_not_replayed_and_the_401_is_returned_with_a_warning(
    provider: Provider, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    auth_of(session).get_token()
    provider.revoke_all()

    def chunks() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    response = session.post(provider.server.url + "/api/stream", data=chunks())
    assert response.status_code == 401
    assert len(provider.api_requests("/api/stream")) == 1
    assert provider.api_requests("/api/stream")[0].body == b"part one, part two"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot be rewound" in r.getMessage()]
    assert len(warnings) == 1

    # The rejected token is dropped, so the next request does not meet the same 401.
    assert session.post(provider.server.url + "/api/stream", data=chunks()).status_code == 200
    assert provider.api_requests("/api/stream")[1].bearer == "tok-2"
    assert provider.token_calls == 2


def test_a_second_401_is_returned_not_looped(provider: Provider, session: requests.Session) -> None:
    provider.routes["/api/locked"] = lambda request: Reply(401, {"error": "invalid_token"}, UNAUTHORIZED)
    response = session.put(provider.server.url + "/api/locked", json={"x": 1})
    assert response.status_code == 401
    assert len(provider.api_requests("/api/locked")) == 2  # the request and one replay
    assert provider.token_calls == 2  # one token, one renewal
    assert [r.status_code for r in response.history] == [401]
    with pytest.raises(requests.HTTPError):
        response.raise_for_status()  # the caller decides, as with any 401


def test_a_403_does_not_renew(provider: Provider, session: requests.Session) -> None:
    provider.routes["/api/admin"] = lambda request: Reply(403, {"error": "insufficient_scope"})
    response = session.get(provider.server.url + "/api/admin")
    assert response.status_code == 403
    assert len(provider.api_requests("/api/admin")) == 1
    assert provider.token_calls == 1
    assert response.history == []


def test_a_401_to_a_request_without_our_token_does_not_renew(provider: Provider, session: requests.Session) -> None:
    # A per-request auth overrides the session's: that 401 is none of our business.
    response = session.get(provider.server.url + "/api/data", auth=("user", "password"))
    assert response.status_code == 401
    assert provider.token_calls == 0
    assert len(provider.api_requests("/api/data")) == 1


# -- redirects ---------------------------------------------------------------------------------


@pytest.fixture
def other_host(serve: Callable[..., LocalServer]) -> LocalServer:
    """Another origin that answers 401 to everything: ``https://[::1]:port``."""
    return serve(lambda request: Reply(401, {"error": "invalid_token"}, UNAUTHORIZED), host="::1")


@pytest.fixture
def both_trusted(provider: Provider, other_host: LocalServer, tmp_path: Path) -> str:
    """A CA bundle trusting both servers' throwaway CAs."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(Path(str(provider.server.verify)).read_text() + Path(str(other_host.verify)).read_text())
    return str(bundle)


@pytest.mark.parametrize("header_name", ["Authorization", "X-Api-Token"])
def test_a_redirect_to_another_host_carries_no_token_and_its_401_causes_no_renewal(
    header_name: str,
    provider: Provider,
    other_host: LocalServer,
    both_trusted: str,
    make_auth: Callable[..., ClientCredentialsAuth],
) -> None:
    provider.routes["/api/moved"] = lambda request: Reply(302, None, {"Location": other_host.url + "/landing"})
    with requests.Session() as session:
        session.verify = both_trusted
        session.auth = make_auth(header_name=header_name)
        assert session.get(provider.server.url + "/api/data").status_code == 200  # our token works here
        response = session.get(provider.server.url + "/api/moved")

    assert response.status_code == 401  # the other host's answer, returned as is
    assert [r.status_code for r in response.history] == [302]
    (landing,) = other_host.received()  # reached once: no replay to it
    assert "Authorization" not in landing.headers
    assert "X-Api-Token" not in landing.headers
    assert provider.api_requests("/api/moved")[0].headers.get(header_name, "").endswith("tok-1")
    assert provider.token_calls == 1  # the other host's 401 renewed nothing


def test_a_same_origin_redirect_keeps_the_token(provider: Provider, session: requests.Session) -> None:
    provider.routes["/api/old"] = lambda request: Reply(301, None, {"Location": "/api/data"})
    response = session.get(provider.server.url + "/api/old")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [301]
    assert provider.api_requests("/api/data")[0].bearer == "tok-1"


def test_a_401_after_a_same_origin_redirect_renews_and_replays(provider: Provider, session: requests.Session) -> None:
    provider.routes["/api/old"] = lambda request: Reply(307, None, {"Location": "/api/data"})
    auth_of(session).get_token()
    provider.revoke_all()
    response = session.post(provider.server.url + "/api/old", json={"a": 1})
    assert response.status_code == 200
    first, replay = provider.api_requests("/api/data")
    assert (first.bearer, replay.bearer) == ("tok-1", "tok-2")
    assert replay.body == first.body == b'{"a": 1}'
    assert provider.token_calls == 2


# -- HTTPS only --------------------------------------------------------------------------------


@pytest.fixture
def plain(serve: Callable[..., LocalServer]) -> LocalServer:
    """A plain-HTTP server on loopback that records what reaches it."""
    return serve(lambda request: Reply(200, {"ok": True}), tls=False)


def test_a_token_is_never_sent_to_an_http_url(
    provider: Provider, session: requests.Session, plain: LocalServer
) -> None:
    assert plain.url.startswith("http://")
    with pytest.raises(InsecureTransportError, match="plain HTTP"):
        session.get(plain.url + "/api/data")
    assert plain.received() == []  # refused before any connection
    assert provider.token_calls == 0  # and before any token call


@pytest.mark.parametrize(
    "make",
    [
        lambda url: ClientCredentialsAuth(CLIENT_ID, SECRET, url),
        lambda url: AudienceClientCredentialsAuth(CLIENT_ID, SECRET, url, audience="https://api"),
        lambda url: ApiKeyTokenAuth("ak-5hJ29dkq01Lm", url),
    ],
    ids=["client credentials", "audience", "api key"],
)
def test_secrets_are_never_sent_to_an_http_token_url(make: Callable[[str], TokenAuth], plain: LocalServer) -> None:
    with pytest.raises(InsecureTransportError, match="plain HTTP"):
        make(plain.url + "/token")
    assert plain.received() == []


def test_allow_insecure_loopback_allows_plain_http_to_loopback(serve: Callable[..., LocalServer]) -> None:
    http_provider = Provider(lambda handler: serve(handler, tls=False))
    assert http_provider.server.url.startswith("http://127.0.0.1:")
    auth = ClientCredentialsAuth(
        CLIENT_ID, SECRET, http_provider.token_url, allow_insecure_loopback=True, retry=FAST_RETRY
    )
    with requests.Session() as session:
        session.auth = auth
        assert session.get(http_provider.server.url + "/api/data").status_code == 200
    assert http_provider.token_calls == 1
    auth.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.10/api",  # TEST-NET: not loopback
        "http://example.com/api",
        "http://127.0.0.1.nip.io/api",  # a name that merely starts like loopback
        "http://localhost.example/api",
    ],
)
def test_allow_insecure_loopback_still_refuses_plain_http_to_other_hosts(
    url: str, provider: Provider, make_auth: Callable[..., ClientCredentialsAuth]
) -> None:
    with requests.Session() as session:
        session.auth = make_auth(allow_insecure_loopback=True)
        with pytest.raises(InsecureTransportError, match="loopback only"):
            session.get(url)  # refused before any DNS lookup or connection
    assert provider.token_calls == 0
    with pytest.raises(InsecureTransportError):
        ClientCredentialsAuth(CLIENT_ID, SECRET, url, allow_insecure_loopback=True)


# -- the token session's CA bundle ---------------------------------------------------------------


def test_the_token_sessions_ca_bundle_is_honoured_despite_requests_ca_bundle(
    provider: Provider, make_auth: Callable[..., ClientCredentialsAuth], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bogus-bundle.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/nonexistent/bogus-bundle.pem")
    token_session = provider.server.session()  # verify= this server's CA

    # What the variable does to a plain session: it overrides the session's verify.
    with pytest.raises(OSError, match="bogus-bundle"):
        token_session.get(provider.server.url + "/api/data")

    auth = make_auth(session=token_session)
    assert auth.get_token().access_token == "tok-1"  # the token call used the session's CA
    response = requests.get(provider.server.url + "/api/data", auth=auth, verify=provider.server.verify, timeout=10)
    assert response.status_code == 200
    assert provider.token_calls == 1
