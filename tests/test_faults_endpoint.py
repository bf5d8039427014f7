"""Token endpoint faults: what a down, slow, overloaded or throttling token endpoint does to a token call.

Every fault is played by a real server on loopback: :class:`LocalServer` for HTTP
answers, and :class:`RawServer` below for what no well-behaved HTTP server sends (an
answer cut off midway, a reset, silence, a TLS handshake cut short). Waits between
tries go through an injected sleep that records them and advances a fake monotonic
clock, so the tests assert the delays asked for, never wall time.
"""

from __future__ import annotations

import email.utils
import logging
import socket
import struct
import threading
import time
from typing import Callable, Iterator, List, Optional

import pytest
import requests

from requests_multiauth import (
    ClientCredentialsAuth,
    InvalidClientError,
    RetryPolicy,
    Token,
    TokenRequestError,
)
from requests_multiauth.grants.base import ClientCredentialsGrant
from requests_multiauth.testing import LocalServer, Reply, Request
from requests_multiauth.testing._server import DROP_CONNECTION
from requests_multiauth.transport.endpoint import TokenEndpoint

CLIENT_ID = "fault-client"
CLIENT_SECRET = "fault-secret-3f9a1c"
TOKEN_PATH = "/oauth2/token"

#: Small, fast policies: the delays are recorded, never slept.
FOUR_TRIES = RetryPolicy(attempts=4, backoff=0.1, max_backoff=0.4, max_retry_after=60.0, budget=600.0)
THREE_TRIES = RetryPolicy(attempts=3, backoff=0.1, max_backoff=0.4, max_retry_after=60.0, budget=600.0)


class Waits:
    """An injected ``sleep`` that records each wait and advances a fake monotonic clock."""

    def __init__(self) -> None:
        self.delays: List[float] = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class RawServer:
    """A TCP server on loopback that reads each request and then misbehaves as told.

    *behave* gets the connected socket after the request was read (or before, with
    ``read_request=False``). Connections are served on daemon threads; :meth:`close`
    releases any that wait on :attr:`release` and stops accepting.
    """

    def __init__(self, behave: Callable[[socket.socket, RawServer], None], *, read_request: bool = True) -> None:
        self._behave = behave
        self._read_request = read_request
        self.release = threading.Event()
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="RawServer", daemon=True)
        self._thread.start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{TOKEN_PATH}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self._read_request:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
            self._behave(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.release.set()
        self._stopped.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: List[RawServer] = []

    def start(behave: Callable[[socket.socket, RawServer], None], **options: bool) -> RawServer:
        server = RawServer(behave, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def cut_off_midway(conn: socket.socket, _: RawServer) -> None:
    """Promise 200 bytes of JSON, send 20, hang up."""
    conn.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"access_token": "ha'
    )


def reset_midway(conn: socket.socket, _: RawServer) -> None:
    """Promise 200 bytes of JSON, send 20, then abort the connection (RST), not close it."""
    cut_off_midway(conn, _)
    time.sleep(0.05)  # let the client read what came before the reset
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset(conn: socket.socket, _: RawServer) -> None:
    """Abort the connection (RST) instead of answering."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def stall(conn: socket.socket, server: RawServer) -> None:
    """Never answer (until the test ends)."""
    server.release.wait(10)


def hang_up(conn: socket.socket, _: RawServer) -> None:
    """Close at once: for an https:// URL, the TLS handshake is cut short."""


def endpoint(
    url: str,
    waits: Waits,
    *,
    policy: RetryPolicy = FOUR_TRIES,
    session: Optional[requests.Session] = None,
    **options: object,
) -> TokenEndpoint:
    return TokenEndpoint(
        url,
        session=session,
        retry=policy,
        secrets=(CLIENT_SECRET,),
        sleep=waits.sleep,
        monotonic=waits.monotonic,
        allow_insecure_loopback=url.startswith("http://"),
        **options,  # type: ignore[arg-type]
    )


def fetch(token_endpoint: TokenEndpoint) -> Token:
    """One token call exactly as ClientCredentialsAuth makes it."""
    return ClientCredentialsGrant(CLIENT_ID, CLIENT_SECRET).fetch(token_endpoint, None, time.time())


def token_reply(number: int = 1) -> Reply:
    return Reply(200, {"access_token": f"endpoint-token-{number:04d}", "token_type": "Bearer", "expires_in": 3600})


def answers(*replies: Reply) -> Callable[[Request], Reply]:
    """A handler that gives *replies* in order, then repeats the last."""
    given: List[Reply] = []

    def handle(_: Request) -> Reply:
        reply = replies[min(len(given), len(replies) - 1)]
        given.append(reply)
        return reply

    return handle


def retry_warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "requests_multiauth" and r.levelno == logging.WARNING and "retrying in" in r.getMessage()
    ]


# -- network faults -------------------------------------------------------------------


def test_connection_refused_is_retried_with_backoff_then_reported_with_the_number_of_tries() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port now
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(f"http://127.0.0.1:{port}{TOKEN_PATH}", waits))

    error = caught.value
    assert type(error) is TokenRequestError
    assert error.attempts == 4
    assert error.status_code is None
    assert "connection refused" in str(error)
    assert "tried 4 times" in str(error)
    assert len(waits.delays) == 3


