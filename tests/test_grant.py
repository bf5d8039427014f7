"""The public Grant: a subclass that only says what a token call sends gets the engine's behaviour.

Every test drives a real HTTPS server on loopback. The grants here are written the way
the docs tell users to write one: ``request()`` (and at most ``parse()`` / ``fetch()``).
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional

import pytest
import requests

from requests_multiauth import (
    Grant,
    GrantRequest,
    InsecureTransportError,
    MemoryTokenCache,
    RetryPolicy,
    Token,
    TokenAuth,
    TokenRequestError,
    TokenResponseError,
)
from requests_multiauth.testing import LocalServer, Reply, Request

APP_SECRET = "grant-test-secret-7f3e"


class Issuer:
    """A token endpoint at ``/token`` (JSON ``{"app_secret", "nonce"}``), a lookup at
    ``/lookup`` (GET, answers the installation id) and an API at ``/api``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token_requests: List[Request] = []
        self.lookups: List[Request] = []
        self.issued: List[str] = []
        self.fail_next = 0

    def __call__(self, request: Request) -> Reply:
        if request.path == "/lookup":
            with self.lock:
                self.lookups.append(request)
            return Reply(200, {"id": "inst-42"})
        if request.path.startswith("/token"):
            with self.lock:
                self.token_requests.append(request)
                if self.fail_next:
                    self.fail_next -= 1
                    return Reply(503, {"error": "temporarily_unavailable"})
                token = f"tok-{len(self.issued) + 1}"
                self.issued.append(token)
            if request.json().get("app_secret") != APP_SECRET:
                return Reply(401, {"error": "invalid_client"})
            return Reply(200, {"token": token, "lifetime_seconds": 600, "installation": request.query.get("inst")})
        if request.path == "/api":
            with self.lock:
                latest = self.issued[-1] if self.issued else None
            if request.bearer is None or request.bearer != latest:
                return Reply(401, {"message": "token revoked"})
            return Reply(200, {"ok": True})
        return Reply(404, {})


class AppSecretGrant(Grant):
    """A made-up scheme: the secret and a fresh nonce as JSON; the answer says
    ``token`` and ``lifetime_seconds``."""

    name = "app_secret"

    def __init__(self, secret: str) -> None:
        self.secrets = (secret,)
        self._secret = secret
        self.nonces: List[int] = []

    def identity(self) -> Mapping[str, Optional[str]]:
        return {"scheme": "app-secret"}

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        self.nonces.append(len(self.nonces) + 1)
        return GrantRequest(json={"app_secret": self._secret, "nonce": self.nonces[-1]})

    def parse(self, answer: Any, now: float) -> Token:
        if "token" not in answer:
            raise TokenResponseError("no token in the answer")
        return Token(access_token=answer["token"], expires_at=now + float(answer["lifetime_seconds"]))


class LookupGrant(AppSecretGrant):
    """Two steps: look the installation up (GET another URL), then ask for its token."""

    def __init__(self, secret: str, lookup_url: str) -> None:
        super().__init__(secret)
        self.lookup_url = lookup_url

    def fetch(self, endpoint: Any, previous: Optional[Token], now: float) -> Token:
        found: Dict[str, Any] = endpoint.call(
            lambda: GrantRequest(method="GET", url=self.lookup_url, headers={"Accept": "application/json"}),
            grant="lookup",
        )
        installation = str(found["id"])

        def make() -> GrantRequest:
            return GrantRequest(json={"app_secret": self._secret}, query={"inst": installation})

        token: Token = endpoint.call(make, parse=lambda answer: self.parse(answer, now), grant=self.name)
        return token


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def server(issuer: Issuer) -> Any:
    with LocalServer(issuer) as running:
        yield running


def make_auth(server: LocalServer, grant: Grant, **options: Any) -> TokenAuth:
    return TokenAuth(grant, server.url + "/token", verify=server.verify, **options)


def test_a_subclass_that_only_says_what_to_send_gets_a_token_that_is_reused(
    server: LocalServer, issuer: Issuer
) -> None:
    auth = make_auth(server, AppSecretGrant(APP_SECRET))
    for _ in range(3):
        response = requests.get(server.url + "/api", auth=auth, verify=server.verify, timeout=10)
        assert response.status_code == 200
    assert len(issuer.token_requests) == 1
    sent = issuer.token_requests[0]
    assert sent.method == "POST"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json() == {"app_secret": APP_SECRET, "nonce": 1}


