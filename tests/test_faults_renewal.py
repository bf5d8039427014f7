"""Renewal trouble: a token endpoint failing while the old token still works, and clocks that disagree.

One loopback HTTPS server plays a token endpoint (``/token``) and the API that trusts
it (``/api``). The API judges tokens by *its own* clock, which a test may set minutes
ahead of or behind ours; the auth's clock is injected, so expiry is reached without
sleeping. Background renewals are awaited with ``join`` before anything is counted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Set

import pytest
import requests

from requests_multiauth import ClientCredentialsAuth, RetryPolicy, TokenRequestError
from requests_multiauth.engine.manager import DEFAULT_LEEWAY, RENEW_RETRY_MIN
from requests_multiauth.testing import LocalServer, Reply, Request

CLIENT_ID = "renewal-client"
CLIENT_SECRET = "renewal-secret-5a0c7e"
NOW = 1_800_000_000.0
LIFETIME = 3600.0
#: With the default leeway (30 s) a 3600 s token counts as expired at 3570 s and is
#: renewed ahead from 3270 s (the last fifth of its life, at most 300 s before).
STALE = NOW + 3300.0
EXPIRED = NOW + LIFETIME - DEFAULT_LEEWAY + 1.0
WAIT = 10.0
RENEWAL_FAILED = "renewing the token ahead of expiry failed"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Provider:
    """A token endpoint and its API on one server. The API checks tokens against its own clock."""

    def __init__(self, serve: Callable[..., LocalServer], clock: Clock) -> None:
        self.clock = clock
        self.skew = 0.0  # how far the server's clock is ahead of ours (negative: behind)
        self.failing = False
        self.answer_extra: Callable[[str, float], Dict[str, object]] = lambda token, server_now: {}
        self.issued: List[str] = []
        self.expires: Dict[str, float] = {}  # token -> expiry on the server's clock
        self.rejected: Set[str] = set()
        self.server = serve(self.handle)

    @property
    def server_now(self) -> float:
        return self.clock.now + self.skew

    def handle(self, request: Request) -> Reply:
        if request.path == "/token":
            if self.failing:
                return Reply(503, "<html><h1>Down for maintenance</h1></html>", {"Content-Type": "text/html"})
            token = f"renewal-token-{len(self.issued) + 1:04d}"
            self.issued.append(token)
            self.expires[token] = self.server_now + LIFETIME
            body = {"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME}
            body.update(self.answer_extra(token, self.server_now))
            return Reply(200, body)
        token = request.bearer or ""
        if token in self.rejected or self.server_now >= self.expires.get(token, 0.0):
            return Reply(401, {"error": "invalid_token", "error_description": "Token expired."})
        return Reply(200, {"seen": token})

    @property
    def token_calls(self) -> int:
        return len(self.server.received("/token"))

    def api_tokens(self) -> List[str]:
        return [request.bearer or "" for request in self.server.received("/api")]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(serve: Callable[..., LocalServer], clock: Clock) -> Provider:
    return Provider(serve, clock)


@pytest.fixture
def auth(provider: Provider, clock: Clock) -> Iterator[ClientCredentialsAuth]:
    auth = ClientCredentialsAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        provider.server.url + "/token",
        session=provider.server.session(),
        retry=RetryPolicy(attempts=1),  # one try per renewal attempt: attempts and token calls match
        clock=clock,
    )
    yield auth
    auth.close()


@pytest.fixture
def session(provider: Provider, auth: ClientCredentialsAuth) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = auth
        session.verify = provider.server.verify
        yield session


def get(session: requests.Session, provider: Provider, auth: ClientCredentialsAuth) -> requests.Response:
    """One API request; then wait for a renewal it may have started in the background."""
    response = session.get(provider.server.url + "/api", timeout=WAIT)
    auth._manager.join(WAIT)
    return response


def renewal_warnings(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and RENEWAL_FAILED in r.getMessage()]


# -- renewal failing while the old token is valid ------------------------------------------------


def test_requests_keep_succeeding_on_the_old_token_while_renewal_fails_and_retries_back_off(
    provider: Provider,
    auth: ClientCredentialsAuth,
    session: requests.Session,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="requests_multiauth")
    assert get(session, provider, auth).status_code == 200
    provider.failing = True

    clock.now = STALE
    responses = [get(session, provider, auth) for _ in range(20)]  # twenty requests in the same second

    assert [r.status_code for r in responses] == [200] * 20
    assert set(provider.api_tokens()) == {"renewal-token-0001"}
    assert provider.token_calls == 2  # one renewal attempt, not one per request
    (warning,) = renewal_warnings(caplog)  # logged once, for that attempt, saying why and what happens
    assert "HTTP 503" in warning.getMessage()
    assert "stays in use" in warning.getMessage()

    # The next attempts wait RENEW_RETRY_MIN, then twice that: never on every request.
    attempts_at = [STALE]
    for step in range(40):  # 20 s of one request every half second
        clock.now = STALE + 0.5 * (step + 1)
        calls = provider.token_calls
        assert get(session, provider, auth).status_code == 200
        if provider.token_calls > calls:
            attempts_at.append(clock.now)
    gaps = [later - earlier for earlier, later in zip(attempts_at, attempts_at[1:])]
    assert gaps == [RENEW_RETRY_MIN * 2**n for n in range(len(gaps))]  # 1 s, 2 s, 4 s, 8 s
    assert len(renewal_warnings(caplog)) == provider.token_calls - 1  # one warning per attempt
    assert set(provider.api_tokens()) == {"renewal-token-0001"}

    provider.failing = False  # the endpoint recovers: the next attempt renews
    clock.now = attempts_at[-1] + 2 * gaps[-1]
    assert get(session, provider, auth).status_code == 200
    assert get(session, provider, auth).json() == {"seen": "renewal-token-0002"}


def test_once_the_old_token_expires_a_failing_endpoint_is_an_error_and_the_expired_token_is_not_sent(
    provider: Provider, auth: ClientCredentialsAuth, session: requests.Session, clock: Clock
) -> None:
    assert get(session, provider, auth).status_code == 200
    provider.failing = True
    clock.now = EXPIRED

    with pytest.raises(TokenRequestError) as caught:
        get(session, provider, auth)

    assert caught.value.status_code == 503
    assert provider.api_tokens() == ["renewal-token-0001"]  # only the request made while it was valid


# -- clock trouble ----------------------------------------------------------------------------------


def _absolute_fields(kind: str) -> Callable[[str, float], Dict[str, object]]:
    def fields(token: str, server_now: float) -> Dict[str, object]:
        expiry = server_now + LIFETIME
        if kind == "expires_at":
            return {"expires_at": expiry}
        if kind == "expires_on-ms":
            return {"expires_on": int(expiry * 1000)}
        return {"expiration_date": datetime.fromtimestamp(expiry, timezone.utc).isoformat()}

    return fields


@pytest.mark.parametrize("skew", [+600.0, -600.0], ids=["server-10-min-ahead", "server-10-min-behind"])
@pytest.mark.parametrize("kind", ["expires_at", "expires_on-ms", "expiration_date-iso"])
def test_a_relative_lifetime_wins_over_absolute_expiry_from_a_skewed_server_clock(
    provider: Provider, auth: ClientCredentialsAuth, skew: float, kind: str
) -> None:
    provider.skew = skew
    provider.answer_extra = _absolute_fields(kind)

    token = auth.get_token()

    assert token.expires_at == NOW + LIFETIME  # our clock plus expires_in, not the server's date


def test_a_token_the_api_rejects_before_its_expiry_is_renewed_on_the_401_and_the_request_replayed(
    provider: Provider, auth: ClientCredentialsAuth, session: requests.Session, clock: Clock
) -> None:
    assert get(session, provider, auth).status_code == 200
    provider.rejected.add("renewal-token-0001")  # revoked, or judged by a clock far ahead
    clock.now = NOW + 60  # by our clock the token has an hour left

    response = get(session, provider, auth)

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert provider.api_tokens() == ["renewal-token-0001", "renewal-token-0001", "renewal-token-0002"]
    assert provider.token_calls == 2
    assert get(session, provider, auth).json() == {"seen": "renewal-token-0002"}
    assert provider.token_calls == 2


def test_a_server_clock_ahead_with_only_an_absolute_expiry_ends_in_renewal_on_the_401(
    provider: Provider, auth: ClientCredentialsAuth, session: requests.Session, clock: Clock
) -> None:
    provider.skew = 600.0

    def absolute_only(token: str, server_now: float) -> Dict[str, object]:
        return {"expires_in": None, "expires_at": server_now + LIFETIME}

    provider.answer_extra = absolute_only
    assert get(session, provider, auth).status_code == 200
    # The token really lives an hour; from the answer's date we believe 70 minutes.
    assert auth.get_token().expires_at == NOW + LIFETIME + 600
    clock.now = NOW + LIFETIME + 60  # the API says expired; we think it has 9 minutes left

    response = get(session, provider, auth)

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert provider.api_tokens()[-1] == "renewal-token-0002"


def test_the_leeway_absorbs_a_server_clock_a_few_seconds_ahead(
    provider: Provider, auth: ClientCredentialsAuth, session: requests.Session, clock: Clock
) -> None:
    provider.skew = 20.0  # less than the 30 s leeway
    assert get(session, provider, auth).status_code == 200
    clock.now = NOW + LIFETIME - 15  # the API's clock is past the expiry; the leeway made ours too

    response = get(session, provider, auth)

    assert response.status_code == 200
    assert response.history == []  # no 401: the old token was not sent
    assert provider.api_tokens() == ["renewal-token-0001", "renewal-token-0002"]
