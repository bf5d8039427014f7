"""Runs every scenario against every library, round by round, and writes the results.

``python -m benchmarks`` calls :func:`main`. One provider process serves the whole
run. Each round runs every scenario for every library, in an order that rotates
from round to round, so that a machine that slows down or speeds up during the
run weighs on every library alike; ratios are taken within a round.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Type

from . import report, scenarios
from .contenders import CONTENDERS, Contender, available
from .provider import ProviderProcess
from .scenarios import FlightResult, ImportResult, MemoryResult, OverheadResult, StallResult, StormResult

__all__ = ["SCENARIOS", "Options", "Results", "main", "run"]

SCENARIOS = ("overhead", "single-flight", "stall", "storm", "memory", "import")

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Options:
    """What a run does. The defaults are the full run whose results are committed."""

    rounds: int = 3
    requests: int = 1000  # overhead: timed requests per library per round
    latency: float = 0.3  # seconds the token endpoint takes (single flight, stall, storm)
    lifetime: int = 3  # seconds a token lives (single flight, stall)
    duration: float = 10.0  # stall: seconds the threads call
    stall_threads: int = 8
    flight_threads: int = 32
    storm_threads: int = 32
    storm_requests: int = 10  # per thread
    memory_requests: int = 100_000
    import_runs: int = 15
    scenarios: Tuple[str, ...] = SCENARIOS
    output: Path = HERE
    plot: bool = True
    quick: bool = False

    @classmethod
    def quick_run(cls, **changes: object) -> Options:
        """One round with tiny durations: checks the harness, measures little."""
        settings: Dict[str, object] = {
            "rounds": 1,
            "requests": 30,
            "latency": 0.05,
            "lifetime": 1,
            "duration": 0.8,
            "storm_requests": 3,
            "memory_requests": 2000,
            "import_runs": 1,
            "quick": True,
        }
        settings.update(changes)
        return cls(**settings)  # type: ignore[arg-type]


@dataclass
class Results:
    """Everything a run measured, per round where it is measured in rounds."""

    options: Options
    libraries: List[str]
    versions: Dict[str, str]
    missing: List[str]
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    load: Tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    overhead: List[OverheadResult] = field(default_factory=list)
    flight: List[Dict[str, FlightResult]] = field(default_factory=list)
    stall: List[Dict[str, StallResult]] = field(default_factory=list)
    storm: List[Dict[str, StormResult]] = field(default_factory=list)
    memory: List[MemoryResult] = field(default_factory=list)
    imports: Optional[ImportResult] = None
    files: List[Path] = field(default_factory=list)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


_STARTED = time.monotonic()


def _say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def run(options: Options) -> Results:
    """Run the chosen scenarios and write ``RESULTS.md`` (and the stall plot) to
    ``options.output``. Libraries that are not installed are left out and named."""
    began = time.monotonic()
    kinds: List[Type[Contender]] = [kind for kind in CONTENDERS if available(kind)]
    results = Results(
        options=options,
        libraries=[kind.name for kind in kinds],
        versions={kind.name: _version(kind.distribution) for kind in CONTENDERS},
        missing=[kind.name for kind in CONTENDERS if not available(kind)],
    )
    load_before = _load()
    renewing = [kind for kind in kinds if kind.renews]
    chosen = set(options.scenarios)
    with ProviderProcess() as provider:
        for number in range(options.rounds):
            _round(provider, kinds, renewing, options, number, chosen, results)
        if "memory" in chosen:
            for kind in scenarios.MEMORY_KINDS:
                if kind in kinds:
                    _say(f"memory: {options.memory_requests} requests through {kind.name}")
                    results.memory.append(scenarios.memory(provider, kind, total=options.memory_requests))
    if "import" in chosen:
        names = [name for name in scenarios.IMPORTS if name == "requests" or name in results.libraries]
        _say(f"import cost: {options.import_runs} fresh interpreters per module")
        results.imports = scenarios.import_cost(names, runs=options.import_runs)
    results.load = (load_before, _load())
    results.seconds = time.monotonic() - began
    results.files = report.write(results, options.output, plot=options.plot)
    return results


def _round(
    provider: ProviderProcess,
    kinds: Sequence[Type[Contender]],
    renewing: Sequence[Type[Contender]],
    options: Options,
    number: int,
    chosen: set[str],
    results: Results,
) -> None:
    label = f"round {number + 1}/{options.rounds}"
    order = _rotated(renewing, number)
    if "overhead" in chosen:
        _say(f"{label}: overhead, {options.requests} requests per library")
        results.overhead.append(scenarios.overhead(provider, kinds, requests_each=options.requests, shift=number))
    if "single-flight" in chosen:
        _say(f"{label}: single flight, {options.flight_threads} threads after expiry")
        results.flight.append(
            scenarios.single_flight(
                provider,
                renewing,
                threads=options.flight_threads,
                latency=options.latency,
                lifetime=options.lifetime,
                shift=number,
            )
        )
    if "stall" in chosen:
        stalls: Dict[str, StallResult] = {}
        for kind in order:
            _say(f"{label}: stall, {kind.name}, {options.stall_threads} threads for {options.duration:g} s")
            stalls[kind.name] = scenarios.stall(
                provider,
                kind,
                threads=options.stall_threads,
                duration=options.duration,
                latency=options.latency,
                lifetime=options.lifetime,
            )
        results.stall.append(stalls)
    if "storm" in chosen:
        storms: Dict[str, StormResult] = {}
        for kind in _rotated(kinds, number):  # the fixed header too: what not renewing costs
            _say(f"{label}: 401 storm, {kind.name}, {options.storm_threads} threads")
            storms[kind.name] = scenarios.storm(
                provider,
                kind,
                threads=options.storm_threads,
                requests_each=options.storm_requests,
                latency=options.latency,
            )
        results.storm.append(storms)


def _rotated(kinds: Sequence[Type[Contender]], shift: int) -> List[Type[Contender]]:
    shift %= len(kinds)
    return list(kinds[shift:]) + list(kinds[:shift])


def _parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="requests_multiauth against requests-oauthlib, Authlib and requests-auth, "
        "over HTTPS on loopback. Writes RESULTS.md and stall.png.",
    )
    parser.add_argument("--quick", action="store_true", help="one round, tiny durations: checks the harness")
    parser.add_argument("--rounds", type=int, help=f"rounds of every scenario (default {defaults.rounds})")
    parser.add_argument(
        "--requests", type=int, help=f"overhead: timed requests per library per round (default {defaults.requests})"
    )
    parser.add_argument(
        "--duration", type=float, help=f"stall: seconds the threads call (default {defaults.duration:g})"
    )
    parser.add_argument(
        "--latency", type=float, help=f"token endpoint latency in seconds (default {defaults.latency:g})"
    )
    parser.add_argument(
        "--lifetime",
        type=int,
        help=f"token lifetime in seconds for single flight and stall (default {defaults.lifetime})",
    )
    parser.add_argument(
        "--memory-requests", type=int, help=f"memory: requests through one auth (default {defaults.memory_requests})"
    )
    parser.add_argument(
        "--import-runs", type=int, help=f"import cost: interpreters per module (default {defaults.import_runs})"
    )
    parser.add_argument("--only", help=f"comma-separated scenarios to run, of: {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--output", type=Path, help="where RESULTS.md and stall.png go (default: benchmarks/)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw stall.png")
    return parser


def options_from(argv: Optional[Sequence[str]]) -> Options:
    args = _parser().parse_args(argv)
    changes: Dict[str, object] = {}
    for name in ("rounds", "requests", "duration", "latency", "lifetime", "memory_requests", "import_runs", "output"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.only:
        chosen = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = sorted(set(chosen) - set(SCENARIOS))
        if unknown:
            _parser().error(f"unknown scenario(s): {', '.join(unknown)}")
        changes["scenarios"] = chosen
    if args.no_plot:
        changes["plot"] = False
    options = Options.quick_run(**changes) if args.quick else dataclasses.replace(Options(), **changes)
    if options.rounds < 1 or options.requests < 1 or options.lifetime < 1 or options.duration <= 0:
        _parser().error("--rounds, --requests and --lifetime must be at least 1, --duration positive")
    return options


def main(argv: Optional[Sequence[str]] = None) -> int:
    options = options_from(argv)
    results = run(options)
    for path in results.files:
        _say(f"wrote {path}")
    _say(f"done in {results.seconds:.0f} s")
    return 0
