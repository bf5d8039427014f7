"""Token calls of the JWT-bearer presets next to their vendors' own SDKs, on the local emulators.

::

    python -m benchmarks.vendors_jwt                    # 3 rounds, 32 threads, 8 processes
    python -m benchmarks.vendors_jwt --rounds 1 --output /tmp

Two scenarios, each client side by side in one run, on the emulators of
``requests_multiauth.testing`` (HTTPS on loopback, a throwaway trustme CA):

**32 threads right after expiry.** A client gets its token; the emulator's tokens then
expire (Google: the token's lifetime passes; Salesforce: every session is revoked, the
way an org's session timeout ends them, since its answer states no lifetime); then 32
threads send one API request each at the same moment, through the client's documented
requests integration:

* ``requests_multiauth`` ``GoogleServiceAccountAuth`` / ``SalesforceJwtAuth`` on a
  ``requests.Session``;
* google-auth ``AuthorizedSession(service_account.Credentials...)``, shared by the threads
  (google-auth's documented requests integration);
* simple-salesforce ``Salesforce(username=, consumer_key=, privatekey=)``: it has no
  renewal, so each thread does what its users write: on ``SalesforceExpiredSession``, log
  in again (a new ``Salesforce``) and retry once.

Counted: token calls the emulator received during the burst, and failed requests.

**8 processes, one key.** Eight processes start at once and each gets a token:
``requests_multiauth`` with one ``FileTokenCache`` shared by all; google-auth and
simple-salesforce as they come (neither has a cache shared between processes). Counted:
token calls in all.

**Per-request CPU with a valid token.** ``--requests`` GETs per client (Google's
emulator, an hour's token), the clients interleaved request by request, after a warm-up:
the CPU time of the requesting thread (``time.thread_time``: the emulator serves from
threads of the same process, and their CPU is not the client's) around each request,
averaged, next to a plain ``requests.Session`` with a fixed ``Authorization`` header (the floor).

The token endpoints answer after ``--latency`` seconds (0.2 by default), as a real one takes
a while. Results go to ``benchmarks/VENDORS_JWT_RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parent.parent
THREADS = 32
PROCESSES = 8
REQUEST_TIMEOUT = 60.0
#: A Google token's lifetime in the run: long enough for the warm-up, short enough to wait out.
GOOGLE_LIFETIME = 4.0


def _session(verify: Any) -> requests.Session:
    session = requests.Session()
    session.verify = verify
    session.trust_env = False
    session.mount("https://", HTTPAdapter(pool_maxsize=THREADS))
    return session


def _burst(call: Callable[[], bool], threads: int) -> int:
    """Run *call* in *threads* threads released together; returns how many failed."""
    barrier = threading.Barrier(threads, timeout=REQUEST_TIMEOUT)
    failures: List[int] = []

    def worker() -> None:
        barrier.wait()
        try:
            ok = call()
        except Exception:  # a failed request is what is counted
            ok = False
        if not ok:
            failures.append(1)

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=REQUEST_TIMEOUT * 2)
        if thread.is_alive():
            raise RuntimeError("a thread outlived its bound")
    return len(failures)


# -- 32 threads right after expiry ----------------------------------------------------------------


def google_threads(latency: float, threads: int) -> List[Tuple[str, int, int]]:
    from google.auth.transport.requests import AuthorizedSession
    from google.auth.transport.requests import Request as GoogleTransport
    from google.oauth2 import service_account

    from requests_multiauth.testing import GoogleServiceAccountEmulator

    rows = []
    with GoogleServiceAccountEmulator(lifetime=GOOGLE_LIFETIME) as google:
        ours = _session(google.verify)
        ours.auth = google.auth(session=_session(google.verify))
        url = google.api_url + "bench"

        peer_credentials = service_account.Credentials.from_service_account_file(google.key_file, scopes=["api"])
        peer = AuthorizedSession(peer_credentials, auth_request=GoogleTransport(session=_session(google.verify)))
        peer.verify = google.verify
        peer.trust_env = False
        peer.mount("https://", HTTPAdapter(pool_maxsize=THREADS))

        clients: List[Tuple[str, Callable[[], bool]]] = [
            ("requests_multiauth GoogleServiceAccountAuth", lambda: ours.get(url, timeout=REQUEST_TIMEOUT).ok),
            ("google-auth AuthorizedSession", lambda: peer.get(url, timeout=REQUEST_TIMEOUT).ok),
        ]
        for name, call in clients:
            assert call(), f"{name}: the warm-up request failed"
        time.sleep(GOOGLE_LIFETIME + 0.5)  # every token issued so far has expired
        google.latency = latency
        for name, call in clients:
            before = google.token_calls
            failures = _burst(call, threads)
            rows.append((name, google.token_calls - before, failures))
    return rows


def salesforce_threads(latency: float, threads: int) -> List[Tuple[str, int, int]]:
    from simple_salesforce import Salesforce, SalesforceExpiredSession

    from requests_multiauth.testing import SalesforceEmulator

    rows = []
    with SalesforceEmulator() as org:
        ours = _session(org.verify)
        ours.auth = org.auth(session=_session(org.verify))
        url = org.api_url + "v62.0/limits"
        peer_session = _peer_salesforce_session(org)

        def login() -> Any:
            return Salesforce(
                username=org.username,
                consumer_key=org.consumer_key,
                privatekey=org.private_key_pem,
                session=peer_session,
                version="62.0",
            )

        holder = {"sf": login()}

        def peer_call() -> bool:
            try:
                holder["sf"].restful("limits")
            except SalesforceExpiredSession:  # what its users write: log in again, once
                holder["sf"] = login()
                holder["sf"].restful("limits")
            return True

        clients: List[Tuple[str, Callable[[], bool]]] = [
            ("requests_multiauth SalesforceJwtAuth", lambda: ours.get(url, timeout=REQUEST_TIMEOUT).ok),
            ("simple-salesforce Salesforce (re-login on expiry)", peer_call),
        ]
        for name, call in clients:
            assert call(), f"{name}: the warm-up request failed"
        org.revoke()  # every session ends, as at the org's session timeout
        org.latency = latency
        for name, call in clients:
            before = org.token_calls
            failures = _burst(call, threads)
            rows.append((name, org.token_calls - before, failures))
    return rows


def _peer_salesforce_session(org: Any) -> requests.Session:
    """simple-salesforce builds ``https://login.salesforce.com/...``: a transport adapter
    sends that to the emulator (it cannot be given another host)."""

    class ToEmulator(HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            request.url = (request.url or "").replace("https://login.salesforce.com", org.url, 1)
            return super().send(request, **kwargs)

    session = _session(org.verify)
    session.mount("https://login.salesforce.com/", ToEmulator(pool_maxsize=THREADS))
    return session


# -- 8 processes -------------------------------------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    import requests
    from requests.adapters import HTTPAdapter
    spec = json.loads(sys.argv[1])
    session = requests.Session(); session.verify = spec["verify"]; session.trust_env = False
    deadline = time.monotonic() + 60
    open(spec["ready"] + str(os.getpid()), "w").close()
    while not os.path.exists(spec["go"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    if spec["client"] == "ours":
        from requests_multiauth import FileTokenCache, get_provider
        auth = get_provider(spec["provider"]).auth_class.from_env(
            spec["environ"], cache=FileTokenCache(spec["cache"]), session=session)
        auth.get_token()
    elif spec["client"] == "google-auth":
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account
        credentials = service_account.Credentials.from_service_account_file(spec["key_file"], scopes=["api"])
        credentials.refresh(Request(session=session))
    else:
        from simple_salesforce import SalesforceLogin
        class ToEmulator(HTTPAdapter):
            def send(self, request, **kwargs):
                request.url = request.url.replace("https://login.salesforce.com", spec["url"], 1)
                return super().send(request, **kwargs)
        session.mount("https://login.salesforce.com/", ToEmulator())
        SalesforceLogin(username=spec["username"], consumer_key=spec["consumer_key"],
                        privatekey_file=spec["key_file"], session=session)
    print("ok")
    """
)


