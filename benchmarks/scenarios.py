"""What the benchmarks measure, one function per scenario and round.

Every scenario takes a running :class:`~benchmarks.provider.ProviderProcess` and
contender classes, builds fresh clients, warms them (a token and open
connections), resets the provider's counters, and then measures. Token calls are
counted by the provider, so every library is counted the same way. Every loop is
bounded in count and in time; threads that outlive their bound fail the run.

* :func:`overhead`: one thread, libraries interleaved request by request.
* :func:`single_flight`: many threads start together once the token has expired.
* :func:`stall`: threads call continuously through several renewals while the token
  endpoint is slow.
* :func:`storm`: the server revokes the token while many threads call.
* :func:`memory`: many requests through one auth, with a stub transport.
* :func:`import_cost`: ``import`` times in fresh interpreters.
"""

from __future__ import annotations

import array
import gc
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple, Type

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from .contenders import Contender, Endpoint, MultiAuth, build
from .provider import ROOT, ProviderProcess

__all__ = [
    "IMPORTS",
    "MEMORY_CHECKPOINTS",
    "MEMORY_KINDS",
    "SLOW",
    "Call",
    "Checkpoint",
    "FlightResult",
    "ImportResult",
    "MemoryResult",
    "OverheadResult",
    "ScenarioError",
    "StallResult",
    "StormResult",
    "StubAdapter",
    "import_cost",
    "median",
    "memory",
    "overhead",
    "single_flight",
    "stall",
    "storm",
]

#: A request slower than this waited for something: the goal is that none waits
#: for a token renewal.
SLOW = 0.2

#: After a token's stated expiry, wait this much more before calling it expired for
#: every library: oauthlib rounds its expiry time to the whole second.
EXPIRY_MARGIN = 0.6

#: Lifetime of tokens where no renewal should happen (overhead, storm, memory).
LONG_LIFETIME = 3600

#: Requests each client makes before measuring: a token, open connections, warm caches.
WARMUP_REQUESTS = 50

#: Upper bounds that keep every loop finite whatever the machine does.
MAX_SCENARIO_SECONDS = 180.0
MAX_REQUESTS_PER_THREAD = 200_000

#: The storm revokes every token on this API request after the threads start
#: (or a quarter of the way, in a smaller run): the threads are then mid-way.
STORM_REVOKE_AT = 64

#: Memory checkpoints: the first after this many requests (warm caches, connection
#: and interned strings in place), then ten more evenly spaced.
MEMORY_WARMUP = 1000
MEMORY_CHECKPOINTS = 10


class ScenarioError(RuntimeError):
    """A scenario could not measure what it is meant to (the numbers would mislead)."""


@dataclass(frozen=True)
class Call:
    """One API request as its client saw it."""

    started: float  # epoch seconds, comparable with the provider's clock
    duration: float  # seconds
    ok: bool  # the final answer was a 200


def timed_get(contender: Contender) -> Call:
    """One request through *contender*, timed; an exception is a failed request."""
    started = time.time()
    begin = time.perf_counter()
    try:
        ok = contender.get().status_code == 200
    except Exception:
        ok = False
    return Call(started, time.perf_counter() - begin, ok)


def run_threads(count: int, work: Callable[[int], None], *, timeout: float) -> None:
    """Run ``work(i)`` on *count* threads released together; raise if one fails or is late."""
    barrier = threading.Barrier(count)
    failures: List[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout)
            work(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(i,), name=f"bench-{i}", daemon=True) for i in range(count)]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = sum(thread.is_alive() for thread in threads)
    if late:
        raise ScenarioError(f"{late} of {count} threads were still running after {timeout:.0f} s")
    if failures:
        raise ScenarioError(f"a benchmark thread failed: {failures[0]!r}") from failures[0]


def concurrent_calls(contender: Contender, threads: int, per_thread: int, *, timeout: float) -> List[Call]:
    """*threads* threads released together, each making *per_thread* requests."""
    calls: List[List[Call]] = [[] for _ in range(threads)]

    def work(index: int) -> None:
        for _ in range(per_thread):
            calls[index].append(timed_get(contender))

    run_threads(threads, work, timeout=timeout)
    return [call for mine in calls for call in mine]


def warm(contender: Contender, *, threads: int = 1, requests_each: int = 1) -> None:
    """Get a token with one request, then open *threads* connections; all must succeed."""
    first = timed_get(contender)
    calls = concurrent_calls(contender, threads, requests_each, timeout=MAX_SCENARIO_SECONDS)
    if not first.ok or not all(call.ok for call in calls):
        raise ScenarioError(f"{contender.name}: warm-up requests failed; is the provider answering?")


