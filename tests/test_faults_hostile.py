"""A hostile token endpoint: every token call stays bounded in time and memory, and says which bound it hit.

Each misbehaviour is played by a real HTTPS server on loopback with the
misbehaviours of :mod:`requests_multiauth.testing` (what users' own tests use):
a trickled answer, oversized and gzip-bomb answers, answers that break HTTP, an
answer cut off midway, a redirect. The memory bound of a gzip bomb is measured
in a child process in ``test_limits.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List

import pytest

from requests_multiauth import (
    AnswerTooLargeError,
    ClientCredentialsAuth,
    MalformedAnswerError,
    MemoryTokenCache,
    RetryPolicy,
    Token,
    TokenRequestError,
    TokenResponseError,
    TokenTimeoutError,
)
from requests_multiauth.engine.manager import FAILURE_HOLD_MIN, WAIT_MARGIN, TokenManager
from requests_multiauth.testing import (
    GzipBomb,
    LocalProviders,
    LocalServer,
    LongHeader,
    MalformedStatus,
    ManualClock,
    ManyHeaders,
    Misbehaviour,
    Oversized,
    Redirect,
    Reply,
    Request,
    Trickle,
    TrickleHeaders,
    Truncated,
)
from requests_multiauth.transport.answer import DEFAULT_MAX_ANSWER_BYTES

CLIENT_ID = "hostile-client"
CLIENT_SECRET = "hostile-secret-8d21f0"
TOKEN_PATH = "/oauth2/token"

#: A trickled token answer long enough to outlast any deadline of these tests:
#: 2,000 bytes at 4 a second is 500 s (the server's stop() ends it).
LONG_TRICKLE = Trickle(body={"access_token": "t" * 2000, "expires_in": 3600}, interval=0.25)

#: No test thread waits longer than this for another (every wait is bounded).
JOIN_TIMEOUT = 90.0


def auth_for(server: LocalServer, **options: Any) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(CLIENT_ID, CLIENT_SECRET, server.url + TOKEN_PATH, session=server.session(), **options)


def always(reply: Reply) -> Callable[[Request], Reply]:
    return lambda _: reply


QUICK = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01)


# -- time ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_trickled_answer_gives_every_one_of_ten_threads_a_typed_error_within_the_deadline(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(always(LONG_TRICKLE))
    timeout = (2.0, 2.0)
    auth = auth_for(server, timeout=timeout)  # the default retry policy
    deadline = RetryPolicy().deadline(timeout)
    outcomes: Dict[int, BaseException] = {}
    took: Dict[int, float] = {}

    def need_a_token(number: int) -> None:
        started = time.monotonic()
        try:
            auth.get_token()
        except BaseException as exc:
            outcomes[number] = exc
        took[number] = time.monotonic() - started

    threads = [threading.Thread(target=need_a_token, args=(n,), daemon=True) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)

    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting on the trickle"
    assert sorted(took) == list(range(10))
    assert all(isinstance(outcomes.get(n), TokenTimeoutError) for n in range(10)), outcomes
    assert max(took.values()) <= deadline + 1.0, (deadline, sorted(took.values()))
    first = outcomes[0]
    assert isinstance(first, TokenTimeoutError)
    assert first.deadline == pytest.approx(deadline)
    assert "did not arrive whole" in str(first)
    assert CLIENT_SECRET not in str(first)
    assert 1 <= len(server.received(TOKEN_PATH)) <= RetryPolicy().attempts  # one call for ten threads


def test_a_trickled_answer_is_cut_off_at_the_try_s_connect_plus_read_timeout(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(always(LONG_TRICKLE))
    policy = RetryPolicy(attempts=1)
    auth = auth_for(server, timeout=(1.0, 1.0), retry=policy)

    started = time.monotonic()
    with pytest.raises(TokenTimeoutError) as caught:
        auth.get_token()
    took = time.monotonic() - started

    assert caught.value.deadline == policy.deadline((1.0, 1.0)) == 2.0
    assert caught.value.waited_for is None  # its own call ran out of time
    assert took <= caught.value.deadline + 1.0
    assert caught.value.attempts == 1


def test_trickled_headers_are_cut_off_at_the_try_s_connect_plus_read_timeout(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(always(TrickleHeaders(interval=0.1)))  # 90 headers: over 6 minutes
    policy = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01)
    auth = ClientCredentialsAuth(  # the shared token-call session: no session=
        CLIENT_ID, CLIENT_SECRET, server.url + TOKEN_PATH, verify=str(server.verify), timeout=(1.0, 1.0), retry=policy
    )

    started = time.monotonic()
    with pytest.raises(TokenTimeoutError) as caught:
        auth.get_token()
    took = time.monotonic() - started

    assert "the status line and headers did not arrive within the try's" in str(caught.value)  # 2 s, or what was left
    assert took <= policy.deadline((1.0, 1.0)) + 1.0
    assert caught.value.attempts == 2
    assert len(server.received(TOKEN_PATH)) == 2


def test_the_deadline_rule_counts_every_try_and_every_backoff_and_never_passes_the_budget() -> None:
    assert RetryPolicy().deadline((3.05, 10.0)) == pytest.approx(4 * 13.05 + 0.5 + 1 + 2)
    assert RetryPolicy().deadline((2, 2)) == pytest.approx(19.5)
    assert RetryPolicy().deadline(5.0) == pytest.approx(4 * 10 + 3.5)  # one number is both timeouts
    assert RetryPolicy(budget=10).deadline((3.05, 10.0)) == 10
    assert RetryPolicy(attempts=6, backoff=1, max_backoff=4).deadline((1, 1)) == pytest.approx(12 + 1 + 2 + 4 + 4 + 4)


def test_a_wait_for_another_thread_s_stuck_token_call_ends_with_a_typed_error_that_says_so() -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck_fetch(previous: Any, now: float) -> Token:
        entered.set()
        release.wait(JOIN_TIMEOUT)  # a grant's fetch that does not return (until the test ends)
        return Token(access_token="late", expires_at=now + 3600)

    manager = TokenManager(stuck_fetch, key="stuck", cache=MemoryTokenCache(), name="stuck-auth", deadline=0.3)
    holder = threading.Thread(target=manager.token, daemon=True)
    holder.start()
    try:
        assert entered.wait(10)
        with pytest.raises(TokenTimeoutError) as caught:
            manager.token()
        with pytest.raises(TokenTimeoutError) as invalidating:
            manager.invalidate()
    finally:
        release.set()
        holder.join(10)

    assert caught.value.waited_for == "another thread's token call"
    assert caught.value.deadline == pytest.approx(0.3 + WAIT_MARGIN)
    assert "stuck-auth: waited 1.3 s for another thread's token call" in str(caught.value)
    assert "invalidate()" in str(invalidating.value)
    assert manager.token().access_token == "late"  # the call that ended is used


def test_an_auth_bounds_its_waits_by_its_token_call_s_deadline(serve: Callable[..., LocalServer]) -> None:
    server = serve(always(Reply(200, {"access_token": "ok", "expires_in": 3600})))
    policy = RetryPolicy(attempts=2, backoff=0.5, budget=30)
    auth = auth_for(server, timeout=(1.0, 2.0), retry=policy)

    assert auth._manager.wait_limit() == pytest.approx(policy.deadline((1.0, 2.0)) + WAIT_MARGIN)


# -- memory --------------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_cap_with_a_typed_error_and_is_not_retried(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(always(GzipBomb()))  # 1 GiB once decompressed
    auth = auth_for(server, retry=QUICK)

    with pytest.raises(AnswerTooLargeError) as caught:
        auth.get_token()

    assert caught.value.limit == DEFAULT_MAX_ANSWER_BYTES
    assert "decompresses to more than the 1048576 bytes allowed" in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 1


@pytest.mark.parametrize("announce_length", [True, False], ids=["content-length", "until-close"])
def test_a_50_mb_json_answer_is_refused_at_the_cap(serve: Callable[..., LocalServer], announce_length: bool) -> None:
    server = serve(always(Oversized(size=50 * 1000 * 1000, announce_length=announce_length)))
    auth = auth_for(server, retry=QUICK)

    with pytest.raises(AnswerTooLargeError) as caught:
        auth.get_token()

    assert isinstance(caught.value, TokenResponseError)
    assert caught.value.limit == 1024 * 1024
    assert "max_answer_bytes" in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 1


def test_the_cap_is_settable_both_ways(serve: Callable[..., LocalServer]) -> None:
    two_megabytes = serve(always(Oversized(size=2 * 1024 * 1024)))
    small = serve(always(Reply(200, {"access_token": "a" * 500, "expires_in": 3600})))

    token = auth_for(two_megabytes, retry=RetryPolicy(max_answer_bytes=4 * 1024 * 1024)).get_token()
    with pytest.raises(AnswerTooLargeError) as caught:
        auth_for(small, retry=RetryPolicy(max_answer_bytes=256)).get_token()

    assert len(token.access_token) > 2 * 1024 * 1024 - 100
    assert caught.value.limit == 256


@pytest.mark.parametrize("max_answer_bytes", [0, -1, 1.5, True])
def test_a_cap_that_is_not_a_positive_whole_number_is_a_configuration_error(max_answer_bytes: Any) -> None:
    from requests_multiauth import ConfigurationError

    with pytest.raises(ConfigurationError, match="max_answer_bytes"):
        RetryPolicy(max_answer_bytes=max_answer_bytes)


def test_a_compressed_token_answer_within_the_cap_is_read(serve: Callable[..., LocalServer]) -> None:
    import gzip
    import json

    body = gzip.compress(json.dumps({"access_token": "zipped-token", "expires_in": 3600}).encode())
    server = serve(always(Reply(200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})))

    assert auth_for(server).get_token().access_token == "zipped-token"
    assert server.received(TOKEN_PATH)[0].headers["Accept-Encoding"] == "gzip, deflate"


# -- answers that break HTTP ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "said"),
    [
        (MalformedStatus(), "malformed status line"),
        (ManyHeaders(count=150), "too many headers"),
        (LongHeader(length=70_000), "overlong line"),
    ],
    ids=["status-2OO", "150-headers", "70000-char-header"],
)
def test_an_answer_that_breaks_http_is_reported_as_that_and_not_retried(
    serve: Callable[..., LocalServer], misbehaviour: Misbehaviour, said: str
) -> None:
    server = serve(always(misbehaviour))
    auth = auth_for(server, retry=RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.01))

    with pytest.raises(MalformedAnswerError) as caught:
        auth.get_token()

    assert said in str(caught.value)
    assert "reset" not in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 1


def test_an_answer_cut_off_before_its_length_is_retried_and_reported_as_cut_off(
    serve: Callable[..., LocalServer],
) -> None:
    server = serve(always(Truncated(sent=20)))
    auth = auth_for(server, retry=QUICK)

    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()

    assert "cut off after 20 of the" in str(caught.value)
    assert "reset" not in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 2  # a network fault: retried


def test_a_cut_off_answer_then_a_whole_one_gives_the_token(serve: Callable[..., LocalServer]) -> None:
    replies: List[Reply] = [Truncated(sent=5), Reply(200, {"access_token": "second-try", "expires_in": 3600})]
    server = serve(lambda _: replies.pop(0) if len(replies) > 1 else replies[0])

    assert auth_for(server, retry=QUICK).get_token().access_token == "second-try"


def test_a_redirect_is_not_followed(serve: Callable[..., LocalServer]) -> None:
    elsewhere = serve(always(Reply(200, {"access_token": "stolen", "expires_in": 3600})))
    server = serve(always(Redirect(elsewhere.url + TOKEN_PATH)))

    with pytest.raises(TokenRequestError) as caught:
        auth_for(server, retry=QUICK).get_token()

    assert caught.value.status_code == 302
    assert elsewhere.received() == []


# -- the emulators take them too -----------------------------------------------------------


def test_an_emulator_answers_with_an_injected_misbehaviour_then_as_usual(
    local_providers: LocalProviders, clock: ManualClock
) -> None:
    cognito = local_providers["cognito"]
    cognito.inject(GzipBomb(), times=1)
    auth = cognito.auth()

    with pytest.raises(AnswerTooLargeError):
        auth.get_token()
    clock.advance(FAILURE_HOLD_MIN + 1)  # past the hold of the failure
    token = auth.get_token()

    assert token.access_token
    assert cognito.token_calls >= 1


# -- discovery is bounded the same way ----------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "said"),
    [
        (Oversized(size=50 * 1000 * 1000), "more than the 1048576 allowed"),
        (GzipBomb(), "decompresses to more than the 1048576 bytes allowed"),
        (MalformedStatus(), "malformed status line"),
    ],
    ids=["50-mb", "gzip-bomb", "status-2OO"],
)
def test_discovery_refuses_an_oversized_or_malformed_document_at_once(
    serve: Callable[..., LocalServer], misbehaviour: Misbehaviour, said: str
) -> None:
    from requests_multiauth import DiscoveryError, discover
    from requests_multiauth.discovery import clear_discovery_cache

    server = serve(always(misbehaviour))
    clear_discovery_cache()

    with pytest.raises(DiscoveryError) as caught:
        discover(server.url, session=server.session())

    assert said in str(caught.value)
    assert len(server.received()) == 1  # not retried, and no second location tried


def test_discovery_cuts_a_trickled_document_off_at_each_fetch_s_timeouts(serve: Callable[..., LocalServer]) -> None:
    from requests_multiauth import DiscoveryError, discover
    from requests_multiauth.discovery import DISCOVERY_ATTEMPTS, DISCOVERY_BACKOFF, clear_discovery_cache

    server = serve(always(LONG_TRICKLE))
    clear_discovery_cache()
    timeout = (0.5, 0.5)

    started = time.monotonic()
    with pytest.raises(DiscoveryError) as caught:
        discover(server.url, session=server.session(), timeout=timeout)
    took = time.monotonic() - started

    # Each fetch within connect + read, plus the backoffs between tries; at most that.
    bound = DISCOVERY_ATTEMPTS * sum(timeout) + sum(DISCOVERY_BACKOFF * 2**n for n in range(DISCOVERY_ATTEMPTS - 1))
    assert "deadline passed" in str(caught.value)
    assert took <= bound + 1.0, (took, bound)
    assert len(server.received()) == DISCOVERY_ATTEMPTS


def test_an_answer_in_a_coding_not_asked_for_is_malformed_not_decoded(serve: Callable[..., LocalServer]) -> None:
    server = serve(always(Reply(200, b"\x8b\x05\x80{}\x03", {"Content-Encoding": "br"})))

    with pytest.raises(MalformedAnswerError) as caught:
        auth_for(server, retry=QUICK).get_token()

    assert "'br', which was not asked for" in str(caught.value)
    assert len(server.received(TOKEN_PATH)) == 1
