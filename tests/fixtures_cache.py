"""Helpers of the shared-cache tests (test_cache_file.py, test_cache_redis.py, test_cache_keys.py).

* :class:`TokenEndpointStub`: a token endpoint (and a protected API) for a
  :class:`~requests_multiauth.testing.LocalServer`, counting the token calls it
  receives; it can hold the first call until told, to kill its caller mid-fetch.
* :class:`Workers`: real worker processes, each running N threads that ask one
  auth for a token at the same moment. This file is also the worker program:
  ``python tests/fixtures_cache.py '<json spec>'``.

Every wait here is bounded; a worker that outlives its bound is killed by its pid.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple, Type

import pytest
import requests

from requests_multiauth import (
    ClientCredentialsAuth,
    FileTokenCache,
    MemoryTokenCache,
    RedisTokenCache,
    RetryPolicy,
    Token,
    TokenCache,
)
from requests_multiauth.engine.manager import Clock
from requests_multiauth.testing import LocalServer, Reply, Request

if TYPE_CHECKING:
    import pytest

#: Every wait of a test on a worker or the endpoint ends after this long (seconds).
WAIT = 30.0

CLIENT_SECRET = "s3cr3t-Kq9Zt2Wm"


def client_id_of(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    return base64.b64decode(value).decode("utf-8").partition(":")[0]


@dataclass
class TokenEndpointStub:
    """``/token`` issues ``tok-1``, ``tok-2`` ... (one per call, in order); any
    other path is an API that answers 200 to a token we issued, else 401.

    Attributes:
        calls: the client id of each token call, in order.
        times: when each token call arrived (epoch seconds).
        lifetime: the ``expires_in`` of the tokens issued.
        delay: seconds each token call takes (so that concurrent callers overlap).
        hold_first: keep the first token call waiting until :attr:`release` is set.
        hold: keep token call number *hold* waiting until :attr:`release` is set.
        refuse_until: until this time (epoch seconds), refuse the client credentials
            (401 ``invalid_client``) instead of issuing a token.
    """

    lifetime: Optional[float] = 3600
    delay: float = 0.0
    hold_first: bool = False
    hold: Optional[int] = None
    refuse_until: float = 0.0
    calls: List[str] = field(default_factory=list)
    times: List[float] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        if request.path != "/token":
            with self._lock:
                issued = {f"tok-{n}" for n in range(1, len(self.calls) + 1)}
            return Reply(200, {"ok": True}) if request.bearer in issued else Reply(401, {"error": "invalid_token"})
        with self._lock:
            self.calls.append(client_id_of(request.headers.get("Authorization", "")))
            self.times.append(time.time())
            number = len(self.calls)
        if number == (1 if self.hold_first else self.hold):
            self.entered.set()
            self.release.wait(WAIT)
        if self.delay:
            time.sleep(self.delay)
        if time.time() < self.refuse_until:
            return Reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        body: Dict[str, Any] = {"access_token": f"tok-{number}", "token_type": "Bearer"}
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        return Reply(200, body)


@dataclass
class WorkerResult:
    pid: int
    tokens: List[Optional[str]]
    errors: List[str]
    stderr: str
    held: int  # how many times the worker held the shared lock (a counting cache; else 0)


class Workers:
    """Starts worker processes on one token endpoint and cache, and collects what they saw.

    Args:
        tmp_path: where the ready and start files go.
        base: the worker spec every worker gets (see :func:`worker_main`).
    """

    def __init__(self, tmp_path: Path, base: Dict[str, Any]) -> None:
        self.dir = tmp_path / "workers"
        self.dir.mkdir(exist_ok=True)
        self.start_file = self.dir / "start"
        self.base = base
        self.started: List[subprocess.Popen[str]] = []
        self._ready: Dict[int, Path] = {}  # pid -> the file the worker creates when ready
        self._watching: Dict[int, Path] = {}  # pid -> the file it creates when it watches the entry

    def start(self, count: int, **overrides: Any) -> List[subprocess.Popen[str]]:
        """Start *count* workers; with ``start_file=True`` they wait for :meth:`go`."""
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        procs = []
        for _ in range(count):
            number = len(self.started)
            spec = dict(self.base, **overrides)
            spec["ready_file"] = str(self.dir / f"ready-{number}")
            spec["watch_file"] = str(self.dir / f"watching-{number}")
            spec["start_file"] = str(self.start_file) if spec.get("start_file") else None
            proc = subprocess.Popen(
                [sys.executable, __file__, json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            self._ready[proc.pid] = Path(spec["ready_file"])
            self._watching[proc.pid] = Path(spec["watch_file"])
            self.started.append(proc)
            procs.append(proc)
        return procs

    def wait_ready(self, procs: List[subprocess.Popen[str]]) -> None:
        """Wait until each of *procs* has built its auth (bounded)."""
        self._wait_for(procs, self._ready, "ready")

    def all_watching(self, procs: List[subprocess.Popen[str]]) -> bool:
        """Whether each of *procs* (with a counting cache) found the lock taken and
        looked at a token in the entry instead."""
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"worker {proc.pid} exited early: {out} {err}")
        return all(self._watching[proc.pid].exists() for proc in procs)

    def _wait_for(self, procs: List[subprocess.Popen[str]], files: Dict[int, Path], what: str) -> None:
        deadline = time.monotonic() + WAIT
        for proc in procs:
            while not files[proc.pid].exists():
                if proc.poll() is not None:
                    out, err = proc.communicate()
                    raise AssertionError(f"worker {proc.pid} exited early: {out} {err}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"worker {proc.pid} not {what} within {WAIT} s")
                time.sleep(0.01)

    def go(self) -> None:
        """Let every worker waiting for the start file begin."""
        self.start_file.touch()

    def collect(self, procs: List[subprocess.Popen[str]]) -> List[WorkerResult]:
        """Each worker's tokens and errors, once it has exited (bounded)."""
        deadline = time.monotonic() + 2 * WAIT
        results = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                raise AssertionError(f"worker {proc.pid} did not finish in time; stderr:\n{err}") from None
            assert proc.returncode == 0, f"worker {proc.pid} failed ({proc.returncode}):\n{err}"
            report = json.loads(out.strip().splitlines()[-1])
            results.append(WorkerResult(proc.pid, report["tokens"], report["errors"], err, report["held"]))
        return results

    def kill(self, proc: subprocess.Popen[str]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=WAIT)

    def stop_all(self) -> None:
        """Kill what is still running of the workers we started."""
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=WAIT)


