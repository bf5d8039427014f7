"""Fleets of worker processes sharing a token: the time until every process has it, and the failure hold.

::

    python -m benchmarks.shared_cache                           # what benchmarks/FLEETS.md shows
    python -m benchmarks.shared_cache --sizes 8 --rounds 1      # a quick look
    python -m benchmarks.shared_cache --only hold --redis-url redis://127.0.0.1:6379/0

Two scenarios, each run for every cache side by side (each process fetching its
own token with :class:`~requests_multiauth.MemoryTokenCache`,
:class:`~requests_multiauth.FileTokenCache`, :class:`~requests_multiauth.RedisTokenCache`,
and, for comparison, each shared cache as it was before (``-queue``: through the
four methods of the ``TokenCache`` protocol only, so that waiters take the lock in
turn and each process holds its failures alone)):

* **fleet**: for each size N (8, 32, 96), N worker processes that stay alive, with
  T threads each, one auth per process. Each round, the token expires everywhere at
  once (every worker's clock jumps two hours ahead: the token lives one) and all
  threads ask for a token together. Measured: token calls, and the time from the
  start signal until the last process has its token; the goal is one call and
  at most the token call's latency + 0.2 s + 2 ms per process.
* **hold**: 16 processes ask for a token every 50 ms for 10 s while the token
  endpoint refuses the credentials (HTTP 401 ``invalid_client``) for the first 6 s.
  Measured: refused token calls in total, and the time from the endpoint's
  recovery until every process has a token.

The token endpoint is a LocalServer (HTTPS on loopback) in this process,
answering after ``--latency`` seconds. Redis is the one at ``--redis-url``, or a
``redis-server`` started on a free loopback port if the binary is installed;
otherwise its rows are skipped. Workers are told to start through their stdin
(no polling) and report on their stdout; process start-up is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
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
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence

from requests_multiauth.testing import LocalServer, Reply, Request

#: A throwaway credential of a server that lives for one run on loopback.
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-for-loopback-only"

#: Every wait on a worker ends after this long (seconds).
WAIT = 120.0

#: Each fleet round moves the workers' clocks this far ahead: the token (3600 s) has expired.
ROUND_JUMP = 7200.0

ROOT = Path(__file__).resolve().parent.parent
CACHES = ("none", "file", "redis", "file-queue", "redis-queue")
LABELS = {
    "none": "each process its own",
    "file": "FileTokenCache",
    "redis": "RedisTokenCache",
    "file-queue": "FileTokenCache, as before: lock queue, per-process hold",
    "redis-queue": "RedisTokenCache, as before: lock queue, per-process hold",
}
SCENARIOS = ("fleet", "hold")


@dataclass
class Endpoint:
    """Counts token calls; answers each after *latency* seconds, or refuses until *refuse_until*."""

    latency: float
    calls: int = 0
    refused: int = 0
    refuse_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.calls += 1
            number = self.calls
        time.sleep(self.latency)
        if time.time() < self.refuse_until:
            with self.lock:
                self.refused += 1
            return Reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        return Reply(
            200, {"access_token": f"bench-{number}-{uuid.uuid4().hex}", "token_type": "Bearer", "expires_in": 3600}
        )

    def take(self) -> int:
        with self.lock:
            calls, self.calls, self.refused = self.calls, 0, 0
            return calls


# -- the worker ------------------------------------------------------------------------------------------


def worker(spec: Dict[str, Any]) -> None:
    """One process: an auth on the given cache. Fleet: for each line on stdin, a
    round (T threads ask together, clock moved ahead). Hold: one loop of asks."""
    import requests

    from requests_multiauth import ClientCredentialsAuth, FileTokenCache, MemoryTokenCache, RedisTokenCache, RetryPolicy
    from requests_multiauth.caches.base import TokenCache

    cache: TokenCache
    kind, _, queue = spec["cache"].partition("-")
    if kind == "file":
        cache = FileTokenCache(spec["path"])
    elif kind == "redis":
        cache = RedisTokenCache(spec["url"], prefix=spec["prefix"])
    else:
        cache = MemoryTokenCache()
    if queue:
        cache = BasicCache(cache)
    session = requests.Session()
    session.trust_env = False  # no proxy, and no REQUESTS_CA_BUNDLE overriding verify
    session.verify = spec["ca"]
    offset = [0.0]
    auth = ClientCredentialsAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        spec["token_url"],
        cache=cache,
        session=session,
        retry=RetryPolicy(attempts=1),
        clock=lambda: time.time() + offset[0],
    )
    # Connect, and load what the lock needs, now: at a real expiry, that is done already.
    with cache.lock("rma1-warm-up"):
        cache.get("rma1-warm-up")
    print(json.dumps({"ready": True}), flush=True)
    if spec["scenario"] == "hold":
        sys.stdin.readline()
        print(json.dumps(hold_loop(auth, float(spec["seconds"]))), flush=True)
        return
    for line in sys.stdin:
        offset[0] = float(line)
        done = ask_together(auth, int(spec["threads"]))
        print(json.dumps({"done": max(done), "count": len(done)}), flush=True)


def ask_together(auth: Any, threads: int) -> List[float]:
    """*threads* threads ask *auth* for a token at the same moment; when each had it."""
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
    return done


class BasicCache:
    """Only the four methods of the TokenCache protocol, none of the optional ones:
    waiters take the lock in turn and each process holds its failures alone, as
    before ``lock_or_wait`` and shared failures."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def get(self, key: str) -> Any:
        return self._cache.get(key)

    def set(self, key: str, token: Any) -> None:
        self._cache.set(key, token)

    def delete(self, key: str) -> None:
        self._cache.delete(key)

    def lock(self, key: str) -> Any:
        return self._cache.lock(key)


