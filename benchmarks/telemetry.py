"""Telemetry's cost per request with a valid token: OpenTelemetry with an SDK installed vs not installed.

::

    python -m benchmarks.telemetry [--rounds 9] [--requests 2000] [--block 20]

A request that carries a valid token records nothing (no metric, no event, no lock), so
the two should cost the same. Two client processes measure it side by side, because
OpenTelemetry cannot be uninstalled from a running interpreter:

* **not installed**: ``import opentelemetry`` fails in it (a ``sys.meta_path`` finder
  refuses it), as on a machine without the ``otel`` extra;
* **SDK installed**: the SDK's meter and tracer providers are set (an in-memory reader
  and span exporter) and a callback is subscribed to the auth's events, as in a
  monitored service.

Each makes requests through a ``CognitoAuth`` on a session (the main benchmark's
``requests_multiauth`` client) to the benchmarks' provider process
(:mod:`benchmarks.provider`: HTTPS on loopback). After a warm-up (the token call, which
the SDK client records), the parent has them take turns, a block of requests at a time,
the first of each turn alternating, so that a machine that slows down weighs on both.
Per round: the median wall-clock and CPU (the calling thread's) time per request of
each, and their ratio; the result is the median of the rounds' ratios. Token calls and
telemetry events during the measurement must both be 0.

The run writes ``RESULTS-telemetry.md`` (``--output``, default ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence

from .provider import CA_OVERRIDES, ROOT, ProviderProcess
from .report import _cpu_model

__all__ = ["GOAL", "main"]

#: The goal: with the SDK installed, a valid-token request costs at most this many times
#: what it costs without OpenTelemetry.
GOAL = 1.01

NOT_INSTALLED, SDK_INSTALLED, CONTROL = "not installed", "SDK installed", "not installed, a second process"
#: The clients, and what each installs. The control is a second "not installed" process:
#: its ratio to the first shows how much two identical processes differ on this machine.
VARIANTS = {NOT_INSTALLED: "none", SDK_INSTALLED: "sdk", CONTROL: "none"}

#: Tokens live an hour: no renewal during the measurement.
LIFETIME = 3600

#: Requests each client makes before measuring (the token call, pooled connections, caches).
WARMUP_REQUESTS = 200

#: How long a client may take to answer one command before the run fails.
COMMAND_TIMEOUT = 120.0

#: How long the whole measurement may take.
MAX_SECONDS = 1800.0

REQUEST_TIMEOUT = 10.0

#: Run first in the "not installed" client: opentelemetry cannot be imported.
BLOCK_OPENTELEMETRY = """
class _NoOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
"""


# -- the client processes -----------------------------------------------------------------------------


def _client(variant: str, stdin: IO[str], stdout: IO[str]) -> None:
    """A client process: read the endpoint, warm up, then run blocks of requests on command."""
    if variant == "none":
        namespace: Dict[str, Any] = {}
        exec(BLOCK_OPENTELEMETRY, namespace)  # noqa: S102 - our own constant
        sys.meta_path.insert(0, namespace["_NoOpenTelemetry"]())
    config = json.loads(stdin.readline())

    import requests
    from requests.adapters import HTTPAdapter

    from requests_multiauth import CognitoAuth

    reader = None
    if variant == "sdk":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(tracer_provider)

    def session() -> requests.Session:
        made = requests.Session()
        made.verify, made.trust_env = config["verify"], False
        made.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=64))
        return made

    auth = CognitoAuth(config["client_id"], config["client_secret"], config["token_url"], session=session())
    events: List[object] = []
    auth.telemetry.subscribe(events.append)
    api = session()
    api.auth = auth
    url = config["api_url"]
    for _ in range(WARMUP_REQUESTS):
        api.get(url, timeout=REQUEST_TIMEOUT).raise_for_status()
    recorded = 0
    if reader is not None:  # the warm-up's token call reached the SDK: telemetry is live
        data = reader.get_metrics_data()
        metric_list = [m for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics]
        recorded = sum(len(m.data.data_points) for m in metric_list)
    ready = {
        "opentelemetry_loaded": any(name.startswith("opentelemetry") for name in sys.modules),
        "sdk_points_after_warmup": recorded,
        "events_after_warmup": len(events),
    }
    stdout.write(json.dumps(ready) + "\n")
    stdout.flush()
    warm_events = len(events)
    for line in stdin:
        count = int(line)
        wall, cpu, failed = [], [], 0
        for _ in range(count):
            cpu_start = time.thread_time()
            start = time.perf_counter()
            status = api.get(url, timeout=REQUEST_TIMEOUT).status_code
            wall.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - cpu_start)
            failed += status != 200
        answer = {"wall": wall, "cpu": cpu, "failed": failed, "events": len(events) - warm_events}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


class Client:
    """The parent's handle on one client process."""

    def __init__(self, name: str, provider: ProviderProcess) -> None:
        env = {key: value for key, value in os.environ.items() if key not in CA_OVERRIDES}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.name = name
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.telemetry", "--client", VARIANTS[name]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        config = {
            "token_url": provider.token_url,
            "api_url": provider.api_url,
            "verify": provider.verify,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,  # on a pipe, never in argv
        }
        self.ready = self._ask(json.dumps(config))

    def _ask(self, line: str) -> Dict[str, Any]:
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()
        deadline = time.monotonic() + COMMAND_TIMEOUT
        answer = process.stdout.readline()
        if not answer or time.monotonic() > deadline:
            raise RuntimeError(f"the {self.name} client stopped answering (exit status {process.poll()})")
        result: Dict[str, Any] = json.loads(answer)
        return result

    def run(self, count: int) -> Dict[str, Any]:
        return self._ask(str(count))

    def stop(self) -> None:
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# -- the parent ---------------------------------------------------------------------------------------