def make_auth(
    server: LocalServer, cache: TokenCache, *, client_id: str = "client-a", clock: Clock = time.time
) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        client_id,
        CLIENT_SECRET,
        server.url + "/token",
        cache=cache,
        session=server.session(),
        retry=RetryPolicy(attempts=1),
        clock=clock,
    )


def warnings_in(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- the worker program ----------------------------------------------------------------


def counting(base: Type[Any], watch_file: str) -> Type[Any]:
    """*base* (a shared cache class) that counts the times this process held the
    lock in ``lock_or_wait``, and creates *watch_file* when it first looks at the
    entry while another process holds the lock."""

    class Counting(base):  # type: ignore[misc, valid-type]
        held = 0

        @contextmanager
        def lock_or_wait(self, key: str, accept: Callable[[Token], bool]) -> Iterator[Optional[Token]]:
            def watching(token: Token) -> bool:
                Path(watch_file).touch()
                return accept(token)

            with super().lock_or_wait(key, watching) as found:
                if found is None:
                    Counting.held += 1
                yield found

    return Counting


def build_cache(spec: Dict[str, Any], watch_file: str = "") -> TokenCache:
    kind = spec["kind"]
    cls: Type[Any]
    if kind == "file":
        cls = counting(FileTokenCache, watch_file) if spec.get("count") else FileTokenCache
        return cls(spec["path"], lock_timeout=spec.get("lock_timeout", 20.0))  # type: ignore[no-any-return]
    if kind == "redis":
        cls = counting(RedisTokenCache, watch_file) if spec.get("count") else RedisTokenCache
        options = {
            "lock_ttl": spec.get("lock_ttl", 15.0),
            "lock_timeout": spec.get("lock_timeout", 20.0),
            "reconnect_after": spec.get("reconnect_after", 2.0),
        }
        return cls(redis_client(spec), **options)  # type: ignore[no-any-return]
    return MemoryTokenCache()


def redis_client(spec: Dict[str, Any]) -> Any:
    """A URL, or a Redis Cluster or Sentinel client made from the spec's nodes."""
    if spec.get("cluster"):
        from redis.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode("127.0.0.1", port) for port in spec["cluster"]]
        return RedisCluster(startup_nodes=nodes, socket_timeout=1, socket_connect_timeout=1)
    if spec.get("sentinels"):
        from redis.sentinel import Sentinel

        sentinel = Sentinel(
            [("127.0.0.1", port) for port in spec["sentinels"]], socket_timeout=0.5, socket_connect_timeout=0.5
        )
        return sentinel.master_for(spec["service"], socket_timeout=0.5, socket_connect_timeout=0.5)
    return spec["url"]


