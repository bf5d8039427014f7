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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import pytest
import requests

from requests_multiauth import (
    ClientCredentialsAuth,
    FileTokenCache,
    MemoryTokenCache,
    RedisTokenCache,
    RetryPolicy,
    TokenCache,
)
from requests_multiauth.renewal import Clock
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
        lifetime: the ``expires_in`` of the tokens issued.
        delay: seconds each token call takes (so that concurrent callers overlap).
        hold_first: keep the first token call waiting until :attr:`release` is set.
    """

    lifetime: Optional[float] = 3600
    delay: float = 0.0
    hold_first: bool = False
    calls: List[str] = field(default_factory=list)
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
            number = len(self.calls)
        if number == 1 and self.hold_first:
            self.entered.set()
            self.release.wait(WAIT)
        if self.delay:
            time.sleep(self.delay)
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

    def start(self, count: int, **overrides: Any) -> List[subprocess.Popen[str]]:
        """Start *count* workers; with ``start_file=True`` they wait for :meth:`go`."""
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        procs = []
        for _ in range(count):
            number = len(self.started)
            spec = dict(self.base, **overrides)
            spec["ready_file"] = str(self.dir / f"ready-{number}")
            spec["start_file"] = str(self.start_file) if spec.get("start_file") else None
            proc = subprocess.Popen(
                [sys.executable, __file__, json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            self._ready[proc.pid] = Path(spec["ready_file"])
            self.started.append(proc)
            procs.append(proc)
        return procs

    def wait_ready(self, procs: List[subprocess.Popen[str]]) -> None:
        """Wait until each of *procs* has built its auth (bounded)."""
        deadline = time.monotonic() + WAIT
        for proc in procs:
            while not self._ready[proc.pid].exists():
                if proc.poll() is not None:
                    raise AssertionError(f"worker {proc.pid} exited early: {proc.communicate()[1]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"worker {proc.pid} not ready within {WAIT} s")
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
            results.append(WorkerResult(proc.pid, report["tokens"], report["errors"], err))
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


def build_cache(spec: Dict[str, Any]) -> TokenCache:
    kind = spec["kind"]
    if kind == "file":
        return FileTokenCache(spec["path"], lock_timeout=spec.get("lock_timeout", 20.0))
    if kind == "redis":
        return RedisTokenCache(
            spec["url"], lock_ttl=spec.get("lock_ttl", 15.0), lock_timeout=spec.get("lock_timeout", 20.0)
        )
    return MemoryTokenCache()


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
    auth = ClientCredentialsAuth(
        spec["client_id"],
        CLIENT_SECRET,
        spec["token_url"],
        cache=build_cache(spec["cache"]),
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
    print(json.dumps({"pid": os.getpid(), "tokens": tokens, "errors": errors}), flush=True)


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
