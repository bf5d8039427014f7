"""RedisTokenCache as fleets run Redis: a Redis Cluster, and a primary watched by Sentinel.

Against real ``redis-server`` processes started by fixtures on free loopback ports
(see tests/fixtures_redis.py): three primaries made into a cluster with
``redis-cli --cluster create``, and one primary, one replica and three sentinels,
whose primary is killed by its pid in the middle of a run. The workers are real
processes (tests/fixtures_cache.py). Without redis-server these tests skip, unless
MULTIAUTH_REQUIRE_REDIS=1 (set by .ci/run), which makes that a failure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from redis.cluster import RedisCluster

from requests_multiauth import ConfigurationError, RedisTokenCache
from requests_multiauth.caches.redis import PREFIX
from requests_multiauth.testing import LocalServer
from tests.fixtures_cache import (
    WAIT,
    TokenEndpointStub,
    Workers,
    check_one_call_per_hold,
    fleet_while_refused,
    make_auth,
    waiters_while_one_fetches,
)
from tests.fixtures_redis import SERVICE, RedisClusterGroup, SentinelGroup, start_cluster, start_sentinel_group

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Workers live this far in the future, where the token cached before they start has expired.
LATER = 7200.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterGroup]:
    group = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield group
    group.stop()


@pytest.fixture(scope="module")
def sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    # One group for the module (it takes seconds to form); the failover test runs last.
    group = start_sentinel_group(tmp_path_factory.mktemp("sentinel"))
    yield group
    group.stop()


def new_workers(tmp_path: Path, server: LocalServer, cache: Dict[str, Any]) -> Workers:
    return Workers(
        tmp_path,
        {
            "token_url": server.url + "/token",
            "ca": server.verify,
            "client_id": "client-a",
            "cache": dict(cache, kind="redis"),
            "threads": 4,
            "clock_offset": 0.0,
        },
    )


@pytest.fixture
def cluster_workers(tmp_path: Path, server: LocalServer, cluster: RedisClusterGroup) -> Iterator[Workers]:
    cluster.client().flushall()  # each test starts without entries
    group = new_workers(tmp_path, server, {"cluster": cluster.ports, "lock_timeout": WAIT})
    yield group
    group.stop_all()


def keys_in(cluster: RedisClusterGroup) -> List[str]:
    return sorted(key.decode() for server in cluster.servers for key in server.client().keys(PREFIX + "*"))


# -- Redis Cluster ----------------------------------------------------------------------------------


def test_a_cluster_fleet_makes_one_token_call_and_its_waiters_do_not_queue_on_the_lock(  # redis+cluster://
    server: LocalServer, stub: TokenEndpointStub, cluster: RedisClusterGroup, cluster_workers: Workers
) -> None:
    cache = RedisTokenCache(cluster.client())
    make_auth(server, cache).get_token()  # tok-1; expired for the workers
    [entry] = keys_in(cluster)
    nodes = ",".join(f"127.0.0.1:{port}" for port in cluster.ports)
    cluster_workers.base["cache"] = {"kind": "redis", "url": f"redis+cluster://{nodes}", "lock_timeout": WAIT}
    holder, waiters = waiters_while_one_fetches(
        cluster_workers, stub, cache, entry[len(PREFIX) + 1 : -1], waiting=4, later=LATER
    )

    assert stub.calls == ["client-a"] * 2  # the seed, then ONE call for the fleet
    assert (holder.held, [w.held for w in waiters]) == (1, [0] * 4)  # the lock script ran on the cluster
    assert {token for w in waiters for token in w.tokens} == {"tok-2"}
    assert all(w.errors == [] for w in waiters)
    # The entry, its lock and its failure record hash to one slot: scripts may use them together.
    slots = {RedisCluster.keyslot(cache.client, entry + suffix) for suffix in ("", ":lock", ":failure")}
    assert len(slots) == 1


def test_a_refused_cluster_fleet_makes_one_token_call_per_hold_interval(  # a RedisCluster client passed in
    stub: TokenEndpointStub, cluster: RedisClusterGroup, cluster_workers: Workers
) -> None:
    stub.delay = 0.0
    results = fleet_while_refused(cluster_workers, stub, processes=4)
    check_one_call_per_hold(stub, results)
    assert [k for k in keys_in(cluster) if k.endswith(":failure")] == []


# -- Sentinel ---------------------------------------------------------------------------------------


def test_a_sentinel_managed_primary_passed_in_shares_one_token(
    server: LocalServer, stub: TokenEndpointStub, sentinel_group: SentinelGroup
) -> None:
    from redis.sentinel import Sentinel

    sentinel = Sentinel([("127.0.0.1", port) for port in sentinel_group.sentinel_ports], socket_timeout=1)
    primary = sentinel.master_for(SERVICE, socket_timeout=1)
    primary.flushall()
    cache = RedisTokenCache(primary)
    assert repr(cache) == f"RedisTokenCache('redis sentinel {SERVICE}', prefix='{PREFIX}')"
    tokens = [make_auth(server, cache).get_token().access_token for _ in range(3)]
    assert tokens == ["tok-1"] * 3
    assert len(stub.calls) == 1


def test_a_sentinel_failover_in_the_middle_of_a_run_fails_no_request(  # redis+sentinel://
    tmp_path: Path, server: LocalServer, stub: TokenEndpointStub, sentinel_group: SentinelGroup
) -> None:
    stub.lifetime = 3.2  # renewed ahead every 2.3 s: the first renewal falls in the failover
    stub.delay = 0.05
    processes, seconds = 6, 8.0
    sentinels = ",".join(f"127.0.0.1:{port}" for port in sentinel_group.sentinel_ports)
    url = f"redis+sentinel://{sentinels}/{SERVICE}/0"
    workers = new_workers(tmp_path, server, {"url": url, "lock_timeout": 5, "reconnect_after": 0.5})
    try:
        procs = workers.start(processes, threads=1, start_file=True, loop=seconds, every=0.02, api=server.url + "/api")
        workers.wait_ready(procs)
        workers.go()
        time.sleep(2.0)
        old_primary = sentinel_group.primary.port
        sentinel_group.primary.kill()  # SIGKILL by pid, while every worker calls the API
        deadline = time.monotonic() + WAIT
        while sentinel_group.primary_port() == old_primary:
            assert time.monotonic() < deadline, "the sentinels did not fail over"
            time.sleep(0.1)
        results = workers.collect(procs)
    finally:
        workers.stop_all()

    assert [r.errors for r in results] == [[]] * processes  # 0 failed requests
    # Shared, the fleet needs 1 token and 3 renewals in 8 s; each process may fetch
    # one token of its own while Redis is away, no more. (Not shared: 4 per process.)
    assert len(stub.calls) <= 4 + processes, f"{len(stub.calls)} token calls"
    assert sentinel_group.primary_port() == sentinel_group.replica.port
    assert len({r.tokens[-1] for r in results}) == 1  # shared again, through the new primary


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://:pw-Zq81xLm@127.0.0.1:26379",  # no service
        "redis+sentinel://:pw-Zq81xLm@127.0.0.1:26379/tokens/zero",
        "redis+cluster://:pw-Zq81xLm@",
        "redis+cluster://:pw-Zq81xLm@127.0.0.1",  # no port
    ],
)
def test_sentinel_and_cluster_urls_that_cannot_work_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        RedisTokenCache(url)
    assert "pw-Zq81xLm" not in str(refused.value)
