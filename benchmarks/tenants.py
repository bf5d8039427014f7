"""Many credentials in one process: memory, sockets and threads per auth, and the stale-token storm.

::

    python -m benchmarks.tenants                       # 100, 1,000 and 3,000 auths; writes benchmarks/TENANTS.md
    python -m benchmarks.tenants --tenants 1000 --rounds 3
    python -m benchmarks.tenants --before /tmp/main-src  # also an older requests_multiauth, side by side

A SaaS calling an API for each of its customers: N auths in one process, each with
credentials of its own, all using one token endpoint (the Cognito emulation of
``benchmarks/provider.py`` in a child process, HTTPS on loopback, answering token
calls after ``--latency`` seconds) and one API session. For each library and N, a
fresh child process (so that memory is its own):

1. builds N auths and gets each its first token (through API requests on 32 threads);
   measures RSS, sockets (descriptors of the process that are sockets) and threads,
   per auth beyond what the process held before it built any;
2. measures the API request median with every token valid (8 request threads);
3. the storm: moves every auth's clock to the moment all N tokens fall due together
   (requests_multiauth: inside the renewal window, ahead of expiry; requests-auth,
   which has no renewal ahead: at its early expiry), and goes on with the same API
   requests until every token has been renewed; measures the request median during
   the storm, the renewal threads at the peak and RSS; repeated for ``--rounds``.

The machine's CA bundle (``REQUESTS_CA_BUNDLE``, else certifi's) with the provider's
throwaway CA appended is what every child trusts, through ``REQUESTS_CA_BUNDLE``: the
setting under which every connection that loads its own CA bundle costs most.

Clocks: the storm is made by moving the clocks of the auths, not by waiting an hour:
requests_multiauth's through its ``clock=`` option, requests-auth's by replacing the
``datetime`` its token cache reads (it has no such option). The provider keeps real time.

requests-auth 8.0.0 keys its process-wide token cache by the token URL and the form
fields, without the client id: different clients on one token URL would get each
other's token. Each tenant here has a token URL of its own (``?tenant=i``) so that
requests-auth fetches one token per tenant; requests_multiauth gets the same URLs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as _datetime
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

#: Where the package and the benchmarks live.
ROOT = Path(__file__).resolve().parent.parent

LIBRARIES = ("requests_multiauth", "requests-auth")
TENANTS = (100, 1000, 3000)

#: Tokens live an hour, as most providers issue them.
LIFETIME = 3600
#: The early-expiry margin both libraries get (requests_multiauth's default leeway).
LEEWAY = 30.0
#: Threads that get the first tokens, and threads that make API requests.
FIRST_TOKEN_THREADS = 32
REQUEST_THREADS = 8
#: API requests timed with every token valid.
NORMAL_REQUESTS = 2000
#: The longest a storm round may take before it counts as failed (seconds).
STORM_BOUND = 300.0
#: Threads of the benchmark itself during a storm (request threads and the sampler),
#: not counted as the library's.
STORM_OWN_THREADS = REQUEST_THREADS + 1
#: Timeout of every API request.
REQUEST_TIMEOUT = 60.0
#: The longest a child may run (seconds).
CHILD_BOUND = 1800.0


# -- the child: one library, N auths ------------------------------------------------------


class _Clock:
    """Real time plus an offset the benchmark moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _descriptors() -> Dict[str, int]:
    sockets = total = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        total += 1
        sockets += target.startswith("socket:")
    return {"fds": total, "sockets": sockets}


def _snapshot() -> Dict[str, int]:
    gc.collect()
    return {"rss": _rss(), "threads": threading.active_count(), **_descriptors()}