def hold_loop(auth: Any, seconds: float) -> Dict[str, Any]:
    """Ask for a token every 50 ms for *seconds*; when the first token came, and how many errors."""
    first: Optional[float] = None
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            auth.get_token()
            if first is None:
                first = time.time()
        except Exception:  # the refusal (or its shared hold) is what is measured
            errors += 1
        time.sleep(0.05)
    return {"first_token": first, "errors": errors}


# -- the parent ------------------------------------------------------------------------------------------


class Pool:
    """Worker processes that stay alive: started once, driven through stdin, read through stdout."""

    def __init__(self, spec: Dict[str, Any], processes: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        self.procs: List[subprocess.Popen[str]] = []
        for _ in range(processes):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.shared_cache", "--worker", json.dumps(spec)],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    bufsize=1,
                )
            )
        self.read()  # every worker has built its auth and connected to its cache

    def send(self, line: str) -> float:
        """Send *line* to every worker; returns when the first was sent."""
        began = time.time()
        for proc in self.procs:
            stdin: IO[str] = proc.stdin  # type: ignore[assignment]
            stdin.write(line + "\n")
            stdin.flush()
        return began

    def read(self) -> List[Dict[str, Any]]:
        """One JSON line from every worker (bounded by WAIT)."""
        answers: Dict[int, Dict[str, Any]] = {}
        deadline = time.monotonic() + WAIT
        with selectors.DefaultSelector() as selector:
            for number, proc in enumerate(self.procs):
                selector.register(proc.stdout, selectors.EVENT_READ, number)  # type: ignore[arg-type]
            while len(answers) < len(self.procs):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{len(self.procs) - len(answers)} workers did not answer within {WAIT:g} s")
                for key, _ in selector.select(left):
                    line = key.fileobj.readline()  # type: ignore[union-attr]
                    if not line:
                        raise RuntimeError(f"worker {self.procs[key.data].pid} exited")
                    answers[key.data] = json.loads(line)
                    selector.unregister(key.fileobj)
        return [answers[n] for n in range(len(self.procs))]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@dataclass
class Round:
    token_calls: int
    seconds: float


@dataclass
class Hold:
    refused: int
    token_calls: int
    recovery: float  # from the endpoint's recovery to the last process's first token
    errors: int


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


def fleet(spec: Dict[str, Any], processes: int, rounds: int, endpoint: Endpoint) -> List[Round]:
    """*rounds* expiries of the token everywhere at once, in a pool of *processes* workers."""
    pool = Pool(dict(spec, scenario="fleet"), processes)
    try:
        results = []
        for number in range(rounds):
            endpoint.take()
            began = pool.send(str((number + 1) * ROUND_JUMP))
            done = [answer["done"] for answer in pool.read()]
            results.append(Round(endpoint.take(), max(done) - began))
        return results
    finally:
        pool.stop()


def hold(spec: Dict[str, Any], processes: int, refuse: float, seconds: float, endpoint: Endpoint) -> Hold:
    """*processes* workers asking while the endpoint refuses for *refuse* seconds."""
    pool = Pool(dict(spec, scenario="hold", seconds=seconds), processes)
    try:
        endpoint.take()
        began = time.time()
        endpoint.refuse_until = began + refuse
        pool.send("go")
        answers = pool.read()
        refused = endpoint.refused
        calls = endpoint.take()
        endpoint.refuse_until = 0.0
        firsts = [a["first_token"] for a in answers]
        recovery = max(firsts) - (began + refuse) if all(f is not None for f in firsts) else float("inf")
        return Hold(refused, calls, recovery, sum(a["errors"] for a in answers))
    finally:
        pool.stop()