@dataclass
class Round:
    wall: Dict[str, List[float]] = field(default_factory=dict)
    cpu: Dict[str, List[float]] = field(default_factory=dict)
    failed: Dict[str, int] = field(default_factory=dict)
    events: Dict[str, int] = field(default_factory=dict)

    def ratio(self, cpu: bool = False, of: str = SDK_INSTALLED) -> float:
        times = self.cpu if cpu else self.wall
        return statistics.median(times[of]) / statistics.median(times[NOT_INSTALLED])


@dataclass
class Run:
    rounds: List[Round]
    ready: Dict[str, Dict[str, Any]]
    token_calls: int
    seconds: float
    load: Sequence[float]


def measure(*, rounds: int, requests_each: int, block: int) -> Run:
    started = time.monotonic()
    load_start = os.getloadavg()
    with ProviderProcess(lifetime=LIFETIME) as provider:
        clients = [Client(name, provider) for name in VARIANTS]
        try:
            provider.configure(reset=True)  # the warm-up's token calls are not measured
            results = []
            for number in range(rounds):
                one = Round({c.name: [] for c in clients}, {c.name: [] for c in clients})
                one.failed = dict.fromkeys(one.wall, 0)
                one.events = dict.fromkeys(one.wall, 0)
                for turn in range(max(1, requests_each // block)):
                    if time.monotonic() - started > MAX_SECONDS:
                        raise RuntimeError(f"the measurement took more than {MAX_SECONDS:.0f} s")
                    shift = (number + turn) % len(clients)
                    order = clients[shift:] + clients[:shift]
                    for client in order:
                        answer = client.run(block)
                        one.wall[client.name] += answer["wall"]
                        one.cpu[client.name] += answer["cpu"]
                        one.failed[client.name] += answer["failed"]
                        one.events[client.name] = answer["events"]
                results.append(one)
                print(
                    f"round {number + 1}: ratio {one.ratio():.3f} (CPU {one.ratio(cpu=True):.3f}), "
                    f"control {one.ratio(of=CONTROL):.3f}",
                    flush=True,
                )
            token_calls = len(provider.stats().token_calls)
            ready = {client.name: client.ready for client in clients}
        finally:
            for client in clients:
                client.stop()
    load = (*load_start, *os.getloadavg())
    return Run(results, ready, token_calls, time.monotonic() - started, load)


def render(run: Run, *, requests_each: int, block: int, command: str) -> str:
    wall = statistics.median(r.ratio() for r in run.rounds)
    cpu = statistics.median(r.ratio(cpu=True) for r in run.rounds)
    control = statistics.median(r.ratio(of=CONTROL) for r in run.rounds)
    met = wall <= GOAL
    lines = [
        "# Telemetry: cost per request with a valid token",
        "",
        f"Written by `{command}` on {datetime.date.today().isoformat()}; see `benchmarks/telemetry.py`.",
        "",
        f"**Goal: SDK installed ≤ {GOAL:g} x not installed. Result: {wall:.3f} (wall clock), "
        f"{cpu:.3f} (CPU) — {'met' if met else 'missed'}.** The control, a second process "
        f"without OpenTelemetry, measured {control:.3f} x the first: differences that size are noise.",
        "",
        "| round | not installed, median ms | SDK installed, median ms | ratio | CPU ratio | control ratio |",
        "|---|---|---|---|---|---|",
    ]
    for number, one in enumerate(run.rounds, 1):
        lines.append(
            f"| {number} | {statistics.median(one.wall[NOT_INSTALLED]) * 1000:.3f} "
            f"| {statistics.median(one.wall[SDK_INSTALLED]) * 1000:.3f} | {one.ratio():.3f} "
            f"| {one.ratio(cpu=True):.3f} | {one.ratio(of=CONTROL):.3f} |"
        )
    failed = sum(sum(r.failed.values()) for r in run.rounds)
    events = sum(sum(r.events.values()) for r in run.rounds)
    sdk, none = run.ready[SDK_INSTALLED], run.ready[NOT_INSTALLED]
    lines += [
        "",
        f"- {requests_each} requests per client per round, in turns of {block}; {len(run.rounds)} rounds.",
        f"- During the measurement: {run.token_calls} token calls, {events} telemetry events, "
        f"{failed} failed requests.",
        f"- Not installed: opentelemetry imported: {none['opentelemetry_loaded']}. SDK installed: the warm-up's "
        f"token call put {sdk['sdk_points_after_warmup']} metric points into the SDK and "
        f"{sdk['events_after_warmup']} event(s) into the callback, so telemetry was live.",
        f"- Machine: {_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {run.load[0]:.2f} at the start, "
        f"{run.load[3]:.2f} at the end; {run.seconds:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telemetry", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per client per round")
    parser.add_argument("--block", type=int, default=20, help="requests per turn")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks", help="where RESULTS-telemetry.md goes")
    parser.add_argument("--client", choices=sorted(VARIANTS.values()), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        _client(args.client, sys.stdin, sys.stdout)
        return 0
    run = measure(rounds=args.rounds, requests_each=args.requests, block=args.block)
    shown = " ".join(["python -m benchmarks.telemetry", *(argv if argv is not None else sys.argv[1:])]).strip()
    text = render(run, requests_each=args.requests, block=args.block, command=shown)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "RESULTS-telemetry.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {path}")
    wall = statistics.median(r.ratio() for r in run.rounds)
    return 0 if wall <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
