"""Turns a run's results into ``RESULTS.md`` and the stall plot ``stall.png``.

Numbers are reported per round where the scenario runs in rounds, so that a
reader sees how much they vary on a shared machine; ratios are computed within
a round, then their median is taken.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from .scenarios import SLOW, MemoryResult, StallResult, median

if TYPE_CHECKING:
    from .runner import Results

__all__ = ["GOALS", "goals", "write"]

BASELINE = "fixed header"
OURS = "requests_multiauth"

#: The overhead goal: at most this many times the fixed-header session's cost.
OVERHEAD_GOAL = 1.03

#: The memory goal. Anything a request left behind (a hook, a response in a
#: history) would hold at least one block and tens of bytes per request; a few
#: blocks that caches keep once are not growth.
MEMORY_GOAL_BLOCKS_PER_REQUEST = 0.01
MEMORY_GOAL_BYTES_PER_REQUEST = 1.0

GOALS = {
    "overhead": f"≤ {OVERHEAD_GOAL:g} x the fixed-header session",
    "single-flight": "1 token call",
    "stall": f"0 requests slower than {SLOW * 1000:.0f} ms that waited for a renewal",
    "storm": "1 token call, 0 failed requests",
    "memory": (
        f"no growth: < {MEMORY_GOAL_BLOCKS_PER_REQUEST:g} memory block and < {MEMORY_GOAL_BYTES_PER_REQUEST:g} "
        "byte held per request"
    ),
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _per_round(values: Sequence[object]) -> str:
    return ", ".join(str(value) for value in values) if values else "-"


def _counts(values: Sequence[int]) -> str:
    """One number if every round made the same count, else each round's."""
    return str(values[0]) if values and len(set(values)) == 1 else _per_round(values)


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def _kib(size: float) -> str:
    return f"{size / 1024:+.1f} KiB"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _ratios(results: Results, name: str, *, cpu: bool = False) -> List[float]:
    ratios = []
    for one in results.overhead:
        times = one.cpu if cpu else one.durations
        ours, base = times.get(name), times.get(BASELINE)
        if ours and base:
            ratios.append(median(ours) / median(base))
    return ratios


def _blocks_per_request(result: MemoryResult) -> float:
    return result.block_growth / result.span if result.span else float("nan")


def _bytes_per_request(result: MemoryResult) -> float:
    return result.traced_growth / result.traced_requests if result.traced_requests else float("nan")


def _memory_met(result: MemoryResult) -> bool:
    return (
        _blocks_per_request(result) < MEMORY_GOAL_BLOCKS_PER_REQUEST
        and _bytes_per_request(result) < MEMORY_GOAL_BYTES_PER_REQUEST
        and result.failed == 0
    )


def goals(results: Results) -> Dict[str, Optional[bool]]:
    """For each goal of requests_multiauth: met (True), missed (False), or not measured."""
    met: Dict[str, Optional[bool]] = dict.fromkeys(GOALS)
    ratios = _ratios(results, OURS)
    if ratios:
        met["overhead"] = median(ratios) <= OVERHEAD_GOAL
    flights = [one[OURS] for one in results.flight if OURS in one]
    if flights:
        met["single-flight"] = all(f.token_calls == 1 and f.failed == 0 for f in flights)
    stalls = [one[OURS] for one in results.stall if OURS in one]
    if stalls:
        met["stall"] = all(not s.stalled and not s.failed for s in stalls)
    storms = [one[OURS] for one in results.storm if OURS in one]
    if storms:
        met["storm"] = all(s.token_calls == 1 and s.failed == 0 for s in storms)
    memories = [m for m in results.memory if m.library == OURS]
    if memories:
        met["memory"] = all(_memory_met(m) for m in memories)
    return met


