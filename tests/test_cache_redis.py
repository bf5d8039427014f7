"""RedisTokenCache (requests_multiauth/cache_redis.py): the hosts of a fleet share one token.

Against a real ``redis-server`` started by a fixture on a free loopback port
(no persistence, in a temporary directory; see tests/fixtures_redis.py) and stopped by its pid. Without the
binary these tests skip, unless MULTIAUTH_REQUIRE_REDIS=1 (set by .ci/run),
which makes a missing server a failure.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import redis

from requests_multiauth import ConfigurationError, InvalidClientError, RedisTokenCache, Token
from requests_multiauth.caches.redis import NO_EXPIRY_TTL, PREFIX
from requests_multiauth.engine.manager import FAILURE_HOLD_MAX, FAILURE_HOLD_MIN
from requests_multiauth.testing import LocalServer
from tests.fixtures_cache import (
    CLIENT_SECRET,
    WAIT,
    TokenEndpointStub,
    Workers,
    check_one_call_per_hold,
    fleet_while_refused,
    make_auth,
    waiters_while_one_fetches,
    warnings_in,
)
from tests.fixtures_redis import RedisServer, free_port, redis_binary

#: Workers live this far in the future, where the token cached before they start has expired.
LATER = 7200.0

needs_redis = pytest.mark.redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), tmp_path / "redis", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(tmp_path: Path, server: LocalServer, redis_server: RedisServer) -> Iterator[Workers]:
    group = Workers(
        tmp_path,
        {
            "token_url": server.url + "/token",
            "ca": server.verify,
            "client_id": "client-a",
            "cache": {"kind": "redis", "url": redis_server.url, "lock_timeout": WAIT},
            "threads": 8,
            "clock_offset": 0.0,
        },
    )
    yield group
    group.stop_all()


def keys_of(client: redis.Redis, pattern: str = "*") -> List[str]:
    return sorted(key.decode() if isinstance(key, bytes) else str(key) for key in client.keys(pattern))


def only_key(client: redis.Redis, pattern: str = PREFIX + "*") -> str:
    [key] = keys_of(client, pattern)
    return key


# -- one token for many processes ----------------------------------------------------------


@needs_redis
def test_eight_processes_of_eight_threads_make_one_token_call_after_expiry(
    server: LocalServer, stub: TokenEndpointStub, redis_server: RedisServer, workers: Workers
) -> None:
    make_auth(server, RedisTokenCache(redis_server.url)).get_token()  # tok-1; expired for the workers
    procs = workers.start(8, start_file=True, clock_offset=LATER)
    workers.wait_ready(procs)
    workers.go()
    results = workers.collect(procs)

    assert stub.calls == ["client-a", "client-a"]  # the seed, then ONE call for 64 threads
    assert [r.errors for r in results] == [[]] * 8
    assert {token for r in results for token in r.tokens} == {"tok-2"}
    assert sum(len(r.tokens) for r in results) == 64


@needs_redis
def test_killing_the_lock_holder_mid_fetch_frees_the_others_when_its_lock_expires(
    stub: TokenEndpointStub, workers: Workers
) -> None:
    stub.hold_first = True
    redis_lock = {"lock_ttl": 2.0, "lock_timeout": WAIT}  # the TTL, not the 30 s wait, must free them
    waiting = workers.start(3, threads=2, start_file=True, cache=dict(workers.base["cache"], **redis_lock))
    holder = workers.start(1, threads=1, cache=dict(workers.base["cache"], **redis_lock))[0]
    assert stub.entered.wait(WAIT), "the first worker never called the token endpoint"
    workers.wait_ready(waiting)
    workers.go()
    workers.kill(holder)  # SIGKILL, inside the token call, holding the Redis lock
    stub.release.set()
    results = workers.collect(waiting)

    # One waiter took the expired lock and fetched; the others reused its token.
    # Had they waited out lock_timeout, each would have warned and fetched its own.
    assert stub.calls == ["client-a"] * 2
    assert {token for r in results for token in r.tokens} == {"tok-2"}
    assert all("could not take the lock" not in r.stderr for r in results)


# -- Redis going away ------------------------------------------------------------------------


@needs_redis
def test_a_stopped_redis_is_survived_with_a_warning_and_shared_again_after_a_restart(
    server: LocalServer,
    stub: TokenEndpointStub,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub.delay = 0.0  # a token call well within the pause below: Redis is tried once while down
    cache = RedisTokenCache(redis_server.url, reconnect_after=1.0)
    api = server.session()
    running = make_auth(server, cache)
    assert api.get(server.url + "/api", auth=running).status_code == 200  # tok-1, shared
    redis_server.stop()

    with caplog.at_level(logging.INFO, logger="requests_multiauth"):
        newcomer = make_auth(server, cache)  # needs a token while Redis is down
        assert api.get(server.url + "/api", auth=newcomer).status_code == 200
        assert api.get(server.url + "/api", auth=running).status_code == 200
        assert newcomer.get_token().access_token == "tok-2"  # fetched and kept locally
        warned = warnings_in(caplog)

        redis_server.start()  # empty: nothing persisted
        time.sleep(1.2)  # past the pause after one failure (1 s)
        assert make_auth(server, cache).get_token().access_token == "tok-3"  # stored in Redis again
        assert make_auth(server, cache).get_token().access_token == "tok-3"  # shared: no call

    assert len(stub.calls) == 3
    assert len(warned) == 1
    assert "failed" in warned[0]
    assert "answers again" in caplog.text
    assert only_key(redis_server.client()).startswith(PREFIX + "{rma1-")


@needs_redis
def test_a_dead_redis_is_tried_once_per_pause_not_on_every_call(caplog: pytest.LogCaptureFixture) -> None:
    connections: List[socket.socket] = []
    with socket.socket() as listener:  # accepts and hangs up: a Redis that is there but broken
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.05)
        stop = threading.Event()

        def hang_up() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except socket.timeout:
                    continue
                connections.append(connection)
                connection.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        try:
            cache = RedisTokenCache(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", reconnect_after=60)
            token = Token("tok-x", expires_at=time.time() + 3600)
            with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
                for _ in range(20):
                    with cache.lock("rma1-k"):
                        assert cache.get("rma1-k") is None
                        cache.set("rma1-k", token)
                    cache.delete("rma1-k")
        finally:
            stop.set()
            thread.join(WAIT)

    assert 1 <= len(connections) <= 2  # one try (and the client's single retry), not 80
    assert len(warnings_in(caplog)) == 1


@needs_redis
def test_logs_and_repr_never_show_the_redis_password(caplog: pytest.LogCaptureFixture) -> None:
    cache = RedisTokenCache(f"redis://:hunter2-pw@127.0.0.1:{free_port()}/3")
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        assert cache.get("rma1-k") is None
    assert "failed" in caplog.text
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr(cache)
    assert "127.0.0.1" in repr(cache)


# -- entries and locks -------------------------------------------------------------------------------


@needs_redis
def test_entries_expire_with_the_token(server: LocalServer, redis_server: RedisServer) -> None:
    client = redis_server.client()
    make_auth(server, RedisTokenCache(redis_server.url)).get_token()  # expires_in 3600
    assert 3500_000 < client.pttl(only_key(client)) <= 3600_000

    cache = RedisTokenCache(client, prefix="other:")
    cache.set("rma1-none", Token("tok-forever"))
    cache.set("rma1-gone", Token("tok-dead", expires_at=time.time() - 1))
    assert NO_EXPIRY_TTL * 1000 - 100_000 < client.pttl("other:{rma1-none}") <= NO_EXPIRY_TTL * 1000
    assert client.exists("other:{rma1-gone}") == 0  # an expired token is not shared


@needs_redis
def test_a_damaged_entry_counts_as_empty_with_a_warning_and_is_replaced(
    server: LocalServer,
    stub: TokenEndpointStub,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = redis_server.client()
    cache = RedisTokenCache(redis_server.url)
    make_auth(server, cache).get_token()
    key = only_key(client)
    client.set(key, b"\x00garbage{")

    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        response = server.session().get(server.url + "/api", auth=make_auth(server, cache))

    assert response.status_code == 200
    assert len(stub.calls) == 2
    [warning] = warnings_in(caplog)
    assert "damaged" in warning
    assert "tok-" not in caplog.text
    replaced = cache.get(key[len(PREFIX) + 1 : -1])
    assert replaced is not None
    assert replaced.access_token == "tok-2"


@needs_redis
def test_a_lock_held_past_lock_timeout_is_given_up_with_a_warning(
    server: LocalServer, stub: TokenEndpointStub, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis_server.client()
    cache = RedisTokenCache(redis_server.url, lock_timeout=0.3)
    auth = make_auth(server, cache)
    auth.get_token()
    key = only_key(client)
    auth.invalidate()
    client.set(key + ":lock", "a stuck holder", px=60_000)

    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        token = auth.get_token()

    assert token.access_token == "tok-2"  # fetched alone rather than waiting a minute
    assert len(stub.calls) == 2
    assert any("could not take the lock" in message for message in warnings_in(caplog))


@needs_redis
def test_a_lock_that_expired_and_was_taken_over_is_not_released_by_its_first_holder(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    first, second = RedisTokenCache(redis_server.url), RedisTokenCache(redis_server.url)
    name = PREFIX + "{rma1-k}:lock"
    with first.lock("rma1-k"):
        client.delete(name)  # as if its TTL ran out while the first holder was still fetching
        taken_over = second.lock("rma1-k")
        taken_over.__enter__()
    assert client.exists(name) == 1  # the first holder's release left the second one's lock alone
    taken_over.__exit__(None, None, None)
    assert client.exists(name) == 0


@needs_redis
def test_keys_are_the_prefix_and_a_hash_and_no_value_holds_the_client_secret(
    server: LocalServer, stub: TokenEndpointStub, redis_server: RedisServer
) -> None:
    client = redis_server.client()
    shared, separate = RedisTokenCache(redis_server.url), RedisTokenCache(redis_server.url, prefix="app2:")
    tokens = [
        make_auth(server, cache, client_id=c).get_token().access_token
        for cache, c in ((shared, "client-a"), (shared, "client-b"), (shared, "client-a"), (separate, "client-a"))
    ]

    assert tokens == ["tok-1", "tok-2", "tok-1", "tok-3"]  # one token per client and prefix
    assert len(stub.calls) == 3
    keys = keys_of(client)
    assert len(keys) == 3  # the locks are gone
    assert all(k.startswith((PREFIX + "{rma1-", "app2:{rma1-")) for k in keys)
    assert not any("client-" in k or CLIENT_SECRET in k for k in keys)
    assert not any(CLIENT_SECRET.encode() in client.get(k) for k in keys)  # type: ignore[operator]


@needs_redis
def test_a_client_passed_in_is_used_as_it_is_even_with_decoded_responses(
    server: LocalServer, stub: TokenEndpointStub, redis_server: RedisServer
) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    first = make_auth(server, RedisTokenCache(client)).get_token()
    second = make_auth(server, RedisTokenCache(client)).get_token()
    assert first.access_token == second.access_token == "tok-1"
    assert len(stub.calls) == 1


def test_without_redis_building_the_cache_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what a missing package looks like to import
    with pytest.raises(ImportError, match=r"pip install 'requests-multiauth\[redis\]'"):
        RedisTokenCache("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("setting", [{"lock_ttl": 0.0}, {"lock_timeout": -1.0}, {"reconnect_after": float("nan")}])
def test_durations_that_cannot_work_are_refused(setting: Dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(setting))):
        RedisTokenCache("redis://127.0.0.1:6379/0", **setting)


# -- fleets: waiters that do not queue, failures held for all ------------------------------


@needs_redis
def test_waiters_take_the_token_from_the_entry_without_taking_the_lock_in_turn(
    stub: TokenEndpointStub, server: LocalServer, redis_server: RedisServer, workers: Workers
) -> None:
    cache = RedisTokenCache(redis_server.url)
    make_auth(server, cache).get_token()  # tok-1; expired for the workers
    key = only_key(redis_server.client())[len(PREFIX) + 1 : -1]
    holder, waiters = waiters_while_one_fetches(workers, stub, cache, key, waiting=6, later=LATER)

    assert stub.calls == ["client-a"] * 2  # the seed, then ONE call for the fleet
    assert holder.held == 1
    assert [w.held for w in waiters] == [0] * 6  # none of them took the lock: they read the entry
    assert {token for w in waiters for token in w.tokens} == {"tok-2"}
    assert all(w.errors == [] for w in waiters)


@needs_redis
def test_a_refused_fleet_makes_one_token_call_per_hold_interval_and_recovers(
    stub: TokenEndpointStub, redis_server: RedisServer, workers: Workers
) -> None:
    stub.delay = 0.0
    results = fleet_while_refused(workers, stub, processes=6)
    check_one_call_per_hold(stub, results)
    assert keys_of(redis_server.client(), "*:failure") == []  # the success removed the failure record


@needs_redis
def test_the_failure_record_holds_no_secret_and_expires(
    stub: TokenEndpointStub, server: LocalServer, redis_server: RedisServer
) -> None:
    stub.refuse_until = time.time() + 60
    with pytest.raises(InvalidClientError) as raised:
        make_auth(server, RedisTokenCache(redis_server.url)).get_token()
    client = redis_server.client()
    [record] = keys_of(client, "*:failure")
    assert CLIENT_SECRET.encode() not in client.get(record)  # type: ignore[operator]
    assert 0 < client.pttl(record) <= (FAILURE_HOLD_MIN + FAILURE_HOLD_MAX) * 1000
    with pytest.raises(InvalidClientError) as held:  # another process's auth: no call
        make_auth(server, RedisTokenCache(redis_server.url)).get_token()
    assert len(stub.calls) == 1
    assert str(held.value) == str(raised.value)
    assert (held.value.status_code, held.value.error) == (401, "invalid_client")


@needs_redis
def test_a_damaged_entry_is_reported_once_by_a_fleet_not_once_per_waiter(
    server: LocalServer, stub: TokenEndpointStub, redis_server: RedisServer, workers: Workers
) -> None:
    client = redis_server.client()
    make_auth(server, RedisTokenCache(redis_server.url)).get_token()
    client.set(only_key(client), b"\x00garbage{", px=60_000)
    procs = workers.start(6, threads=4, start_file=True)
    workers.wait_ready(procs)
    workers.go()
    results = workers.collect(procs)

    assert len(stub.calls) == 2  # the seed, then one call for the fleet
    assert {token for r in results for token in r.tokens} == {"tok-2"}
    # Whoever reads the entry under the lock reports it; waiters look at it without a word.
    assert sum(r.stderr.count("is damaged") for r in results) == 1