def endpoint_of(provider: ProviderProcess) -> Endpoint:
    return Endpoint(provider.token_url, provider.api_url, provider.verify, provider.client_id, provider.client_secret)


def rotated(items: Sequence[Contender], shift: int) -> List[Contender]:
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


# -- overhead ------------------------------------------------------------------------------------


@dataclass
class OverheadResult:
    """Per library: every request's duration in one round, and failures."""

    durations: Dict[str, List[float]] = field(default_factory=dict)
    cpu: Dict[str, List[float]] = field(default_factory=dict)  # the calling thread's CPU time per request
    failed: Dict[str, int] = field(default_factory=dict)
    token_calls: int = 0  # during the measurement: should be 0 with a valid token


def overhead(
    provider: ProviderProcess, kinds: Sequence[Type[Contender]], *, requests_each: int, shift: int = 0
) -> OverheadResult:
    """Cost per request with a valid token, every library on the same connection type,
    interleaved request by request (the order rotates) so that machine drift cancels.
    Both the wall-clock time and the calling thread's CPU time are kept: the CPU time
    does not count the time another process held the CPU, so it varies less on a
    busy machine."""
    provider.configure(latency=0.0, lifetime=LONG_LIFETIME, reset=True)
    endpoint = endpoint_of(provider)
    contenders = [build(kind, endpoint, lifetime=LONG_LIFETIME) for kind in kinds]
    try:
        for contender in contenders:
            warm(contender, requests_each=WARMUP_REQUESTS)
        provider.configure(reset=True)
        names = [c.name for c in contenders]
        result = OverheadResult({n: [] for n in names}, {n: [] for n in names}, dict.fromkeys(names, 0))
        deadline = time.monotonic() + MAX_SCENARIO_SECONDS
        for i in range(requests_each):
            if time.monotonic() > deadline:
                break
            for contender in rotated(contenders, shift + i):
                cpu = time.thread_time()
                call = timed_get(contender)
                result.cpu[contender.name].append(time.thread_time() - cpu)
                result.durations[contender.name].append(call.duration)
                result.failed[contender.name] += not call.ok
        result.token_calls = len(provider.stats().token_calls)
        return result
    finally:
        for contender in contenders:
            contender.close()


# -- single flight ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlightResult:
    token_calls: int
    failed: int
    requests: int


def single_flight(
    provider: ProviderProcess,
    kinds: Sequence[Type[Contender]],
    *,
    threads: int,
    latency: float,
    lifetime: int,
    shift: int = 0,
) -> Dict[str, FlightResult]:
    """*threads* threads start together right after the token expired: token calls.

    All clients get their token at about the same time, so one wait serves them
    all; then each library's threads run in turn (nothing renews while idle)."""
    provider.configure(latency=latency, lifetime=lifetime, reset=True)
    endpoint = endpoint_of(provider)
    contenders = [build(kind, endpoint, lifetime=lifetime) for kind in kinds if kind.renews]
    results: Dict[str, FlightResult] = {}
    try:
        for contender in contenders:
            warm(contender)
        issued = max(answered for _, answered in provider.stats().token_calls)
        time.sleep(max(0.0, issued + lifetime + EXPIRY_MARGIN - time.time()))
        for contender in rotated(contenders, shift):
            provider.configure(reset=True)
            calls = concurrent_calls(contender, threads, 1, timeout=MAX_SCENARIO_SECONDS)
            stats = provider.stats()
            results[contender.name] = FlightResult(len(stats.token_calls), sum(not c.ok for c in calls), len(calls))
        return results
    finally:
        for contender in contenders:
            contender.close()


# -- stall -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StallResult:
    """Every request of the window, and the token calls made during it."""

    window_start: float
    calls: List[Call]
    token_calls: List[Tuple[float, float]]  # (received, answered) by the provider, epoch seconds

    @property
    def failed(self) -> int:
        return sum(not call.ok for call in self.calls)

    def percentile(self, share: float) -> float:
        durations = sorted(call.duration for call in self.calls)
        if not durations:
            return float("nan")
        return durations[min(len(durations) - 1, int(share * len(durations)))]

    @property
    def slow(self) -> List[Call]:
        return [call for call in self.calls if call.duration > SLOW]

    @property
    def stalled(self) -> List[Call]:
        """Slow requests that waited for a token call: under way while it was, and
        finished only after its answer (a request that waits for a token cannot end
        before the token arrives; one slowed by something else may)."""
        return [
            call
            for call in self.slow
            if any(call.started < answered <= call.started + call.duration for _, answered in self.token_calls)
        ]