def processes(emulator: Any, provider: str, client: str, extra: Dict[str, str], count: int) -> Tuple[int, int]:
    """Token calls and failed processes when *count* processes of *client* start at once."""
    with tempfile.TemporaryDirectory(prefix="bench-vendors-jwt-") as where:
        base = Path(where)
        spec = {
            "client": client,
            "provider": provider,
            "environ": emulator.environ(),
            "verify": emulator.verify,
            "cache": str(base / "cache"),
            "ready": str(base / "ready-"),
            "go": str(base / "go"),
            "url": emulator.url,
            **extra,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "SALESFORCE_", "REQUESTS_CA"))}
        env["PYTHONPATH"] = str(ROOT)
        before = emulator.token_calls
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(count)
        ]
        failed = 0
        try:
            deadline = time.monotonic() + REQUEST_TIMEOUT
            while len(list(base.glob("ready-*"))) < count and time.monotonic() < deadline:
                if any(proc.poll() is not None for proc in procs):
                    break
                time.sleep(0.02)
            (base / "go").touch()
            for proc in procs:
                out, _ = proc.communicate(timeout=REQUEST_TIMEOUT)
                failed += proc.returncode != 0 or out.strip() != "ok"
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        return emulator.token_calls - before, failed


def google_processes(latency: float, count: int) -> List[Tuple[str, int, int]]:
    from requests_multiauth.testing import GoogleServiceAccountEmulator

    with GoogleServiceAccountEmulator(latency=latency) as google:
        extra = {"key_file": google.key_file}
        return [
            ("requests_multiauth + FileTokenCache", *processes(google, "google-service-account", "ours", extra, count)),
            ("google-auth Credentials", *processes(google, "google-service-account", "google-auth", extra, count)),
        ]