def _measured(results: Results) -> Dict[str, str]:
    shown: Dict[str, str] = {}
    ratios = _ratios(results, OURS)
    if ratios:
        shown["overhead"] = f"{median(ratios):.3f} (rounds: {_per_round([f'{r:.3f}' for r in ratios])})"
    flights = [one[OURS] for one in results.flight if OURS in one]
    if flights:
        shown["single-flight"] = f"token calls per round: {_per_round([f.token_calls for f in flights])}"
    stalls = [one[OURS] for one in results.stall if OURS in one]
    if stalls:
        shown["stall"] = f"per round: {_per_round([len(s.stalled) for s in stalls])}"
    storms = [one[OURS] for one in results.storm if OURS in one]
    if storms:
        shown["storm"] = (
            f"token calls {_per_round([s.token_calls for s in storms])}; "
            f"failed {_per_round([s.failed for s in storms])}"
        )
    memories = [m for m in results.memory if m.library == OURS]
    if memories:
        m = memories[-1]
        shown["memory"] = (
            f"{m.block_growth:+,} blocks over {m.span:,} requests; {_kib(m.traced_growth)} held over "
            f"{m.traced_requests:,} traced requests ({_bytes_per_request(m):.3f} byte per request)"
        )
    return shown


def render(results: Results, *, plot: Optional[str]) -> str:
    """The text of RESULTS.md."""
    options = results.options
    when = datetime.datetime.fromtimestamp(results.started, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m benchmarks" + (" --quick" if options.quick else "")
    out: List[str] = ["# Benchmark results", ""]
    if options.quick:
        out += ["**A quick run (one round, tiny durations): it checks the harness; its numbers mean little.**", ""]
    out += [
        f"Written by `{command}` on {when}; the run took {results.seconds:.0f} s "
        f"({options.rounds} round{'s' if options.rounds != 1 else ''}, libraries interleaved). "
        "How each scenario works: [README.md](README.md).",
        "",
        f"* Machine: {_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}); 1-minute load average "
        f"{results.load[0]:.1f} at the start and {results.load[1]:.1f} at the end (a shared machine: "
        "compare libraries within this run, not with other runs).",
        "* Libraries: " + ", ".join(f"{name} {version}" for name, version in results.versions.items()) + ".",
        f"* Provider: a token endpoint and an API in a separate process, HTTPS with keep-alive on loopback; "
        f"token endpoint latency {options.latency * 1000:.0f} ms, token lifetime {options.lifetime} s "
        "(single flight and stall), 3600 s elsewhere.",
    ]
    if results.missing:
        out.append("* Not installed, left out: " + ", ".join(results.missing) + " (`pip install -e '.[bench]'`).")
    out.append("")

    out += ["## Goals of requests_multiauth", ""]
    met, shown = goals(results), _measured(results)
    rows = [
        [name, GOALS[name], shown.get(name, "not measured"), {True: "met", False: "**missed**", None: "-"}[met[name]]]
        for name in GOALS
    ]
    out += _table(["scenario", "goal", "measured", ""], rows)

    if results.overhead:
        out += _overhead(results)
    if results.flight:
        out += _flight(results)
    if results.stall:
        out += _stall(results, plot)
    if results.storm:
        out += _storm(results)
    if results.memory:
        out += _memory(results)
    if results.imports is not None:
        out += _imports(results)
    return "\n".join(out).rstrip() + "\n"


def _libraries(results: Results, rounds: Sequence[Dict[str, object]]) -> List[str]:
    return [name for name in results.libraries if any(name in one for one in rounds)]


def _overhead(results: Results) -> List[str]:
    out = [
        "## Overhead with a valid token",
        "",
        f"One thread, {_counts([len(one.durations.get(BASELINE, [])) for one in results.overhead])} "
        "requests per library in each round, libraries interleaved request "
        "by request. Median time per request (round medians' median) and its ratio to the "
        "fixed-header session measured in the same round (the goal is judged on this one); then the "
        "same for the calling thread's CPU time, which leaves out time other processes held the CPU.",
        "",
    ]
    rows = []
    for name in results.libraries:
        per_round = [median(one.durations[name]) for one in results.overhead if one.durations.get(name)]
        if not per_round:
            continue
        cpu_per_round = [median(one.cpu[name]) for one in results.overhead if one.cpu.get(name)]
        ratios, cpu_ratios = _ratios(results, name), _ratios(results, name, cpu=True)
        failed = sum(one.failed.get(name, 0) for one in results.overhead)
        rows.append(
            [
                name,
                f"{median(per_round) * 1e6:.0f}",
                f"{median(ratios):.3f}" if ratios else "-",
                _per_round([f"{r:.3f}" for r in ratios]),
                f"{median(cpu_per_round) * 1e6:.0f}",
                f"{median(cpu_ratios):.3f}" if cpu_ratios else "-",
                str(failed),
            ]
        )
    out += _table(
        ["library", "µs per request", "x fixed header", "per round", "CPU µs per request", "x fixed (CPU)", "failed"],
        rows,
    )
    token_calls = [one.token_calls for one in results.overhead]
    out += [f"Token calls while measuring (all libraries): {_per_round(token_calls)} per round.", ""]
    return out


def _flight(results: Results) -> List[str]:
    options = results.options
    out = [
        "## Single flight",
        "",
        f"{options.flight_threads} threads start together right after the token expired "
        f"(token endpoint latency {options.latency * 1000:.0f} ms). Goal: 1 token call.",
        "",
    ]
    rows = []
    for name in _libraries(results, results.flight):  # type: ignore[arg-type]
        flights = [one[name] for one in results.flight if name in one]
        rows.append([name, _per_round([f.token_calls for f in flights]), _per_round([f.failed for f in flights])])
    return out + _table(["library", "token calls per round", "failed requests per round"], rows)


def _stall(results: Results, plot: Optional[str]) -> List[str]:
    options = results.options
    out = [
        "## Stall",
        "",
        f"{options.stall_threads} threads call for {options.duration:g} s; tokens live {options.lifetime} s "
        f"and the token endpoint takes {options.latency * 1000:.0f} ms. Latencies pool every round. "
        f'"Waited for a renewal" counts requests slower than {SLOW * 1000:.0f} ms that were under way '
        "when a token call was answered and ended after it; the warm-up's token is not in the window, "
        "so every token call here is a renewal.",
        "",
    ]
    rows = []
    for name in _libraries(results, results.stall):  # type: ignore[arg-type]
        stalls = [one[name] for one in results.stall if name in one]
        pooled = StallResult(0.0, [c for s in stalls for c in s.calls], [])
        rows.append(
            [
                name,
                _per_round([len(s.token_calls) for s in stalls]),
                _per_round([len(s.calls) for s in stalls]),
                _ms(pooled.percentile(0.5)),
                _ms(pooled.percentile(0.99)),
                _ms(max((c.duration for c in pooled.calls), default=float("nan"))),
                _per_round([len(s.slow) for s in stalls]),
                _per_round([len(s.stalled) for s in stalls]),
                _per_round([s.failed for s in stalls]),
            ]
        )
    out += _table(
        [
            "library",
            "token calls",
            "requests",
            "p50 ms",
            "p99 ms",
            "max ms",
            f"> {SLOW * 1000:.0f} ms",
            "waited for a renewal",
            "failed",
        ],
        rows,
    )
    out.append("Per round where several numbers are shown.")
    out.append("")
    if plot:
        out += [f"![Latency over time in the stall scenario, per library]({plot})", ""]
    return out


def _storm(results: Results) -> List[str]:
    options = results.options
    out = [
        "## 401 storm",
        "",
        f"{options.storm_threads} threads make {options.storm_requests} requests each; the server revokes "
        "every token partway through. Goal: 1 token call, 0 failed requests. The fixed-header session "
        "shows what a client that cannot renew gets.",
        "",
    ]
    rows = []
    for name in _libraries(results, results.storm):  # type: ignore[arg-type]
        storms = [one[name] for one in results.storm if name in one]
        rows.append(
            [
                name,
                _per_round([s.token_calls for s in storms]),
                _per_round([s.failed for s in storms]),
                _per_round([s.requests for s in storms]),
            ]
        )
    return out + _table(["library", "token calls", "failed requests", "requests"], rows)


def _memory(results: Results) -> List[str]:
    out = [
        "## Memory",
        "",
        "Requests through one auth and one session whose API prefix is mounted on a stub transport "
        "adapter (an `HTTPAdapter` whose `send()` builds the response without network; the token comes "
        "from the real provider). After a warm-up, at ten evenly spaced checkpoints, after a garbage "
        "collection: the memory blocks Python holds (`sys.getallocatedblocks()`) and the RSS. Then a "
        "tenth as many requests again under tracemalloc: the bytes still held after them, and how many "
        "of those requests_multiauth's code allocated.",
        "",
    ]
    rows = []
    for result in results.memory:
        rows.append(
            [
                result.library,
                f"{result.requests:,}",
                f"{result.checkpoints[0].blocks:,}",
                f"{result.block_growth:+,}",
                _kib(result.rss_growth) if result.checkpoints[0].rss else "-",
                f"{result.traced_requests:,}",
                _kib(result.traced_growth),
                f"{_bytes_per_request(result):.3f}",
                _kib(result.package_growth),
                str(result.failed),
                f"{result.seconds:.0f} s",
            ]
        )
    out += _table(
        [
            "library",
            "requests",
            "blocks at first checkpoint",
            "block growth",
            "RSS growth",
            "traced requests",
            "traced growth",
            "bytes per request",
            "of which requests_multiauth",
            "failed",
            "time",
        ],
        rows,
    )
    for result in results.memory:
        points = ", ".join(f"{c.requests:,}: {c.blocks:,}" for c in result.checkpoints)
        out += [f"{result.library} checkpoints (requests: blocks held): {points}.", ""]
    return out


def _imports(results: Results) -> List[str]:
    assert results.imports is not None
    seconds = results.imports.seconds
    base = median(seconds.get("requests", []))
    out = [
        "## Import cost",
        "",
        f"`python -X importtime -c 'import MODULE'` in {results.options.import_runs} fresh interpreters per "
        "module, modules interleaved; the time of everything the import statement loads (start-up "
        "excluded), median.",
        "",
    ]
    from .scenarios import IMPORTS

    rows = [
        [
            f"`import {IMPORTS[name]}`",
            f"{median(values) * 1000:.0f}",
            f"{median(values) / base:.2f}" if base and not math.isnan(base) else "-",
        ]
        for name, values in seconds.items()
    ]
    return out + _table(["module", "ms", "x import requests"], rows)


def plot_stall(results: Results, path: Path) -> bool:
    """Draw latency over time of the last round's stall scenario, one panel per
    library, token calls shaded; False if matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    last = results.stall[-1]
    names = [name for name in results.libraries if name in last]
    figure, axes = plt.subplots(len(names), 1, figsize=(10, 2.2 * len(names) + 0.8), sharex=True, squeeze=False)
    options = results.options
    for axis, name in zip(axes[:, 0], names):
        result = last[name]
        start = result.window_start
        for received, answered in result.token_calls:
            axis.axvspan(received - start, answered - start, color="tab:orange", alpha=0.25, linewidth=0)
        ok = [c for c in result.calls if c.ok]
        bad = [c for c in result.calls if not c.ok]
        axis.scatter([c.started - start for c in ok], [c.duration * 1000 for c in ok], s=2, color="tab:blue")
        if bad:
            axis.scatter([c.started - start for c in bad], [c.duration * 1000 for c in bad], s=6, color="tab:red")
        axis.axhline(SLOW * 1000, color="grey", linestyle="--", linewidth=0.8)
        axis.set_yscale("log")
        axis.set_ylabel("ms")
        axis.set_title(
            f"{name}: {len(result.token_calls)} token calls, {len(result.stalled)} requests waited for a renewal",
            fontsize=9,
            loc="left",
        )
    axes[-1, 0].set_xlabel("seconds since the window started (orange: token calls; dashed: 200 ms)")
    figure.suptitle(
        f"Stall: {options.stall_threads} threads, token lifetime {options.lifetime} s, "
        f"token endpoint latency {options.latency * 1000:.0f} ms",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write(results: Results, directory: Path, *, plot: bool) -> List[Path]:
    """Write RESULTS.md (and stall.png) into *directory*; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    picture: Optional[str] = None
    if plot and results.stall:
        path = directory / "stall.png"
        if plot_stall(results, path):
            picture = path.name
            written.append(path)
    text = render(results, plot=picture)
    target = directory / "RESULTS.md"
    target.write_text(text, encoding="utf-8")
    return [target, *written]
