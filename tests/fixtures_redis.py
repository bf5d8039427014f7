"""Real redis-server processes for the Redis cache tests: one server, a cluster, a Sentinel group.

Each process is ours: started on free loopback ports, in a temporary directory,
without persistence, and stopped (or killed) by its pid. Every wait is bounded.
Without the binary the tests that need one skip, unless MULTIAUTH_REQUIRE_REDIS=1
(set by .ci/run), which makes a missing or failing server a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import redis

#: How long a server, a cluster or a Sentinel group may take to come up (seconds).
START_WAIT = 20.0

#: The name under which the sentinels know the primary.
SERVICE = "tokens"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_binary(name: str = "redis-server") -> str:
    """The path of *name*; skips the test without it (fails it under MULTIAUTH_REQUIRE_REDIS=1)."""
    binary = shutil.which(name)
    if binary is None:
        if os.environ.get("MULTIAUTH_REQUIRE_REDIS") == "1":
            pytest.fail(f"{name} is not installed, and MULTIAUTH_REQUIRE_REDIS=1 says these tests must run")
        pytest.skip(f"{name} is not installed (MULTIAUTH_REQUIRE_REDIS=1 makes this a failure)")
    return binary


def wait_until(what: str, check: Any, timeout: float = START_WAIT, every: float = 0.05) -> None:
    """Call *check* until it returns true (errors count as not yet), for at most *timeout* seconds."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(every)
    raise RuntimeError(f"{what} within {timeout:g} s" + (f" (last error: {last})" if last else ""))


@dataclass
class RedisServer:
    """A redis-server process of our own on 127.0.0.1; stop() and start() keep its port.

    *options* are added to its command line (``["--cluster-enabled", "yes"]``);
    *config* is written to a configuration file given first (a sentinel's).
    """

    binary: str
    directory: Path
    port: int
    options: List[str] = field(default_factory=list)
    config: Optional[str] = None
    process: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [self.binary]
        if self.config is not None:
            config = self.directory / "redis.conf"
            config.write_text(self.config)
            command.append(str(config))
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command + self.options, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        try:
            wait_until(f"redis-server did not answer on port {self.port}", lambda: self._alive() and client.ping())
        finally:
            client.close()

    def _alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited")
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, by pid: a primary that dies without a word."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None


@dataclass
class RedisClusterGroup:
    """Three primaries (no replicas) made into one cluster with ``redis-cli --cluster create``."""

    servers: List[RedisServer]

    @property
    def ports(self) -> List[int]:
        return [server.port for server in self.servers]

    def client(self) -> Any:
        from redis.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode("127.0.0.1", port) for port in self.ports]
        return RedisCluster(startup_nodes=nodes, socket_timeout=2, socket_connect_timeout=2)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_cluster(directory: Path) -> RedisClusterGroup:
    binary, cli = redis_binary(), redis_binary("redis-cli")
    servers = []
    group = RedisClusterGroup(servers)
    try:
        for number in range(3):
            port = free_port()
            options = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-port", str(free_port()),  # the cluster bus, on a free port too
                "--cluster-node-timeout", "2000",
            ]  # fmt: skip
            servers.append(RedisServer(binary, directory / f"node-{number}", port, options))
            servers[-1].start()
        nodes = [f"127.0.0.1:{port}" for port in group.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=START_WAIT,
        )

        def ready() -> bool:
            for server in servers:
                client = server.client()
                try:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
                finally:
                    client.close()
            return True

        wait_until("the cluster was not ready", ready)
    except BaseException:
        group.stop()
        raise
    return group


@dataclass
class SentinelGroup:
    """One primary, one replica, three sentinels that watch the primary as :data:`SERVICE`."""

    primary: RedisServer
    replica: RedisServer
    sentinels: List[RedisServer]

    @property
    def sentinel_ports(self) -> List[int]:
        return [sentinel.port for sentinel in self.sentinels]

    def primary_port(self) -> int:
        """The port the sentinels name as the primary now."""
        client = self.sentinels[0].client()
        try:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        finally:
            client.close()
        return int(port)

    def stop(self) -> None:
        for server in [*self.sentinels, self.replica, self.primary]:
            server.stop()


def start_sentinel_group(directory: Path) -> SentinelGroup:
    binary = redis_binary()
    primary = RedisServer(binary, directory / "primary", free_port())
    replica = RedisServer(binary, directory / "replica", free_port())
    replica.options = ["--replicaof", "127.0.0.1", str(primary.port)]
    sentinels = []
    for number in range(3):
        config = (
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 500\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        sentinels.append(
            RedisServer(binary, directory / f"sentinel-{number}", free_port(), ["--sentinel"], config=config)
        )
    group = SentinelGroup(primary, replica, sentinels)
    try:
        primary.start()
        replica.start()
        for sentinel in sentinels:
            sentinel.start()

        def ready() -> bool:
            replicated = replica.client().info("replication")
            if replicated.get("master_link_status") != "up":
                return False
            for sentinel in sentinels:
                state = _pairs(sentinel.client().execute_command("SENTINEL", "MASTER", SERVICE))
                if int(state.get("num-other-sentinels", 0)) < 2 or int(state.get("num-slaves", 0)) < 1:
                    return False
            return True

        wait_until("the sentinels did not find the primary, its replica and each other", ready)
    except BaseException:
        group.stop()
        raise
    return group


def _pairs(reply: Any) -> Dict[str, str]:
    """A flat [name, value, ...] reply (or an already decoded dict) as a dict of str."""
    items = list(reply.items()) if isinstance(reply, dict) else list(zip(reply[::2], reply[1::2]))
    return {_text(k): _text(v) for k, v in items}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