def stall(
    provider: ProviderProcess,
    kind: Type[Contender],
    *,
    threads: int,
    duration: float,
    latency: float,
    lifetime: int,
) -> StallResult:
    """*threads* threads call without pause for *duration* seconds while tokens of
    *lifetime* seconds expire and the token endpoint takes *latency* seconds."""
    provider.configure(latency=latency, lifetime=lifetime, reset=True)
    contender = build(kind, endpoint_of(provider), lifetime=lifetime)
    try:
        warm(contender, threads=threads)
        provider.configure(reset=True)
        start = time.time()
        deadline = time.monotonic() + duration
        calls: List[List[Call]] = [[] for _ in range(threads)]

        def work(index: int) -> None:
            mine = calls[index]
            while time.monotonic() < deadline and len(mine) < MAX_REQUESTS_PER_THREAD:
                mine.append(timed_get(contender))

        run_threads(threads, work, timeout=duration + MAX_SCENARIO_SECONDS)
        stats = provider.stats()
        return StallResult(
            start, sorted((c for mine in calls for c in mine), key=lambda c: c.started), stats.token_calls
        )
    finally:
        contender.close()


# -- 401 storm ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StormResult:
    token_calls: int
    failed: int
    requests: int


def storm(
    provider: ProviderProcess, kind: Type[Contender], *, threads: int, requests_each: int, latency: float
) -> StormResult:
    """*threads* threads make *requests_each* requests each; the server revokes every
    token at the STORM_REVOKE_AT-th of them. Token calls and failed requests."""
    provider.configure(latency=latency, lifetime=LONG_LIFETIME, reset=True)
    contender = build(kind, endpoint_of(provider), lifetime=LONG_LIFETIME)
    try:
        warm(contender, threads=threads)
        revoke_at = min(STORM_REVOKE_AT, max(1, threads * requests_each // 4))
        provider.configure(reset=True, revoke_after=revoke_at)
        calls = concurrent_calls(contender, threads, requests_each, timeout=MAX_SCENARIO_SECONDS)
        stats = provider.stats()
        if stats.revoked_at is None:
            raise ScenarioError("the provider never revoked the token: too few requests for a storm")
        return StormResult(len(stats.token_calls), sum(not c.ok for c in calls), len(calls))
    finally:
        contender.close()


# -- memory ------------------------------------------------------------------------------------------


class StubAdapter(HTTPAdapter):
    """Answers every request with a 200 and a small JSON body, without any network:
    what is left to measure is requests' own path and the auth's."""

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: object = True,
        cert: object = None,
        proxies: object = None,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response._content = b'{"items":[]}'
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response


@dataclass(frozen=True)
class Checkpoint:
    requests: int
    blocks: int  # memory blocks Python holds after a collection (sys.getallocatedblocks)
    rss: int  # resident set size, bytes (0 if unknown)


@dataclass(frozen=True)
class MemoryResult:
    """Checkpoints over the whole run, and a traced stretch at its end."""

    library: str
    checkpoints: List[Checkpoint]
    traced_requests: int  # requests made while tracemalloc traced
    traced_growth: int  # bytes held after them minus before (harness allocations left out)
    package_growth: int  # of which allocated by code in requests_multiauth/
    failed: int
    seconds: float

    @property
    def requests(self) -> int:
        return self.checkpoints[-1].requests if self.checkpoints else 0

    @property
    def span(self) -> int:
        """Requests between the first checkpoint and the last."""
        return self.checkpoints[-1].requests - self.checkpoints[0].requests

    @property
    def block_growth(self) -> int:
        return self.checkpoints[-1].blocks - self.checkpoints[0].blocks

    @property
    def rss_growth(self) -> int:
        return self.checkpoints[-1].rss - self.checkpoints[0].rss


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:  # binary: a text file keeps a block per open
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Checkpoints:
    """Checkpoint figures kept in preallocated C arrays, so that taking one holds no
    new Python object (which would count as growth)."""

    def __init__(self, count: int) -> None:
        self.taken = 0
        self._requests = array.array("q", [0] * count)
        self._blocks = array.array("q", [0] * count)
        self._rss = array.array("q", [0] * count)

    def take(self, done: int) -> None:
        gc.collect()
        index = self.taken
        self._requests[index] = done
        self._blocks[index] = sys.getallocatedblocks()
        self._rss[index] = _rss()
        self.taken += 1

    def result(self) -> List[Checkpoint]:
        return [Checkpoint(self._requests[i], self._blocks[i], self._rss[i]) for i in range(self.taken)]


#: Allocations the measurement makes itself (snapshots, the loop's bookkeeping):
#: not what the requests leave behind.
_HARNESS = (tracemalloc.__file__, __file__)


def _snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot()


def _held(snapshot: tracemalloc.Snapshot) -> Tuple[int, int]:
    """Bytes held by the allocations in *snapshot*, in all and by requests_multiauth code.
    (Filtering compiles and caches patterns: done only once both snapshots exist.)"""
    kept = snapshot.filter_traces([tracemalloc.Filter(False, path) for path in _HARNESS])
    ours = kept.filter_traces([tracemalloc.Filter(True, os.path.join("*", "requests_multiauth", "*"))])
    return (
        sum(stat.size for stat in kept.statistics("filename")),
        sum(stat.size for stat in ours.statistics("filename")),
    )


def memory(provider: ProviderProcess, kind: Type[Contender], *, total: int) -> MemoryResult:
    """*total* requests through one client whose API prefix is served by a
    :class:`StubAdapter` (the token comes from the real provider).

    At evenly spaced checkpoints, after a garbage collection: the number of memory
    blocks Python holds (anything kept per request, a hook or a response in a
    history, adds at least one block per request) and the RSS. Then a stretch of a
    tenth of *total* requests traced by tracemalloc gives the bytes held, and how
    many of them requests_multiauth's code allocated. (Tracing the whole run would
    make each request several times slower.)"""
    provider.configure(latency=0.0, lifetime=LONG_LIFETIME, reset=True)
    contender = build(kind, endpoint_of(provider), lifetime=LONG_LIFETIME)
    session: requests.Session = contender.session  # type: ignore[attr-defined]
    session.mount(provider.api_url, StubAdapter())
    warmup = min(MEMORY_WARMUP, max(1, total // 10))
    step = max(1, (total - warmup) // MEMORY_CHECKPOINTS)
    traced = max(1, total // 10)
    failed = 0
    began = time.monotonic()
    deadline = began + MAX_SCENARIO_SECONDS
    try:
        for _ in range(warmup):
            failed += not timed_get(contender).ok
        checkpoints = _Checkpoints(MEMORY_CHECKPOINTS + 2)
        checkpoints.take(warmup)
        done = warmup
        while done < total and time.monotonic() < deadline and checkpoints.taken < MEMORY_CHECKPOINTS + 2:
            batch = min(step, total - done)
            for _ in range(batch):
                failed += not timed_get(contender).ok
            done += batch
            checkpoints.take(done)
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            first = _snapshot()
            for _ in range(traced):
                failed += not timed_get(contender).ok
            last = _snapshot()
        finally:
            if not was_tracing:
                tracemalloc.stop()
        before, after = _held(first), _held(last)
        return MemoryResult(
            contender.name,
            checkpoints.result(),
            traced,
            after[0] - before[0],
            after[1] - before[1],
            failed,
            time.monotonic() - began,
        )
    finally:
        contender.close()


#: Which libraries the memory scenario runs.
MEMORY_KINDS: Tuple[Type[Contender], ...] = (MultiAuth,)


# -- import cost ------------------------------------------------------------------------------------


#: What each import measures: the module its users import.
IMPORTS: Dict[str, str] = {
    "requests": "requests",
    "requests_multiauth": "requests_multiauth",
    "requests-oauthlib": "requests_oauthlib",
    "Authlib": "authlib.integrations.requests_client",
    "requests-auth": "requests_auth",
}

_MARK = "-- benchmark import starts here --"


@dataclass(frozen=True)
class ImportResult:
    """Per module: the cumulative import time of each run, in seconds."""

    seconds: Dict[str, List[float]]


def _import_seconds(module: str) -> float:
    """Seconds spent importing *module* in a fresh interpreter (``-X importtime``,
    summed over the imports the statement triggers, interpreter start-up excluded)."""
    code = f"import os; os.write(2, {(_MARK + chr(10)).encode()!r}); import {module}"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
        check=True,
    )
    _, _, after = done.stderr.partition(_MARK)
    total_us = 0
    for line in after.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) != 3 or fields[2].startswith("  "):  # nested: counted in its parent
            continue
        try:
            total_us += int(fields[1])
        except ValueError:  # the header line
            continue
    if total_us == 0:
        raise ScenarioError(f"no import time reported for {module}")
    return total_us / 1e6


def import_cost(names: Sequence[str], *, runs: int) -> ImportResult:
    """Each module imported in *runs* fresh interpreters, modules interleaved run by run
    (after one unmeasured run each, which writes the bytecode caches, unless *runs* is 1)."""
    modules = {name: IMPORTS[name] for name in names}
    if runs > 1:
        for module in modules.values():
            _import_seconds(module)
    seconds: Dict[str, List[float]] = {name: [] for name in modules}
    order = list(modules)
    for run in range(runs):
        shift = run % len(order)
        for name in order[shift:] + order[:shift]:
            seconds[name].append(_import_seconds(modules[name]))
    return ImportResult(seconds)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