def salesforce_processes(latency: float, count: int) -> List[Tuple[str, int, int]]:
    from requests_multiauth.testing import SalesforceEmulator

    with SalesforceEmulator(latency=latency) as org:
        extra = {"key_file": org.key_file, "username": org.username, "consumer_key": org.consumer_key}
        return [
            ("requests_multiauth + FileTokenCache", *processes(org, "salesforce", "ours", extra, count)),
            ("simple-salesforce SalesforceLogin", *processes(org, "salesforce", "simple-salesforce", extra, count)),
        ]


# -- per-request CPU ---------------------------------------------------------------------------------


def google_cpu(count: int) -> Dict[str, float]:
    """Microseconds of client CPU per request with a valid token, per client."""
    from google.auth.transport.requests import AuthorizedSession
    from google.auth.transport.requests import Request as GoogleTransport
    from google.oauth2 import service_account

    from requests_multiauth.testing import GoogleServiceAccountEmulator

    with GoogleServiceAccountEmulator() as google:
        url = google.api_url + "bench"
        ours = _session(google.verify)
        ours.auth = google.auth(session=_session(google.verify))
        credentials = service_account.Credentials.from_service_account_file(google.key_file, scopes=["api"])
        peer = AuthorizedSession(credentials, auth_request=GoogleTransport(session=_session(google.verify)))
        peer.verify = google.verify
        peer.trust_env = False
        fixed = _session(google.verify)
        assert ours.get(url, timeout=REQUEST_TIMEOUT).ok
        fixed.headers["Authorization"] = "Bearer " + ours.auth.get_token().access_token  # type: ignore[union-attr]
        clients: Dict[str, requests.Session] = {
            "fixed header (floor)": fixed,
            "requests_multiauth GoogleServiceAccountAuth": ours,
            "google-auth AuthorizedSession": peer,
        }
        for session in clients.values():  # warm-up: tokens fetched, connections open
            for _ in range(10):
                session.get(url, timeout=REQUEST_TIMEOUT).raise_for_status()
        spent = {name: 0.0 for name in clients}
        names = list(clients)
        for number in range(count):
            for name in names[number % len(names) :] + names[: number % len(names)]:
                started = time.thread_time()
                response = clients[name].get(url, timeout=REQUEST_TIMEOUT)
                spent[name] += time.thread_time() - started
                if not response.ok:
                    raise RuntimeError(f"{name}: HTTP {response.status_code}")
        return {name: spent[name] / count * 1e6 for name in names}