class _Sampler:
    """Samples threads and RSS every 50 ms while a storm runs."""

    def __init__(self) -> None:
        self.threads = 0
        self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.threads = max(self.threads, threading.active_count())
            self.rss = max(self.rss, _rss())

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _requests_auth_clock(clock: _Clock) -> None:
    """Make requests-auth's token cache read *clock* (it has no clock option)."""
    from requests_auth._oauth2 import tokens

    class _Shifted(_datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return _datetime.datetime.fromtimestamp(clock(), tz)

    class _Module:
        datetime = _Shifted
        timezone = _datetime.timezone
        timedelta = _datetime.timedelta

    tokens.datetime = _Module  # type: ignore[attr-defined,assignment]


def _build(library: str, where: Dict[str, str], count: int, clock: _Clock) -> List[Any]:
    urls = [f"{where['token_url']}?tenant={i}" for i in range(count)]
    if library == "requests_multiauth":
        from requests_multiauth import CognitoAuth

        return [CognitoAuth(where["client_id"], where["client_secret"], url, clock=clock) for url in urls]
    from requests_auth import OAuth2, OAuth2ClientCredentials

    OAuth2.token_cache.clear()
    _requests_auth_clock(clock)
    return [
        OAuth2ClientCredentials(url, where["client_id"], where["client_secret"], early_expiry=LEEWAY) for url in urls
    ]


def _api_session(where: Dict[str, str]) -> Any:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.verify = where["bundle"]
    session.mount("https://", HTTPAdapter(pool_maxsize=FIRST_TOKEN_THREADS))
    return session


def _timed_requests(
    session: Any, api_url: str, auths: Sequence[Any], *, until: Callable[[int], bool], bound: float
) -> List[float]:
    """API requests on REQUEST_THREADS threads, each auth in turn (shuffled), until
    *until(requests made)* or *bound* seconds; returns each request's seconds."""
    order = list(auths)
    random.shuffle(order)
    latencies: List[float] = []
    lock = threading.Lock()
    made = [0]
    stop = threading.Event()
    deadline = time.monotonic() + bound
    failures: List[str] = []

    def work(offset: int) -> None:
        index = offset
        while not stop.is_set() and time.monotonic() < deadline:
            auth = order[index % len(order)]
            index += REQUEST_THREADS
            started = time.perf_counter()
            response = session.get(api_url, auth=auth, timeout=REQUEST_TIMEOUT)
            took = time.perf_counter() - started
            with lock:
                if response.status_code != 200:
                    failures.append(str(response.status_code))
                latencies.append(took)
                made[0] += 1
                if until(made[0]):
                    stop.set()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(REQUEST_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(bound + REQUEST_TIMEOUT)
    if failures:
        raise RuntimeError(f"{len(failures)} API requests failed: {sorted(set(failures))}")
    return latencies


def _token_calls(control: Any, url: str) -> int:
    return len(control.get(url + "/control", timeout=10).json()["token_calls"])


def _storm(session: Any, control: Any, where: Dict[str, str], auths: Sequence[Any]) -> Dict[str, Any]:
    """One storm round, the clocks already moved: API requests until every token was renewed."""
    calls_before = _token_calls(control, where["url"])
    started = time.monotonic()
    renewed_at: List[float] = []

    def all_renewed(made: int) -> bool:
        if made % 50:
            return False
        done = _token_calls(control, where["url"]) - calls_before >= len(auths)
        if done and not renewed_at:
            renewed_at.append(time.monotonic() - started)
        return done

    with _Sampler() as sampler:
        latencies = _timed_requests(session, where["api_url"], auths, until=all_renewed, bound=STORM_BOUND)
    snapshot = _snapshot()
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": sorted(latencies)[int(len(latencies) * 0.99)] * 1000,
        "requests": len(latencies),
        "renewals": _token_calls(control, where["url"]) - calls_before,
        "renewed_in_s": renewed_at[0] if renewed_at else None,
        "threads_peak": sampler.threads,
        "rss": snapshot["rss"],
        "rss_peak": sampler.rss,
        "sockets": snapshot["sockets"],
    }


def child(library: str, count: int, rounds: int, where: Dict[str, str]) -> Dict[str, Any]:
    """Run the scenario for one library and N; return the figures."""
    session = _api_session(where)
    control = _api_session(where)
    api_url = where["api_url"]
    clock = _Clock()
    import requests_multiauth  # noqa: F401 - loaded before the baseline, as in an application

    if library == "requests-auth":
        import requests_auth  # noqa: F401

    # Warm the API session on every request thread with a fixed token, then the baseline.
    answer = control.post(
        where["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(where["client_id"], where["client_secret"]),
        timeout=REQUEST_TIMEOUT,
    )
    fixed = {"Authorization": "Bearer " + answer.json()["access_token"]}
    with concurrent.futures.ThreadPoolExecutor(FIRST_TOKEN_THREADS) as pool:
        list(pool.map(lambda _: session.get(api_url, headers=fixed, timeout=REQUEST_TIMEOUT), range(200)))
    before = _snapshot()

    built_at = time.perf_counter()
    auths = _build(library, where, count, clock)
    build_seconds = time.perf_counter() - built_at

    def first(auth: Any) -> int:
        return int(session.get(api_url, auth=auth, timeout=REQUEST_TIMEOUT).status_code)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(FIRST_TOKEN_THREADS) as pool:
        statuses = list(pool.map(first, auths))
    first_seconds = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"first requests answered {sorted(set(statuses))}")
    time.sleep(1.0)  # let any short-lived thread of the first token calls end
    after = _snapshot()

    normal = _timed_requests(session, api_url, auths, until=lambda made: made >= NORMAL_REQUESTS, bound=60.0)

    storms: List[Dict[str, Any]] = []
    for _ in range(rounds):
        if library == "requests-auth":
            clock.offset += LIFETIME - LEEWAY + 1.0  # past requests-auth's early expiry: due now
        else:
            clock.offset += LIFETIME - 200.0  # every token 200 s before its expiry: stale, still valid
        storms.append(_storm(session, control, where, auths))

    return {
        "library": library,
        "tenants": count,
        "build_ms_per_auth": build_seconds * 1000 / count,
        "first_tokens_s": first_seconds,
        "before": before,
        "after": after,
        "normal_median_ms": statistics.median(normal) * 1000,
        "storms": storms,
    }


# -- the parent: the provider, the children, the report ----------------------------------------


def _machine_bundle() -> str:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and os.path.isfile(value):
            return value
    import certifi

    return str(certifi.where())


def _version(distribution: str, source: Optional[str]) -> str:
    if source is not None:
        return f"from {source}"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _run_child(library: str, count: int, rounds: int, where: Dict[str, str], source: Optional[str]) -> Dict[str, Any]:
    env = dict(os.environ, REQUESTS_CA_BUNDLE=where["bundle"])
    env.pop("CURL_CA_BUNDLE", None)
    # The script is run by path, so that its directory, not the repository, is first on
    # sys.path: with --before, PYTHONPATH's older requests_multiauth is the one imported.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source or str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            library,
            "--tenants",
            str(count),
            "--rounds",
            str(rounds),
            "--where",
            json.dumps(where),
        ],
        capture_output=True,
        text=True,
        timeout=CHILD_BOUND,
        env=env,
        cwd=str(Path(__file__).resolve().parent),
    )
    if result.returncode != 0:
        raise RuntimeError(f"{library} with {count} tenants failed:\n{result.stderr[-3000:]}")
    figures: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def _kb(value: float) -> str:
    return f"{value / 1024:,.1f} KB"