def test_a_connection_closed_before_the_answer_is_retried_and_the_next_try_succeeds(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(answers(DROP_CONNECTION, token_reply()))
    waits = Waits()

    token = fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert token.access_token == "endpoint-token-0001"
    assert len(server.received(TOKEN_PATH)) == 2
    assert len(waits.delays) == 1


def test_an_answer_cut_off_midway_is_retried_then_reported(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(cut_off_midway)
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url(), waits, policy=THREE_TRIES))

    assert caught.value.attempts == 3
    assert caught.value.status_code is None
    assert "tried 3 times" in str(caught.value)
    assert server.connections == 3
    assert len(waits.delays) == 2


def test_an_answer_reset_midway_is_retried_as_cut_off_then_reported(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(reset_midway)
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url(), waits, policy=THREE_TRIES))

    assert caught.value.attempts == 3
    assert "cut off" in str(caught.value)
    assert server.connections == 3


def test_a_connection_reset_after_the_request_is_retried_then_reported(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(reset)
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url(), waits, policy=THREE_TRIES))

    assert "reset" in str(caught.value)
    assert caught.value.attempts == 3
    assert server.connections == 3


def test_a_tls_handshake_cut_short_is_a_transient_fault_not_a_verification_failure(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(hang_up, read_request=False)
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url("https"), waits, policy=THREE_TRIES, session=requests.Session()))

    assert caught.value.attempts == 3
    assert server.connections == 3
    assert "TLS handshake" in str(caught.value)
    assert "verification" not in str(caught.value)


def test_a_certificate_that_fails_verification_is_not_retried(serve: Callable[..., LocalServer]) -> None:
    server = serve(answers(token_reply()))
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url + TOKEN_PATH, waits, session=requests.Session()))  # does not trust the test CA

    assert "TLS verification" in str(caught.value)
    assert waits.delays == []


def test_a_server_that_does_not_answer_within_the_read_timeout_is_retried_then_reported(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(stall)
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url(), waits, policy=RetryPolicy(attempts=2, backoff=0.01), timeout=(2.0, 0.2)))

    assert "read timeout" in str(caught.value)
    assert caught.value.attempts == 2
    assert caught.value.status_code is None
    assert server.connections == 2


# -- HTTP statuses that mean "later" --------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_reported_with_status_and_tries(
    serve: Callable[..., LocalServer], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(answers(Reply(status, "<html><body>upstream trouble</body></html>", {"Content-Type": "text/html"})))
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    error = caught.value
    assert error.status_code == status
    assert error.attempts == 4
    assert f"HTTP {status}" in str(error)
    assert "tried 4 times" in str(error)
    assert len(server.received(TOKEN_PATH)) == 4
    assert len(retry_warnings(caplog)) == 3  # one warning per retry, naming the status
    assert all(f"HTTP {status}" in message for message in retry_warnings(caplog))


def test_a_server_error_followed_by_a_token_gives_the_token(serve: Callable[..., LocalServer]) -> None:
    server = serve(answers(Reply(503, "busy"), Reply(502, "bad gateway"), token_reply()))
    waits = Waits()

    token = fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert token.access_token == "endpoint-token-0001"
    assert len(server.received(TOKEN_PATH)) == 3
    assert len(waits.delays) == 2


def test_backoff_doubles_with_jitter_up_to_its_cap_when_no_retry_after_is_given(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(answers(Reply(429, {"error": "slow_down"})))
    waits = Waits()
    policy = RetryPolicy(attempts=6, backoff=0.1, max_backoff=0.4, budget=600.0)

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url + TOKEN_PATH, waits, policy=policy, session=server.session()))

    assert caught.value.status_code == 429
    assert caught.value.attempts == 6
    ceilings = [0.1, 0.2, 0.4, 0.4, 0.4]  # doubling from backoff, capped at max_backoff
    assert len(waits.delays) == len(ceilings)
    for delay, ceiling in zip(waits.delays, ceilings):
        assert ceiling / 2 <= delay <= ceiling  # jitter takes off up to half


def test_backoff_jitter_spreads_clients_that_failed_together() -> None:
    policy = RetryPolicy(attempts=2, backoff=1.0)

    delays = {policy.delay(1, None) for _ in range(50)}

    assert len(delays) > 1
    assert all(0.5 <= delay <= 1.0 for delay in delays)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(serve: Callable[..., LocalServer], status: int) -> None:
    server = serve(answers(Reply(status, {"error": "slow_down"}, {"Retry-After": "7"}), token_reply()))
    waits = Waits()

    token = fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert token.access_token == "endpoint-token-0001"
    assert waits.delays == [7.0]


