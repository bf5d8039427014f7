"""After ``os.fork()`` (gunicorn's preload, multiprocessing's fork start method) a child works on its own.

Each test forks a real child at the worst moment: while a thread of the parent holds
the auth's lock inside a token call that the server keeps hanging. The child runs its
check, reports one line through a pipe and leaves with ``os._exit``; the parent waits
for it with a bound and kills it (by its pid) if it hangs: a hang is a deadlock.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

import pytest
import requests

from requests_multiauth import ClientCredentialsAuth, RetryPolicy
from requests_multiauth.testing import LocalServer, Reply, Request

#: Forking a threaded process is the very case under test (gunicorn's preload does it);
#: Python 3.12+ warns about it, which here is expected.
FORKING_THREADS = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")

pytestmark = [pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"), FORKING_THREADS]

CLIENT_ID = "fork-client"
CLIENT_SECRET = "fork-secret-c41d9b"
NOW = 1_800_000_000.0
LIFETIME = 3600.0
STALE = NOW + 3300.0  # in the renewal window of a 3600 s token
EXPIRED = NOW + LIFETIME  # past the expiry, leeway included
#: A child that has not reported by then is taken for deadlocked. Healthy children
#: take well under a second; the bound only keeps a broken run from hanging.
CHILD_DEADLINE = 30.0
WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class HangingTokenEndpoint:
    """Issues ``fork-token-N`` for the N-th token request; the request numbered
    :attr:`hang_on` waits until :meth:`release` (or WAIT seconds)."""

    def __init__(self, serve: Callable[..., LocalServer], hang_on: Optional[int] = None) -> None:
        self.hang_on = hang_on
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.count = 0
        self.server = serve(self.handle)

    def handle(self, request: Request) -> Reply:
        with self._lock:
            self.count += 1
            number = self.count
        if number == self.hang_on:
            self._released.wait(WAIT)
        return Reply(200, {"access_token": f"fork-token-{number}", "expires_in": LIFETIME})

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while self.count < count:
            assert time.monotonic() < deadline, f"the server never got token request {count}"
            time.sleep(0.01)

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def endpoint(serve: Callable[..., LocalServer]) -> Iterator[HangingTokenEndpoint]:
    endpoint = HangingTokenEndpoint(serve)
    yield endpoint
    endpoint.release()  # never leave a server thread hanging


def make_auth(
    endpoint: HangingTokenEndpoint, clock: Clock, session: Optional[requests.Session] = None
) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        endpoint.server.url + "/token",
        session=session if session is not None else endpoint.server.session(),
        retry=RetryPolicy(attempts=1),  # a broken connection shows at once instead of being retried away
        clock=clock,
    )


def in_child(check: Callable[[], str]) -> Tuple[int, str]:
    """Run *check* in a forked child; return its exit code and the line it reported.

    The child never returns into pytest: it reports and leaves with ``os._exit``.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code, report = 1, "no report"
        try:
            os.close(read_end)
            report = check()
            code = 0
        except BaseException as exc:
            report = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                os.write(write_end, report.encode("utf-8", "replace")[:4000])
            finally:
                os._exit(code)
    os.close(write_end)
    try:
        deadline = time.monotonic() + CHILD_DEADLINE
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)  # only the child this test forked
                os.waitpid(pid, 0)
                pytest.fail(f"the forked child did not finish within {CHILD_DEADLINE:.0f} s: it is deadlocked")
            time.sleep(0.02)
        return os.waitstatus_to_exitcode(status), os.read(read_end, 8192).decode("utf-8", "replace")
    finally:
        os.close(read_end)


def test_a_child_forked_while_a_renewal_thread_holds_the_lock_gets_a_token_of_its_own(
    endpoint: HangingTokenEndpoint,
) -> None:
    clock = Clock()
    auth = make_auth(endpoint, clock)
    assert auth.get_token().access_token == "fork-token-1"
    endpoint.hang_on = 2
    clock.now = STALE
    assert auth.get_token().access_token == "fork-token-1"  # and a renewal starts in the background
    endpoint.wait_for(2)  # the renewal thread now holds the lock, stuck in its token call

    def child() -> str:
        clock.now = EXPIRED  # nothing valid left: the child must take the lock and fetch
        return auth.get_token().access_token

    code, report = in_child(child)

    endpoint.release()
    auth._manager.join(WAIT)
    assert (code, report) == (0, "fork-token-3")
    assert auth.get_token().access_token == "fork-token-2"  # the parent's renewal finished in the parent