# -- the report --------------------------------------------------------------------------------------


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def render(
    args: argparse.Namespace,
    results: Dict[str, List[List[Tuple[str, int, int]]]],
    cpu: List[Dict[str, float]],
    seconds: float,
) -> str:
    lines = [
        "# JWT-bearer presets next to their vendors' SDKs: token calls",
        "",
        f"`python -m benchmarks.vendors_jwt --rounds {args.rounds} --threads {args.threads} "
        f"--processes {args.processes} --requests {args.requests} --latency {args.latency}`, {seconds:.0f} s, on "
        f"{os.cpu_count()} CPUs {platform.machine()} ({platform.system()}), Python {platform.python_version()}; "
        f"requests_multiauth, google-auth {_version('google-auth')}, "
        f"simple-salesforce {_version('simple-salesforce')}. Token endpoint latency {args.latency} s.",
        "",
        "Token calls and failed requests (or processes) per round; see the module docstring for the scenarios.",
        "",
        "| scenario | client | token calls per round | failures per round |",
        "|---|---|---|---|",
    ]
    for scenario, rounds in results.items():
        names = [name for name, _, _ in rounds[0]]
        for index, name in enumerate(names):
            calls = ", ".join(str(r[index][1]) for r in rounds)
            failures = ", ".join(str(r[index][2]) for r in rounds)
            lines.append(f"| {scenario} | {name} | {calls} | {failures} |")
    if cpu:
        lines += [
            "",
            f"Client CPU per request with a valid token (the requesting thread's, Google emulator, "
            f"{args.requests} requests per client per round, interleaved), µs per round:",
            "",
            "| client | µs per request | ÷ fixed header |",
            "|---|---|---|",
        ]
        for name in cpu[0]:
            values = ", ".join(f"{r[name]:.0f}" for r in cpu)
            ratios = ", ".join(f"{r[name] / r['fixed header (floor)']:.2f}" for r in cpu)
            lines.append(f"| {name} | {values} | {ratios} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the token endpoints take to answer")
    parser.add_argument("--requests", type=int, default=300, help="requests per client per round (CPU)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    started = time.monotonic()
    scenarios: Dict[str, Callable[[], List[Tuple[str, int, int]]]] = {
        f"Google, {args.threads} threads after expiry": lambda: google_threads(args.latency, args.threads),
        f"Salesforce, {args.threads} threads after the sessions end": lambda: salesforce_threads(
            args.latency, args.threads
        ),
        f"Google, {args.processes} processes": lambda: google_processes(args.latency, args.processes),
        f"Salesforce, {args.processes} processes": lambda: salesforce_processes(args.latency, args.processes),
    }
    results: Dict[str, List[List[Tuple[str, int, int]]]] = {name: [] for name in scenarios}
    cpu: List[Dict[str, float]] = []
    for number in range(args.rounds):
        for name, run in scenarios.items():
            rows = run()
            results[name].append(rows)
            print(f"round {number + 1}, {name}: " + "; ".join(f"{n} {c} calls {f} failed" for n, c, f in rows))
        cpu.append(google_cpu(args.requests))
        print(f"round {number + 1}, CPU: " + "; ".join(f"{n} {us:.0f} µs" for n, us in cpu[-1].items()))
    report = render(args, results, cpu, time.monotonic() - started)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "VENDORS_JWT_RESULTS.md"
    path.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