def worker_main(spec: Dict[str, Any]) -> None:
    """Build one auth on the spec's cache, wait for the start file, then have
    ``threads`` threads ask for a token at once; print what each got as JSON.

    The spec: ``token_url``, ``ca`` (the CA bundle of the endpoint), ``client_id``,
    ``cache`` (``{"kind": "file"|"redis"|"memory", ...}``), ``threads``,
    ``clock_offset`` (seconds added to the clock: a worker "in the future" finds
    the cached token expired), ``ready_file``, ``start_file`` (or null).
    """
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    session = requests.Session()
    session.trust_env = False  # no proxy or CA bundle from this machine's environment
    session.verify = spec["ca"]
    offset = float(spec.get("clock_offset", 0.0))
    cache = build_cache(spec["cache"], spec.get("watch_file", ""))
    auth = ClientCredentialsAuth(
        spec["client_id"],
        CLIENT_SECRET,
        spec["token_url"],
        cache=cache,
        session=session,
        retry=RetryPolicy(attempts=1),  # every token call counts once at the endpoint
        clock=lambda: time.time() + offset,
    )
    Path(spec["ready_file"]).touch()
    if spec.get("start_file"):
        deadline = time.monotonic() + WAIT
        while not os.path.exists(spec["start_file"]):
            if time.monotonic() > deadline:
                sys.exit("no start signal")
            time.sleep(0.002)
    if spec.get("loop"):
        tokens, errors = ask_in_a_loop(auth, session, spec)
        held = getattr(type(cache), "held", 0)
        print(json.dumps({"pid": os.getpid(), "tokens": tokens, "errors": errors, "held": held}), flush=True)
        return
    count = int(spec.get("threads", 1))
    barrier = threading.Barrier(count, timeout=WAIT)
    tokens: List[Optional[str]] = [None] * count
    errors: List[str] = []

    def ask(number: int) -> None:
        try:
            barrier.wait()
            tokens[number] = auth.get_token().access_token
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * WAIT)
    held = getattr(type(cache), "held", 0)
    print(json.dumps({"pid": os.getpid(), "tokens": tokens, "errors": errors, "held": held}), flush=True)


