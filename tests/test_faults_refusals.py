"""Refused credentials: typed errors with the server's words and a hint, one request, no hammering.

A refusal (RFC 6749 §5.2) is an answer, not a fault: the same request would be
refused again, so it is never retried, and callers that keep asking get the held
error back without a new token call until the engine's failure hold has passed
(``renewal.FAILURE_HOLD_*``; the auth's injected clock moves time).
"""

from __future__ import annotations

from typing import Callable, List, Optional, Type

import pytest
import requests

from requests_multiauth import (
    ClientCredentialsAuth,
    InvalidClientError,
    RetryPolicy,
    TokenRequestError,
)
from requests_multiauth.engine.manager import FAILURE_HOLD_MAX, FAILURE_HOLD_MIN
from requests_multiauth.testing import LocalServer, Reply, Request

CLIENT_ID = "refused-client"
CLIENT_SECRET = "refused-secret-7d2e90"
TOKEN_PATH = "/oauth2/token"
NOW = 1_800_000_000.0

#: Generous retries: a refusal must not use them.
MANY_TRIES = RetryPolicy(attempts=5, backoff=0.01, max_backoff=0.01)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make_auth(server: LocalServer, clock: Optional[Clock] = None) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        server.url + TOKEN_PATH,
        session=server.session(),
        retry=MANY_TRIES,
        clock=clock or Clock(),
    )


REFUSALS = [
    # status, error, the server's description, expected type, a word of the hint
    (400, "invalid_client", "Client authentication failed", InvalidClientError, "client id and secret"),
    (401, "invalid_client", "Bad client credentials", InvalidClientError, "client id and secret"),
    (400, "unauthorized_client", "Client not allowed to use client_credentials", TokenRequestError, "grant type"),
    (400, "invalid_scope", "Scope api/admin is not allowed", TokenRequestError, "scope"),
    (400, "invalid_grant", "The grant is revoked", TokenRequestError, "revoked"),
    (403, "access_denied", "Access denied by policy", TokenRequestError, "denied"),
]


@pytest.mark.parametrize(
    ("status", "code", "description", "expected", "hint"), REFUSALS, ids=[refusal[1] for refusal in REFUSALS]
)
def test_an_oauth_refusal_raises_a_typed_error_with_description_and_hint_after_one_request(
    serve: Callable[..., LocalServer],
    status: int,
    code: str,
    description: str,
    expected: Type[TokenRequestError],
    hint: str,
) -> None:
    server = serve(lambda _: Reply(status, {"error": code, "error_description": description}))

    with pytest.raises(TokenRequestError) as caught:
        make_auth(server).get_token()

    error = caught.value
    assert type(error) is expected
    assert error.status_code == status
    assert error.error == code
    assert error.error_description == description
    assert error.attempts == 1
    message = str(error)
    assert code in message
    assert description in message
    assert f"HTTP {status}" in message
    assert "What to do:" in message
    assert hint in message
    assert len(server.received(TOKEN_PATH)) == 1  # never retried


@pytest.mark.parametrize(
    "reply",
    [
        Reply(401, None),
        Reply(401, "Unauthorized", {"Content-Type": "text/plain"}),
        Reply(401, {"message": "Invalid API key"}),
    ],
    ids=["empty", "text", "message-json"],
)
def test_a_bare_401_from_the_token_endpoint_is_invalid_client(serve: Callable[..., LocalServer], reply: Reply) -> None:
    server = serve(lambda _: reply)

    with pytest.raises(InvalidClientError) as caught:
        make_auth(server).get_token()

    assert caught.value.status_code == 401
    assert "client id and secret" in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 1


def test_a_refusal_surfaces_from_requests_as_a_request_exception_and_the_api_is_never_called(
    serve: Callable[..., LocalServer],
) -> None:
    token_server = serve(lambda _: Reply(400, {"error": "invalid_client"}))
    api = serve(lambda _: Reply(200, {"ok": True}))
    auth = make_auth(token_server)

    with pytest.raises(requests.RequestException) as caught:
        requests.get(api.url + "/v1/things", auth=auth, verify=api.verify, timeout=10)

    assert isinstance(caught.value, InvalidClientError)
    assert api.received() == []


def test_requests_after_a_refusal_get_the_held_error_without_a_new_token_call(
    serve: Callable[..., LocalServer],
) -> None:
    token_server = serve(lambda _: Reply(401, {"error": "invalid_client", "error_description": "Bad credentials"}))
    api = serve(lambda _: Reply(200, {"ok": True}))
    clock = Clock()
    auth = make_auth(token_server, clock)
    errors: List[InvalidClientError] = []

    with requests.Session() as session:
        session.auth = auth
        session.verify = api.verify
        for _ in range(25):  # a busy service: many requests within the same second
            with pytest.raises(InvalidClientError) as caught:
                session.get(api.url + "/v1/things", timeout=10)
            errors.append(caught.value)

    assert len(token_server.received(TOKEN_PATH)) == 1
    assert api.received() == []
    assert all(type(error) is InvalidClientError for error in errors)
    assert all(error.status_code == 401 and error.error == "invalid_client" for error in errors)
    assert all("Bad credentials" in str(error) for error in errors)
    assert len({id(error) for error in errors}) == len(errors)  # a copy each: tracebacks do not pile up


def test_token_calls_after_refusals_are_spaced_by_a_growing_hold(serve: Callable[..., LocalServer]) -> None:
    clock = Clock()
    calls_at: List[float] = []

    def refuse(_: Request) -> Reply:
        calls_at.append(clock.now)
        return Reply(400, {"error": "invalid_client"})

    server = serve(refuse)
    auth = make_auth(server, clock)

    # A caller asking ten times a second for five minutes, bounded in count.
    for _ in range(3000):
        with pytest.raises(InvalidClientError):
            auth.get_token()
        clock.now += 0.1

    gaps = [later - earlier for earlier, later in zip(calls_at, calls_at[1:])]
    assert len(calls_at) < 20  # not 3000
    for number, gap in enumerate(gaps):
        hold = min(FAILURE_HOLD_MAX, FAILURE_HOLD_MIN * 2**number)
        assert gap >= hold - 1e-6  # never sooner than the hold allows
    assert max(gaps) <= FAILURE_HOLD_MAX + 0.1 + 1e-6  # and the hold is capped: recovery is noticed


def test_the_first_call_after_the_hold_reaches_the_endpoint_and_a_fixed_endpoint_gives_a_token(
    serve: Callable[..., LocalServer],
) -> None:
    clock = Clock()
    refusing = [True]

    def handle(_: Request) -> Reply:
        if refusing[0]:
            return Reply(400, {"error": "invalid_client"})
        return Reply(200, {"access_token": "after-the-fix-token-1", "expires_in": 3600})

    server = serve(handle)
    auth = make_auth(server, clock)
    with pytest.raises(InvalidClientError):
        auth.get_token()

    refusing[0] = False  # the operator fixed the client at the provider
    with pytest.raises(InvalidClientError):
        auth.get_token()  # still within the hold: no call
    assert len(server.received(TOKEN_PATH)) == 1

    clock.now += FAILURE_HOLD_MIN
    assert auth.get_token().access_token == "after-the-fix-token-1"
    assert len(server.received(TOKEN_PATH)) == 2
