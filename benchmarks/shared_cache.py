"""Token calls and wall time for N worker processes, with and without a shared token cache.

::

    python -m benchmarks.shared_cache                    # 8 processes x 8 threads, 0.2 s token latency
    python -m benchmarks.shared_cache --processes 16 --threads 4 --latency 0.5 --rounds 5
    python -m benchmarks.shared_cache --redis-url redis://127.0.0.1:6379/0

Each round, for each cache (no shared cache, :class:`~requests_multiauth.FileTokenCache`,
:class:`~requests_multiauth.RedisTokenCache`):

1. *first wave*: N fresh worker processes, each with one auth on that cache, wait
   for a start signal; then T threads in each ask for a token at the same moment
   (a fleet starting, or a token expiring everywhere at once);
2. *joining*: N more fresh processes do the same once the first wave is done (a
   worker restarted by gunicorn or Celery, a new notebook).

It prints the token calls the endpoint received in each phase and the wall time
from the start signal to the last thread holding a token (process start-up is
not counted). The token endpoint is a LocalServer (HTTPS on loopback) in this
process, answering after ``--latency`` seconds. Redis is the one at
``--redis-url``, or a ``redis-server`` started on a free loopback port if the
binary is installed; otherwise its row is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from requests_multiauth.testing import LocalServer, Reply, Request

#: A throwaway credential of a server that lives for one run on loopback.
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-for-loopback-only"

#: Every wait on a worker ends after this long (seconds).
WAIT = 120.0

ROOT = Path(__file__).resolve().parent.parent
CACHES = ("none", "file", "redis")
LABELS = {"none": "no shared cache", "file": "FileTokenCache", "redis": "RedisTokenCache"}


@dataclass
class Endpoint:
    """Counts token calls; answers each after *latency* seconds."""

    latency: float
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.calls += 1
            number = self.calls
        time.sleep(self.latency)
        return Reply(
            200, {"access_token": f"bench-{number}-{uuid.uuid4().hex}", "token_type": "Bearer", "expires_in": 3600}
        )

    def take(self) -> int:
        with self.lock:
            calls, self.calls = self.calls, 0
            return calls


@dataclass
class Phase:
    token_calls: int
    seconds: float


# -- the worker ------------------------------------------------------------------------------------------


def worker(spec: Dict[str, Any]) -> None:
    """One process: an auth on the given cache; T threads ask for a token together."""
    import requests

    from requests_multiauth import ClientCredentialsAuth, FileTokenCache, MemoryTokenCache, RedisTokenCache, RetryPolicy
    from requests_multiauth.cache import TokenCache

    cache: TokenCache
    if spec["cache"] == "file":
        cache = FileTokenCache(spec["path"])
    elif spec["cache"] == "redis":
        cache = RedisTokenCache(spec["url"], prefix=spec["prefix"])
    else:
        cache = MemoryTokenCache()
    session = requests.Session()
    session.trust_env = False  # no proxy, and no REQUESTS_CA_BUNDLE overriding verify
    session.verify = spec["ca"]
    auth = ClientCredentialsAuth(
        CLIENT_ID, CLIENT_SECRET, spec["token_url"], cache=cache, session=session, retry=RetryPolicy(attempts=1)
    )
    cache.get("rma1-warm-up")  # connect now: at a real expiry, connections are already open
    Path(spec["ready"]).touch()
    deadline = time.monotonic() + WAIT
    while not os.path.exists(spec["start"]):
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        time.sleep(0.001)
    threads = int(spec["threads"])
    barrier = threading.Barrier(threads, timeout=WAIT)
    done: List[float] = []

    def ask() -> None:
        barrier.wait()
        auth.get_token()
        done.append(time.time())

    pool = [threading.Thread(target=ask) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(WAIT)
    print(json.dumps({"done": max(done), "count": len(done)}), flush=True)


# -- the parent ------------------------------------------------------------------------------------------


def run_wave(spec: Dict[str, Any], processes: int, workdir: Path, endpoint: Endpoint) -> Phase:
    """Start *processes* workers, wait until all are ready, signal, and time them."""
    wave = workdir / uuid.uuid4().hex[:8]
    wave.mkdir()
    start = wave / "start"
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    procs = []
    for number in range(processes):
        worker_spec = dict(spec, ready=str(wave / f"ready-{number}"), start=str(start))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.shared_cache", "--worker", json.dumps(worker_spec)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        deadline = time.monotonic() + WAIT
        for number, proc in enumerate(procs):
            while not (wave / f"ready-{number}").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {proc.pid} did not get ready")
                time.sleep(0.01)
        endpoint.take()
        began = time.time()
        start.touch()
        finished = []
        for proc in procs:
            out, _ = proc.communicate(timeout=WAIT)
            if proc.returncode != 0:
                raise RuntimeError(f"worker {proc.pid} failed with {proc.returncode}")
            finished.append(json.loads(out.strip().splitlines()[-1])["done"])
        return Phase(endpoint.take(), max(finished) - began)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of our own on a free loopback port, without persistence."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def run(
    *, processes: int, threads: int, latency: float, rounds: int, caches: Sequence[str], redis_url: Optional[str]
) -> Dict[str, List[List[Phase]]]:
    """Every round, each cache's first wave then joining wave. Returns phases by cache."""
    results: Dict[str, List[List[Phase]]] = {cache: [] for cache in caches}
    endpoint = Endpoint(latency)
    with tempfile.TemporaryDirectory(prefix="multiauth-bench-") as tmp, LocalServer(endpoint, tls=True) as server:
        workdir = Path(tmp)
        redis_server: Optional[RedisServer] = None
        if "redis" in caches and redis_url is None:
            try:
                redis_server = RedisServer(workdir)
                redis_url = redis_server.url
            except (FileNotFoundError, RuntimeError) as exc:
                print(f"RedisTokenCache skipped: no Redis ({exc}); pass --redis-url", file=sys.stderr)
                results.pop("redis")
        try:
            for round_number in range(rounds):
                for cache in results:
                    spec = {
                        "cache": cache,
                        "token_url": server.url + "/oauth2/token",
                        "ca": server.verify,
                        "threads": threads,
                        # A fresh place each round, so that every first wave starts without a token.
                        "path": str(workdir / f"tokens-{round_number}"),
                        "url": redis_url,
                        "prefix": f"bench-{uuid.uuid4().hex[:8]}:",
                    }
                    first = run_wave(spec, processes, workdir, endpoint)
                    joining = run_wave(spec, processes, workdir, endpoint)
                    results[cache].append([first, joining])
                    print(f"  round {round_number + 1}: {LABELS[cache]}: {first} / {joining}", file=sys.stderr)
        finally:
            if redis_server is not None:
                redis_server.stop()
    return results