def ask_in_a_loop(
    auth: ClientCredentialsAuth, session: requests.Session, spec: Dict[str, Any]
) -> Tuple[List[Optional[str]], List[str]]:
    """For ``loop`` seconds, every ``every`` seconds: get a token (``api`` unset) or
    call the API at ``api`` with the auth. Returns the distinct tokens got, in
    order, and an error (type and message) per failed try."""
    tokens: List[Optional[str]] = []
    errors: List[str] = []
    end = time.monotonic() + float(spec["loop"])
    while time.monotonic() < end:
        try:
            if spec.get("api"):
                response = session.get(spec["api"], auth=auth, timeout=5)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}")
            token = auth.get_token().access_token  # the one just used: held in memory, no I/O
            if not tokens or tokens[-1] != token:
                tokens.append(token)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(float(spec.get("every", 0.02)))
    return tokens, errors


if __name__ == "__main__":
    worker_main(json.loads(sys.argv[1]))


# -- fixtures of the file and Redis cache tests (registered through conftest's pytest_plugins) --


@pytest.fixture
def stub() -> TokenEndpointStub:
    # Each token call takes a moment, so that processes asking together overlap.
    return TokenEndpointStub(delay=0.3)


@pytest.fixture
def server(serve: Callable[..., LocalServer], stub: TokenEndpointStub) -> LocalServer:
    return serve(stub)


# -- scenarios the file and Redis cache tests share ----------------------------------------------


def waiters_while_one_fetches(
    workers: Workers, stub: TokenEndpointStub, cache: TokenCache, key: str, *, waiting: int, later: float
) -> Tuple[WorkerResult, List[WorkerResult]]:
    """One worker fetches a token (its call held at the endpoint) while *waiting*
    workers of 4 threads need one too; only once every waiter is watching the
    entry (*key* of *cache*) does the fetch end. Counting caches: each result's ``held`` says how
    often that process held the shared lock. The workers live *later* seconds
    in the future; the token cached before (call 1) has expired for them."""
    stub.hold = 2
    counted = dict(workers.base["cache"], count=True)
    holder = workers.start(1, threads=1, clock_offset=later, cache=counted)[0]
    assert stub.entered.wait(WAIT), "the first worker never called the token endpoint"
    procs = workers.start(waiting, threads=4, start_file=True, clock_offset=later, cache=counted)
    workers.wait_ready(procs)
    workers.go()
    # A waiter reads the entry when it changes: rewrite it (with another token expired
    # for them) until each has looked at it, having found the lock taken.
    deadline = time.monotonic() + WAIT
    while not workers.all_watching(procs):
        assert time.monotonic() < deadline, "the waiters did not watch the entry"
        cache.set(key, Token("tok-expired-for-them", expires_at=time.time() + 3600))
        time.sleep(0.05)
    stub.release.set()
    [held] = workers.collect([holder])
    return held, workers.collect(procs)


def fleet_while_refused(workers: Workers, stub: TokenEndpointStub, *, processes: int) -> List[WorkerResult]:
    """*processes* workers ask for a token every 20 ms for 4.5 s while the endpoint
    refuses the credentials for the first 2.5 s."""
    procs = workers.start(processes, threads=1, start_file=True, loop=4.5, every=0.02)
    workers.wait_ready(procs)
    stub.refuse_until = time.time() + 2.5
    workers.go()
    return workers.collect(procs)


def check_one_call_per_hold(stub: TokenEndpointStub, results: List[WorkerResult]) -> None:
    """What :func:`fleet_while_refused` must show with a failure shared by the fleet:
    refused at 0 s (held 1 s) and 1 s (held 2 s), answered at 3 s: three calls in
    all, none during a hold, and every process raising the same error meanwhile."""
    assert len(stub.calls) == 3, f"token calls at {[round(t - stub.times[0], 2) for t in stub.times]} s"
    first, second, third = stub.times
    assert second - first > 0.9  # nobody called during the first hold (1 s) ...
    assert third - second > 1.9  # ... nor during the second (2 s)
    assert [r.tokens for r in results] == [["tok-3"]] * len(results)
    assert all(r.errors for r in results)  # every process saw the refusal, most without a call
    [error] = {e for r in results for e in r.errors}
    assert error.startswith("InvalidClientError: the token endpoint")
    assert "invalid_client" in error