def run(
    *,
    sizes: Sequence[int],
    threads: int,
    latency: float,
    rounds: int,
    caches: Sequence[str],
    scenarios: Sequence[str],
    hold_processes: int,
    refuse: float,
    redis_url: Optional[str],
) -> Dict[str, Any]:
    """Every scenario for every cache. Returns {"fleet": {size: {cache: [Round]}}, "hold": {cache: Hold}}."""
    results: Dict[str, Any] = {"fleet": {}, "hold": {}}
    endpoint = Endpoint(latency)
    with tempfile.TemporaryDirectory(prefix="multiauth-bench-") as tmp, LocalServer(endpoint, tls=True) as server:
        workdir = Path(tmp)
        redis_server: Optional[RedisServer] = None
        caches = list(caches)
        if any(c.startswith("redis") for c in caches) and redis_url is None:
            try:
                redis_server = RedisServer(workdir)
                redis_url = redis_server.url
            except (FileNotFoundError, RuntimeError) as exc:
                print(f"RedisTokenCache skipped: no Redis ({exc}); pass --redis-url", file=sys.stderr)
                caches = [c for c in caches if not c.startswith("redis")]

        def spec(cache: str) -> Dict[str, Any]:
            place = uuid.uuid4().hex[:8]  # a fresh place each time: every run starts without a token
            return {
                "cache": cache,
                "token_url": server.url + "/oauth2/token",
                "ca": server.verify,
                "threads": threads,
                "path": str(workdir / f"tokens-{place}"),
                "url": redis_url,
                "prefix": f"bench-{place}:",
            }

        try:
            if "fleet" in scenarios:
                for size in sizes:
                    results["fleet"][size] = {}
                    for cache in caches:
                        found = fleet(spec(cache), size, rounds, endpoint)
                        results["fleet"][size][cache] = found
                        print(f"  fleet {size}: {LABELS[cache]}: {found}", file=sys.stderr)
            if "hold" in scenarios:
                for cache in caches:
                    found_hold = hold(spec(cache), hold_processes, refuse, refuse + 4.0, endpoint)
                    results["hold"][cache] = found_hold
                    print(f"  hold: {LABELS[cache]}: {found_hold}", file=sys.stderr)
        finally:
            if redis_server is not None:
                redis_server.stop()
    return results


def table(results: Dict[str, Any], options: argparse.Namespace) -> Iterator[str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    system = f"{platform.system()} {platform.release()}"
    yield f"Machine: {os.cpu_count()} CPUs, {system}, Python {platform.python_version()}"
    yield f"(load average at the end: {load[0]:.2f}), token endpoint latency {options.latency:g} s."
    if results["fleet"]:
        yield ""
        yield (
            f"**Fleet**: worker processes that stay alive, {options.threads} threads each; the token expires "
            f"everywhere at once; time from the start signal until every process has its token, median of "
            f"{options.rounds} rounds (min-max), and the goal: latency + 0.2 s + 2 ms per process."
        )
        yield ""
        yield "| processes | cache | token calls per round | time until all have the token | goal |"
        yield "|---:|---|---:|---:|---:|"
        for size, by_cache in results["fleet"].items():
            goal = options.latency + 0.2 + 0.002 * size
            for cache, rounds in by_cache.items():
                calls = " / ".join(str(c) for c in sorted({r.token_calls for r in rounds}))
                seconds = [r.seconds for r in rounds]
                spread = f"{statistics.median(seconds):.3f} s ({min(seconds):.2f}-{max(seconds):.2f})"
                yield f"| {size} | {LABELS[cache]} | {calls} | {spread} | {goal:.3f} s |"
    if results["hold"]:
        yield ""
        yield (
            f"**Failure hold**: {options.hold_processes} processes ask for a token every 50 ms; the endpoint "
            f"refuses the credentials for the first {options.refuse:g} s. Token calls refused, all token calls, "
            f"and the time from the endpoint's recovery until every process has a token."
        )
        yield ""
        yield "| cache | refused token calls | token calls in all | recovery |"
        yield "|---|---:|---:|---:|"
        for cache, found in results["hold"].items():
            yield f"| {LABELS[cache]} | {found.refused} | {found.token_calls} | {found.recovery:.2f} s |"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shared_cache", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="8,32,96", help="fleet: comma-separated numbers of processes")
    parser.add_argument("--threads", type=int, default=8, help="fleet: threads per process")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the token endpoint takes")
    parser.add_argument("--rounds", type=int, default=5, help="fleet: expiries per size and cache")
    parser.add_argument("--hold-processes", type=int, default=16)
    parser.add_argument("--refuse", type=float, default=6.0, help="hold: seconds the endpoint refuses")
    parser.add_argument("--caches", default=",".join(CACHES), help="comma-separated: " + ",".join(CACHES))
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: fleet,hold")
    parser.add_argument("--redis-url", default=None, help="default: start a redis-server on loopback")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        worker(json.loads(options.worker))
        return 0
    # On SIGTERM, unwind like on Ctrl-C, so that the workers and redis-server we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    caches = [c for c in options.caches.split(",") if c]
    scenarios = [s for s in options.only.split(",") if s]
    unknown = (set(caches) - set(CACHES)) | (set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown cache or scenario: {', '.join(sorted(unknown))}")
    results = run(
        sizes=[int(s) for s in options.sizes.split(",") if s],
        threads=options.threads,
        latency=options.latency,
        rounds=options.rounds,
        caches=caches,
        scenarios=scenarios,
        hold_processes=options.hold_processes,
        refuse=options.refuse,
        redis_url=options.redis_url,
    )
    for line in table(results, options):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
