"""Google workload identity federation: token calls of requests_multiauth and of google-auth, side by side.

::

    python -m benchmarks.vendors_google_external_account            # 32 threads, 8 processes, 3 rounds
    python -m benchmarks.vendors_google_external_account --threads 8 --processes 2 --rounds 1 --output /tmp

Both clients use the same ``external_account`` configuration (a file credential source,
service account impersonation) against the same local Google STS + IAM Credentials
(:class:`~requests_multiauth.testing.GoogleStsEmulator`, HTTPS on loopback, a throwaway
trustme CA, each token endpoint answering after ``--latency`` seconds), each through its
documented requests integration:

* ``requests_multiauth``: ``GoogleExternalAccountAuth.from_file(path)`` as the ``auth``
  of a ``requests.Session`` shared by the threads;
* ``google-auth``: ``identity_pool.Credentials.from_file(path, scopes=...)`` in one
  ``google.auth.transport.requests.AuthorizedSession`` shared by the threads.

Scenarios, every round, the clients in rotating order:

* **first use**: ``--threads`` threads send one API request each at the same moment, no
  token held yet;
* **right after expiry**: the same once every token has expired (the emulator's and our
  clock moved by a ``ManualClock``; google-auth's clock, ``google.auth._helpers.utcnow``,
  moved by the same amount for the run of the scenario);
* **processes**: ``--processes`` fresh interpreters each send one API request, ours with a
  ``FileTokenCache`` in one directory (google-auth has no cache shared between processes).

Measured: the STS and IAM calls the emulator received, and failed API requests. Not
timed: the figures are call counts. Results go to
``benchmarks/VENDORS_GOOGLE_EXTERNAL_ACCOUNT.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "VENDORS_GOOGLE_EXTERNAL_ACCOUNT.md"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"

#: How long any thread or process may take; a run that outlives it fails instead of hanging.
WAIT = 120.0

#: How far the clocks move for "right after expiry": past the tokens' hour and google-auth's
#: early-refresh margin (3 min 45 s).
EXPIRY_JUMP = 3600 + 300


@dataclass
class Row:
    scenario: str
    client: str
    round: int
    sts_calls: int
    iam_calls: int
    failures: int


def _storm(threads: int, send: Callable[[], int]) -> int:
    """*threads* threads call *send* at once; returns how many did not get a 200."""
    barrier = threading.Barrier(threads)
    statuses: List[int] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(WAIT)
            status = send()
        except Exception:  # a failure is counted, not raised
            status = 0
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
        if worker.is_alive():
            raise RuntimeError("a thread outlived its bound")
    return sum(1 for status in statuses if status != 200)


@contextlib.contextmanager
def _google_clock_moved(seconds: float) -> Iterator[None]:
    """google-auth's clock moved forward by *seconds* (it reads ``_helpers.utcnow``)."""
    from google.auth import _helpers

    original = _helpers.utcnow

    def later() -> datetime.datetime:
        return original() + datetime.timedelta(seconds=seconds)

    _helpers.utcnow = later
    try:
        yield
    finally:
        _helpers.utcnow = original


class Clients:
    """The two clients on one emulator, rebuilt for every round."""

    def __init__(self, emulator: Any, config_path: str) -> None:
        from google.auth import identity_pool
        from google.auth.transport.requests import AuthorizedSession
        from google.auth.transport.requests import Request as GoogleRequest

        from requests_multiauth import GoogleExternalAccountAuth

        self.emulator = emulator
        ours = requests.Session()
        ours.verify = emulator.verify
        ours.trust_env = False
        ours.auth = GoogleExternalAccountAuth.from_file(
            config_path, scopes=[SCOPE], verify=emulator.verify, clock=emulator.clock
        )
        token_session = requests.Session()
        token_session.verify = emulator.verify
        token_session.trust_env = False
        credentials = identity_pool.Credentials.from_file(config_path, scopes=[SCOPE])
        theirs = AuthorizedSession(credentials, auth_request=GoogleRequest(token_session))
        theirs.verify = emulator.verify
        theirs.trust_env = False
        self.sessions: Dict[str, requests.Session] = {"requests_multiauth": ours, "google-auth": theirs}

    def send(self, name: str) -> int:
        return int(self.sessions[name].get(self.emulator.api_url + "b/bench/o", timeout=WAIT).status_code)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()