def test_request_is_made_anew_for_every_try_so_a_retry_never_resends_the_same_nonce(
    server: LocalServer, issuer: Issuer
) -> None:
    issuer.fail_next = 2
    grant = AppSecretGrant(APP_SECRET)
    auth = make_auth(server, grant, retry=RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02))
    auth.get_token()
    assert [request.json()["nonce"] for request in issuer.token_requests] == [1, 2, 3]


def test_thirty_two_threads_after_expiry_make_one_token_call(server: LocalServer, issuer: Issuer) -> None:
    now = [1_000_000.0]
    auth = make_auth(server, AppSecretGrant(APP_SECRET), clock=lambda: now[0])
    auth.get_token()
    now[0] += 3600  # the token expired
    start = threading.Barrier(32)
    errors: List[BaseException] = []

    def call() -> None:
        start.wait(timeout=10)
        try:
            response = requests.get(server.url + "/api", auth=auth, verify=server.verify, timeout=20)
            assert response.status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(issuer.token_requests) == 2  # the first token, then one renewal for all 32


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(server: LocalServer, issuer: Issuer) -> None:
    auth = make_auth(server, AppSecretGrant(APP_SECRET))
    auth.get_token()
    with issuer.lock:
        issuer.issued.append("revoked-meanwhile")  # the server now only accepts a newer token
    response = requests.get(server.url + "/api", auth=auth, verify=server.verify, timeout=10)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert len(issuer.token_requests) == 2


def test_a_grant_of_two_steps_calls_each_url_with_its_method_and_query(server: LocalServer, issuer: Issuer) -> None:
    auth = make_auth(server, LookupGrant(APP_SECRET, server.url + "/lookup"))
    token = auth.get_token()
    assert token.access_token == "tok-1"
    assert [r.method for r in issuer.lookups] == ["GET"]
    assert issuer.lookups[0].body == b""
    assert issuer.token_requests[0].query == {"inst": ["inst-42"]}


def test_a_step_to_a_plain_http_url_is_refused_before_anything_is_sent(server: LocalServer, issuer: Issuer) -> None:
    auth = make_auth(server, LookupGrant(APP_SECRET, "http://lookup.example/installation"))
    with pytest.raises(InsecureTransportError, match="plain HTTP"):
        auth.get_token()
    assert issuer.token_requests == []


def test_the_class_name_and_identity_keep_two_grants_tokens_apart_in_one_cache(server: LocalServer) -> None:
    class OtherScheme(AppSecretGrant):
        def identity(self) -> Mapping[str, Optional[str]]:
            return {"scheme": "other"}

    assert AppSecretGrant(APP_SECRET).cache_identity != OtherScheme(APP_SECRET).cache_identity
    cache = MemoryTokenCache()
    first = make_auth(server, AppSecretGrant(APP_SECRET), cache=cache).get_token()
    second = make_auth(server, OtherScheme(APP_SECRET), cache=cache).get_token()
    assert first.access_token != second.access_token


def test_the_grant_secret_never_appears_in_a_refusal(server: LocalServer) -> None:
    auth = make_auth(server, AppSecretGrant("wrong-" + APP_SECRET))
    with pytest.raises(TokenRequestError) as raised:
        auth.get_token()
    assert APP_SECRET not in str(raised.value)
    assert "invalid_client" in str(raised.value)


def test_a_grant_without_request_says_what_to_write() -> None:
    class Unfinished(Grant):
        pass

    with pytest.raises(NotImplementedError, match=r"request\(previous, now\)"):
        Unfinished().request(None, 0.0)


def test_token_extra_keeps_what_the_answer_adds_read_only_and_out_of_the_repr() -> None:
    from requests_multiauth.token import parse_token_response

    token = parse_token_response(
        {"access_token": "abc", "expires_in": 60, "instance_url": "https://eu.example", "id_token": "secret-id"},
        now=0,
    )
    assert dict(token.extra) == {"instance_url": "https://eu.example", "id_token": "secret-id"}
    assert "secret-id" not in repr(token)
    assert "secret-id" not in repr(token.extra)
    with pytest.raises(TypeError, match="read-only"):
        token.extra["instance_url"] = "https://evil.example"  # type: ignore[index]
    assert Token.from_dict(token.to_dict()).extra == token.extra