def test_a_child_forked_while_a_request_thread_waits_on_the_first_token_call_gets_its_own(
    endpoint: HangingTokenEndpoint,
) -> None:
    clock = Clock()
    auth = make_auth(endpoint, clock)
    endpoint.hang_on = 1
    got: List[str] = []
    waiting = threading.Thread(target=lambda: got.append(auth.get_token().access_token), daemon=True)
    waiting.start()
    endpoint.wait_for(1)  # the request thread holds the lock, stuck in the first token call

    code, report = in_child(lambda: auth.get_token().access_token)

    endpoint.release()
    waiting.join(WAIT)
    assert (code, report) == (0, "fork-token-2")
    assert got == ["fork-token-1"]


def test_a_child_renews_ahead_of_expiry_on_its_own_thread_not_the_parents(endpoint: HangingTokenEndpoint) -> None:
    clock = Clock()
    auth = make_auth(endpoint, clock)
    auth.get_token()
    endpoint.hang_on = 2
    clock.now = STALE
    auth.get_token()
    endpoint.wait_for(2)  # the parent's renewal thread is stuck; in a child it does not exist

    def child() -> str:
        stale = auth.get_token().access_token  # still valid: returned at once, and a renewal starts here
        auth._manager.join(WAIT)
        return f"{stale} {auth._manager.current.access_token if auth._manager.current else None}"

    code, report = in_child(child)

    endpoint.release()
    auth._manager.join(WAIT)
    assert (code, report) == (0, "fork-token-1 fork-token-3")


@pytest.mark.parametrize("owner", ["own session", "caller's session"])
def test_parent_and_child_do_not_share_a_pooled_tls_connection_to_the_token_endpoint(
    endpoint: HangingTokenEndpoint, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if owner == "own session":  # the auth's own plain session trusts the test CA through the environment
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(endpoint.server.verify))
        session = None
    else:
        session = endpoint.server.session()
    clock = Clock()
    auth = ClientCredentialsAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        endpoint.server.url + "/token",
        session=session,
        retry=RetryPolicy(attempts=1),
        clock=clock,
    )
    assert auth.get_token().access_token == "fork-token-1"  # its keep-alive connection stays in the pool

    def child() -> str:
        auth.invalidate()
        return auth.get_token().access_token

    code, report = in_child(child)
    assert (code, report) == (0, "fork-token-2")

    # Had the child used the parent's pooled TLS connection, the parent's next token
    # call on it would fail: the TLS stream's state moved on in the child.
    auth.invalidate()
    assert auth.get_token().access_token == "fork-token-3"


def test_a_child_gets_its_own_shared_token_session_and_renewal_workers(
    endpoint: HangingTokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from requests_multiauth.engine import workers as _workers
    from requests_multiauth.transport import pool as _pool

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(endpoint.server.verify))
    clock = Clock()
    auth = ClientCredentialsAuth(
        CLIENT_ID, CLIENT_SECRET, endpoint.server.url + "/token", retry=RetryPolicy(attempts=1), clock=clock
    )
    auth.get_token()
    parent_session = _pool.shared_session()
    endpoint.hang_on = 2
    clock.now = STALE
    auth.get_token()
    endpoint.wait_for(2)  # a parent's renewal worker is stuck in its token call

    def child() -> str:
        fresh = _pool.shared_session() is not parent_session
        threads_before = _workers.threads()  # the parent's worker does not exist here
        stale = auth.get_token().access_token  # a renewal starts on a worker of the child's own
        auth._manager.join(WAIT)
        current = auth._manager.current.access_token if auth._manager.current else None
        return f"{fresh} {threads_before} {stale} {current}"

    code, report = in_child(child)

    endpoint.release()
    auth._manager.join(WAIT)
    assert (code, report) == (0, "True 0 fork-token-1 fork-token-3")