#: What each process of the processes scenario runs: one API request through one client.
_SCRIPT = """
import json, sys
import requests
environ, client, cache_dir, api = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ca = environ["GOOGLE_EXTERNAL_ACCOUNT_CA_BUNDLE"]
if client == "requests_multiauth":
    from requests_multiauth import FileTokenCache, GoogleExternalAccountAuth
    auth = GoogleExternalAccountAuth.from_env(environ, scopes=SCOPE_LIST, cache=FileTokenCache(cache_dir))
    status = requests.get(api, auth=auth, verify=ca, timeout=60).status_code
else:
    from google.auth import identity_pool
    from google.auth.transport.requests import AuthorizedSession, Request
    token_session = requests.Session()
    token_session.verify = ca
    token_session.trust_env = False  # else REQUESTS_CA_BUNDLE would replace the CA
    credentials = identity_pool.Credentials.from_file(environ["GOOGLE_APPLICATION_CREDENTIALS"], scopes=SCOPE_LIST)
    session = AuthorizedSession(credentials, auth_request=Request(token_session))
    status = session.get(api, verify=ca, timeout=60).status_code
print(status)
"""


def _processes(emulator: Any, environ: Dict[str, str], count: int, client: str, cache_dir: str) -> int:
    script = _SCRIPT.replace("SCOPE_LIST", repr([SCOPE]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, json.dumps(environ), client, cache_dir, emulator.api_url + "b/bench/o"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    failures = 0
    for proc in procs:
        out, err = proc.communicate(timeout=WAIT)
        if out.strip() != "200":
            failures += 1
            print(f"a {client} process failed: {err.strip().splitlines()[-1:]}", file=sys.stderr)
    return failures


def run(threads: int = 32, processes: int = 8, rounds: int = 3, latency: float = 0.2) -> List[Row]:
    """Every scenario, *rounds* times; the rows of the results table."""
    from requests_multiauth.testing import GoogleStsEmulator, ManualClock

    rows: List[Row] = []
    clients_order = ["requests_multiauth", "google-auth"]
    for number in range(1, rounds + 1):
        order = clients_order if number % 2 else clients_order[::-1]
        for client in order:
            clock = ManualClock()
            with GoogleStsEmulator(clock=clock) as emulator, tempfile.TemporaryDirectory() as scratch:
                emulator.latency = latency
                environ = emulator.environ()
                clients = Clients(emulator, environ["GOOGLE_APPLICATION_CREDENTIALS"])
                try:
                    emulator.reset()
                    emulator.latency = latency
                    failed = _storm(threads, functools.partial(clients.send, client))
                    rows.append(Row("first use", client, number, emulator.sts_calls, emulator.iam_calls, failed))
                    clock.advance(EXPIRY_JUMP)
                    emulator.environ()  # the platform rotates the subject token file, as a kubelet does
                    emulator.reset()
                    emulator.latency = latency
                    with _google_clock_moved(EXPIRY_JUMP):
                        failed = _storm(threads, functools.partial(clients.send, client))
                    rows.append(
                        Row("right after expiry", client, number, emulator.sts_calls, emulator.iam_calls, failed)
                    )
                finally:
                    clients.close()
            with GoogleStsEmulator() as emulator, tempfile.TemporaryDirectory() as scratch:
                environ = emulator.environ()
                emulator.reset()
                failed = _processes(emulator, environ, processes, client, os.path.join(scratch, "tokens"))
                rows.append(
                    Row(f"{processes} processes", client, number, emulator.sts_calls, emulator.iam_calls, failed)
                )
    return rows


def report(rows: List[Row], *, threads: int, processes: int, latency: float, command: str) -> str:
    versions = {name: _version(name) for name in ("requests-multiauth", "google-auth", "requests")}
    lines = [
        "# Google workload identity federation: token calls, requests_multiauth and google-auth",
        "",
        f"Command: `{command}`",
        "",
        f"{threads} threads per storm, {processes} processes, token endpoints answering after {latency} s; "
        "STS and IAM calls counted by the emulator. Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f"; Python {sys.version.split()[0]}.",
        "",
        "| scenario | client | round | STS calls | IAM calls | failed requests |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.scenario} | {row.client} | {row.round} | {row.sts_calls} | {row.iam_calls} | {row.failures} |"
        )
    lines += [
        "",
        "requests_multiauth's processes share a `FileTokenCache`; google-auth has no cache shared "
        "between processes, so each process makes its own calls.",
        "",
    ]
    return "\n".join(lines)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vendors_google_external_account")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    rows = run(args.threads, args.processes, args.rounds, args.latency)
    command = "python -m benchmarks.vendors_google_external_account " + " ".join(argv or sys.argv[1:])
    text = report(rows, threads=args.threads, processes=args.processes, latency=args.latency, command=command.strip())
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / RESULTS).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