def table(results: Dict[str, List[List[Phase]]], *, processes: int, threads: int, latency: float) -> Iterator[str]:
    yield f"{processes} processes x {threads} threads, token endpoint latency {latency:g} s, median of rounds"
    yield ""
    yield "| cache | token calls, first wave | wall time, first wave | token calls, joining | wall time, joining |"
    yield "|---|---:|---:|---:|---:|"
    for cache, rounds in results.items():
        first = [r[0] for r in rounds]
        joining = [r[1] for r in rounds]

        def calls(phases: List[Phase]) -> str:
            values = sorted({p.token_calls for p in phases})
            return " / ".join(str(v) for v in values)

        def seconds(phases: List[Phase]) -> str:
            return f"{statistics.median(p.seconds for p in phases):.3f} s"

        yield f"| {LABELS[cache]} | {calls(first)} | {seconds(first)} | {calls(joining)} | {seconds(joining)} |"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shared_cache", description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="threads per process")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the token endpoint takes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--caches", default=",".join(CACHES), help="comma-separated: none,file,redis")
    parser.add_argument("--redis-url", default=None, help="default: start a redis-server on loopback")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        worker(json.loads(options.worker))
        return 0
    # On SIGTERM, unwind like on Ctrl-C, so that the workers and redis-server we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    caches = [c for c in options.caches.split(",") if c]
    unknown = set(caches) - set(CACHES)
    if unknown:
        parser.error(f"unknown cache: {', '.join(sorted(unknown))}")
    results = run(
        processes=options.processes,
        threads=options.threads,
        latency=options.latency,
        rounds=options.rounds,
        caches=caches,
        redis_url=options.redis_url,
    )
    for line in table(results, processes=options.processes, threads=options.threads, latency=options.latency):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