def test_retry_after_as_an_http_date_is_honoured(serve: Callable[..., LocalServer]) -> None:
    def handle(request: Request) -> Reply:
        if len(server.received(TOKEN_PATH)) == 1:
            when = email.utils.formatdate(time.time() + 30, usegmt=True)
            return Reply(429, "Too Many Requests", {"Retry-After": when})
        return token_reply()

    server = serve(handle)
    waits = Waits()

    token = fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert token.access_token == "endpoint-token-0001"
    assert len(waits.delays) == 1
    assert 25.0 < waits.delays[0] <= 30.0  # the date has whole seconds; the rest is time in flight


@pytest.mark.parametrize(
    "retry_after",
    ["3600", email.utils.formatdate(time.time() + 3600, usegmt=True)],
    ids=["seconds", "http-date"],
)
def test_retry_after_beyond_the_cap_is_cut_to_the_cap(serve: Callable[..., LocalServer], retry_after: str) -> None:
    server = serve(answers(Reply(429, "Too Many Requests", {"Retry-After": retry_after}), token_reply()))
    waits = Waits()
    policy = RetryPolicy(attempts=3, backoff=0.1, max_retry_after=5.0, budget=600.0)

    fetch(endpoint(server.url + TOKEN_PATH, waits, policy=policy, session=server.session()))

    assert waits.delays == [5.0]


def test_retry_after_that_is_not_a_delay_falls_back_to_backoff(serve: Callable[..., LocalServer]) -> None:
    server = serve(answers(Reply(503, "down", {"Retry-After": "soon"}), token_reply()))
    waits = Waits()

    fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert len(waits.delays) == 1
    assert 0.05 <= waits.delays[0] <= 0.1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, "Rate exceeded", {"Content-Type": "text/plain"}),
        Reply(400, {"code": "TooManyRequestsException", "message": "Rate exceeded"}),
        Reply(400, {"error": "invalid_request", "error_description": "Rate exceeded"}),
    ],
    ids=["text", "aws-json", "oauth-json"],
)
def test_cognito_rate_exceeded_400_is_throttling_and_retried(serve: Callable[..., LocalServer], reply: Reply) -> None:
    server = serve(answers(reply))
    waits = Waits()

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert type(caught.value) is TokenRequestError
    assert caught.value.status_code == 400
    assert caught.value.attempts == 4
    assert "HTTP 400" in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 4


def test_a_400_that_is_not_throttling_is_not_retried(serve: Callable[..., LocalServer]) -> None:
    server = serve(answers(Reply(400, {"error": "invalid_client"})))
    waits = Waits()

    with pytest.raises(InvalidClientError):
        fetch(endpoint(server.url + TOKEN_PATH, waits, session=server.session()))

    assert len(server.received(TOKEN_PATH)) == 1
    assert waits.delays == []


# -- the time budget -------------------------------------------------------------------


def test_no_retry_is_started_past_the_time_budget(serve: Callable[..., LocalServer]) -> None:
    waits = Waits()
    started = waits.now
    tries_started_at: List[float] = []

    def handle(_: Request) -> Reply:
        tries_started_at.append(waits.now - started)
        waits.now += 0.5  # each try takes half a second
        return Reply(503, "busy", {"Retry-After": "3"})

    server = serve(handle)
    policy = RetryPolicy(attempts=10, backoff=0.1, max_retry_after=30.0, budget=10.0)

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url + TOKEN_PATH, waits, policy=policy, session=server.session()))

    # tries at 0 s, 3.5 s, 7 s; a fourth would start at 10.5 s, past the budget
    assert tries_started_at == [0.0, 3.5, 7.0]
    assert all(moment <= policy.budget for moment in tries_started_at)
    assert caught.value.attempts == 3
    assert "budget of 10 s" in str(caught.value)
    assert waits.now - started <= policy.budget


def test_a_retry_after_longer_than_the_budget_left_gives_up_at_once(serve: Callable[..., LocalServer]) -> None:
    server = serve(answers(Reply(429, "Too Many Requests", {"Retry-After": "20"})))
    waits = Waits()
    policy = RetryPolicy(attempts=4, max_retry_after=30.0, budget=10.0)

    with pytest.raises(TokenRequestError) as caught:
        fetch(endpoint(server.url + TOKEN_PATH, waits, policy=policy, session=server.session()))

    assert waits.delays == []  # no 20 s wait that would end past the 10 s budget
    assert caught.value.attempts == 1
    assert caught.value.status_code == 429
    assert "tried once" in str(caught.value)


# -- what the user of an auth sees ----------------------------------------------------------


def test_a_request_through_the_auth_raises_token_request_error_and_never_reaches_the_api(
    serve: Callable[..., LocalServer],
) -> None:
    token_server = serve(answers(Reply(503, "maintenance")))
    api = serve(lambda _: Reply(200, {"ok": True}))
    auth = ClientCredentialsAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        token_server.url + TOKEN_PATH,
        session=token_server.session(),
        retry=RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01),
    )

    with pytest.raises(requests.RequestException) as caught:
        requests.get(api.url + "/v1/things", auth=auth, verify=api.verify, timeout=10)

    assert isinstance(caught.value, TokenRequestError)
    assert caught.value.status_code == 503
    assert caught.value.attempts == 2
    assert api.received() == []
    assert len(token_server.received(TOKEN_PATH)) == 2