def _report(
    results: List[Dict[str, Any]], *, command: str, bundle_certs: int, latency: float, versions: Dict[str, str]
) -> str:
    lines = [
        "# Many credentials in one process (`benchmarks.tenants`)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end. Token endpoint on loopback "
        f"answering in {latency:g} s; {bundle_certs} certificates in the CA bundle of `REQUESTS_CA_BUNDLE`; "
        f"tokens live {LIFETIME} s. Versions: "
        + ", ".join(f"{name} {value}" for name, value in versions.items())
        + ".",
        "",
        "Per auth: what the process holds after every auth has its first token, beyond what it held before it "
        "built any (an API session warmed on every request thread), divided by N.",
        "",
        "| library | N | RSS per auth | sockets held | threads | build per auth | first tokens | API median | "
        "storm median (x normal) | renewal threads at peak | renewed in | RSS after last round / first |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for figures in results:
        n = figures["tenants"]
        before, after = figures["before"], figures["after"]
        storms = figures["storms"]
        first_storm = storms[0] if storms else None
        rss_growth = (storms[-1]["rss"] / storms[0]["rss"]) if len(storms) > 1 else 1.0
        storm_cell = renew_cell = threads_cell = "n/a"
        if first_storm is not None:
            ratio = first_storm["median_ms"] / figures["normal_median_ms"]
            storm_cell = f"{first_storm['median_ms']:.1f} ms ({ratio:.1f}x)"
            renew_cell = (
                f"{first_storm['renewed_in_s']:.1f} s" if first_storm["renewed_in_s"] is not None else "not all"
            )
            threads_cell = str(max(s["threads_peak"] for s in storms) - before["threads"] - STORM_OWN_THREADS)
        lines.append(
            f"| {figures['library']} | {n:,} | {_kb((after['rss'] - before['rss']) / n)} | "
            f"{after['sockets'] - before['sockets']} | {after['threads'] - before['threads']} | "
            f"{figures['build_ms_per_auth']:.3f} ms | {figures['first_tokens_s']:.1f} s | "
            f"{figures['normal_median_ms']:.1f} ms | {storm_cell} | "
            f"{threads_cell} | {renew_cell} | {rss_growth:.2f} |"
        )
    by_n: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for figures in results:
        by_n.setdefault(figures["tenants"], {})[figures["library"]] = figures
    lines += ["", "Side by side, requests_multiauth / requests-auth (lower is better for requests_multiauth):", ""]
    lines += ["| N | RSS per auth | API median | storm median |", "|---:|---:|---:|---:|"]
    for n, row in sorted(by_n.items()):
        ours, theirs = row.get("requests_multiauth"), row.get("requests-auth")
        if ours is None or theirs is None:
            continue

        def per_auth(f: Dict[str, Any]) -> float:
            return float(f["after"]["rss"] - f["before"]["rss"]) / f["tenants"]

        storm = (
            f"{ours['storms'][0]['median_ms'] / theirs['storms'][0]['median_ms']:.2f}"
            if ours["storms"] and theirs["storms"]
            else "n/a"
        )
        lines.append(
            f"| {n:,} | {per_auth(ours) / max(per_auth(theirs), 1.0):.2f} | "
            f"{ours['normal_median_ms'] / theirs['normal_median_ms']:.2f} | {storm} |"
        )
    lines += [
        "",
        "Storm rounds (each: every token falls due at once):",
        "",
        "| library | N | round | renewals | renewed in | storm median | p99 | renewal threads at peak | RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for figures in results:
        for number, storm in enumerate(figures["storms"], 1):
            renewed = f"{storm['renewed_in_s']:.1f} s" if storm["renewed_in_s"] is not None else "not all"
            lines.append(
                f"| {figures['library']} | {figures['tenants']:,} | {number} | {storm['renewals']} | {renewed} | "
                f"{storm['median_ms']:.1f} ms | {storm['p99_ms']:.1f} ms | "
                f"{storm['threads_peak'] - figures['before']['threads'] - STORM_OWN_THREADS} | "
                f"{storm['rss'] / 2**20:,.1f} MB |"
            )
    lines += [
        "",
        "requests-auth 8.0.0 keys its process-wide token cache by the token URL and the form fields, without the "
        "client id: different clients on one token URL get each other's token unless the URL differs. Each tenant "
        "here has a token URL of its own (`?tenant=i`), for both libraries, so that requests-auth fetches one token "
        "per tenant. requests-auth renews a token only once it is (early-)expired, on the request that finds it so: "
        "its storm is every tenant's next request waiting for a token call. The storm is made by moving the auths' "
        "clocks (requests_multiauth's `clock=`; requests-auth's `datetime`, replaced), not by waiting an hour. "
        "requests-auth holds one process-wide lock across every token call (its token cache's), so its token calls "
        "run one at a time: N first tokens take N x the endpoint's latency, which is why it is measured up to "
        "`--others-max` tenants only. 'renewal threads at peak' counts the threads beyond the benchmark's own "
        f"{REQUEST_THREADS} request threads and sampler.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, action="append", help="N auths (repeatable); default 100, 1000, 3000")
    parser.add_argument("--rounds", type=int, default=3, help="storm rounds per child")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the token endpoint takes to answer")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="comma-separated: " + ", ".join(LIBRARIES))
    parser.add_argument("--before", help="a directory holding an older requests_multiauth package, measured too")
    parser.add_argument(
        "--others-max", type=int, default=1000, help="the largest N for requests-auth and --before (default 1000)"
    )
    parser.add_argument("--others-rounds", type=int, default=1, help="storm rounds for requests-auth and --before")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "TENANTS.md"), help="the results file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--where", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = args.tenants or list(TENANTS)

    if args.child:
        print(json.dumps(child(args.child, counts[0], args.rounds, json.loads(args.where))), flush=True)
        return 0

    sys.path.insert(0, str(ROOT))
    from benchmarks.provider import ProviderProcess

    libraries = [name.strip() for name in args.libraries.split(",") if name.strip()]
    machine_bundle = _machine_bundle()
    results: List[Dict[str, Any]] = []
    with ProviderProcess(latency=args.latency, lifetime=LIFETIME) as provider, tempfile.TemporaryDirectory() as tmp:
        bundle = os.path.join(tmp, "bundle.pem")
        with open(bundle, "w") as out:
            out.write(Path(machine_bundle).read_text() + "\n" + Path(provider.verify).read_text())
        certs = Path(bundle).read_text().count("BEGIN CERTIFICATE")
        where = {
            "url": provider.url,
            "token_url": provider.token_url,
            "api_url": provider.api_url,
            "bundle": bundle,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
        }
        runs = [(name, None) for name in libraries]
        if args.before:
            runs.insert(1, ("requests_multiauth", args.before))
        for count in counts:
            for library, source in runs:
                other = library != "requests_multiauth" or source is not None
                if other and count > args.others_max:
                    continue
                rounds = args.others_rounds if other else args.rounds
                print(f"{library}{' (before)' if source else ''}: {count} tenants ...", file=sys.stderr, flush=True)
                figures = _run_child(library, count, rounds, where, source)
                if source:
                    figures["library"] = "requests_multiauth before"
                results.append(figures)
    versions = {
        "requests_multiauth": _version("requests-multiauth", None),
        "requests-auth": _version("requests-auth", None),
    }
    if args.before:
        versions["requests_multiauth before"] = _version("", args.before)
    command = "python -m benchmarks.tenants " + " ".join(argv if argv is not None else sys.argv[1:])
    report = _report(results, command=command.strip(), bundle_certs=certs, latency=args.latency, versions=versions)
    Path(args.output).write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
