"""Token calls of every auth of the process share connections and TLS settings (_pool.py).

Each test runs real token calls against a LocalServer (HTTPS on loopback) from auths
built without ``session=``: they trust the server's CA through REQUESTS_CA_BUNDLE, as
on a machine whose CA bundle is set in the environment.
"""

from __future__ import annotations

import itertools
import ssl
import threading
from pathlib import Path
from typing import Any, Callable, List

import pytest
import requests

from requests_multiauth import ClientCredentialsAuth, RetryPolicy
from requests_multiauth.testing import LocalServer, Reply, Request
from requests_multiauth.transport import pool as _pool

SECRET = "pool-secret-7f3a61"
THREADS = 24
WAIT = 10.0


class Tokens:
    """Issues a new token per call and remembers the Cookie header of each call."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.cookies: List[str] = []

    def __call__(self, request: Request) -> Reply:
        self.cookies.append(request.headers.get("Cookie", ""))
        number = next(self._numbers)
        return Reply(
            200,
            {"access_token": f"pool-token-{number}", "expires_in": 3600},
            headers={"Set-Cookie": f"balancer=node-{number}; Path=/"},
        )


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def server(serve: Callable[..., LocalServer], tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    server = serve(tokens)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.verify))
    return server


def make_auths(server: LocalServer, count: int) -> List[ClientCredentialsAuth]:
    return [
        ClientCredentialsAuth(f"tenant-{i}", SECRET, server.url + "/token", retry=RetryPolicy(attempts=1))
        for i in range(count)
    ]


def token_pools(server: LocalServer) -> List[Any]:
    """The urllib3 pools of the shared session that lead to *server* (its port, and its
    CA: an earlier test's server may have had the same port)."""
    manager = _pool.shared_session().get_adapter(server.url).poolmanager
    port = int(server.url.rsplit(":", 1)[1])
    context = _pool.ssl_context(str(server.verify))
    keys = manager.pools.keys()  # a RecentlyUsedContainer: not iterable itself
    return [manager.pools[key] for key in keys if key.key_port == port and key.key_ssl_context is context]


def open_connections(pool: Any) -> int:
    return sum(1 for conn in list(pool.pool.queue) if conn is not None and conn.sock is not None)


@pytest.fixture
def count_ca_loads(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Every CA bundle loaded into an SSL context, anywhere in the process."""
    loads: List[str] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        loads.append(str(cafile or capath or "cadata"))
        original(self, cafile, capath, cadata)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return loads


def test_auths_of_one_token_endpoint_share_one_session_one_pool_and_one_ssl_context(
    server: LocalServer, count_ca_loads: List[str]
) -> None:
    auths = make_auths(server, 40)
    for auth in auths:
        assert auth.get_token().access_token.startswith("pool-token-")

    assert len({id(auth._endpoint._session) for auth in auths}) == 1
    pools = token_pools(server)
    assert len(pools) == 1
    assert pools[0].num_connections == 1  # 40 token calls one after the other: one connection, reused
    assert pools[0].conn_kw["ssl_context"] is _pool.ssl_context(str(server.verify))
    assert count_ca_loads.count(str(server.verify)) == 1  # the CA bundle was loaded once, not per auth


def test_many_first_token_calls_at_once_leave_a_bounded_number_of_connections_open(
    server: LocalServer, count_ca_loads: List[str]
) -> None:
    auths = make_auths(server, THREADS * 2)
    start = threading.Barrier(THREADS)
    errors: List[BaseException] = []

    def first_tokens(mine: List[ClientCredentialsAuth]) -> None:
        try:
            start.wait(WAIT)
            for auth in mine:
                auth.get_token()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_tokens, args=(auths[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
    assert not errors
    assert not any(thread.is_alive() for thread in threads)

    (pool,) = token_pools(server)
    assert open_connections(pool) <= _pool.CONNECTIONS_PER_ORIGIN  # extra ones closed after their call
    assert count_ca_loads.count(str(server.verify)) == 1  # however many connections were opened


def test_a_connection_idle_for_the_idle_timeout_is_closed_by_the_sweep(server: LocalServer) -> None:
    (auth,) = make_auths(server, 1)
    auth.get_token()
    (pool,) = token_pools(server)
    assert open_connections(pool) == 1
    assert _pool._sweep_pending  # a sweep is scheduled on the shared workers

    adapter = _pool.shared_session().get_adapter(server.url)
    assert isinstance(adapter, _pool._TokenAdapter)
    for conn in list(pool.pool.queue):
        if conn is not None:
            conn._multiauth_idle_since -= _pool.IDLE_TIMEOUT  # as if the sweep came IDLE_TIMEOUT later
    adapter.close_idle()

    assert open_connections(pool) == 0
    auth.invalidate()
    assert auth.get_token().access_token == "pool-token-2"  # a closed connection is opened anew


def test_a_cookie_set_on_one_clients_token_call_never_reaches_anothers(server: LocalServer, tokens: Tokens) -> None:
    first, second = make_auths(server, 2)
    first.get_token()
    second.get_token()
    first.invalidate()
    first.get_token()

    assert tokens.cookies == ["", "", ""]


def test_a_callers_session_stays_the_callers(server: LocalServer) -> None:
    session = requests.Session()
    session.verify = str(server.verify)
    auth = ClientCredentialsAuth("own-session", SECRET, server.url + "/token", session=session)
    auth.get_token()

    assert auth._endpoint._session is session
    assert session.get_adapter(server.url).poolmanager.pools.keys()  # the call went through it
    auth.close()
    assert session.get_adapter(server.url).poolmanager.pools.keys()  # closing the auth leaves it alone


def test_a_changed_ca_bundle_file_is_loaded_anew(tmp_path: Any, server: LocalServer) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(Path(str(server.verify)).read_text())
    before = _pool.ssl_context(str(bundle))
    assert _pool.ssl_context(str(bundle)) is before

    bundle.write_text(bundle.read_text() + "\n")  # a rotated bundle: its size and time change

    assert _pool.ssl_context(str(bundle)) is not before
