"""Cloud metadata presets next to the vendors' SDKs: token calls after expiry, across threads and processes.

::

    python -m benchmarks.vendors_metadata                 # writes benchmarks/VENDORS_METADATA.md
    python -m benchmarks.vendors_metadata --threads 8 --processes 2 --output /tmp/x   # a quick look

Two scenarios, each run for every client side by side in one run, against the
emulators of :mod:`requests_multiauth.testing` (the metadata server over plain HTTP
on loopback, reached through the platform's variable as the SDKs allow; the API over
HTTPS with a throwaway CA):

* **threads**: one client per row; a first request gets a token that lives
  ``--short`` seconds; once it has expired (the metadata server now gives tokens of
  ``--lifetime`` seconds), ``--threads`` threads each send one API request at once.
  Counted by the metadata server: token calls (and, for google-auth, the account-info
  calls it makes before each token call), and failed requests.
* **processes**: ``--processes`` fresh interpreters each build a client and get one
  token at the same moment. ``requests_multiauth`` shares a ``FileTokenCache``; the
  SDKs have no cross-process cache, so each process asks.

The clients, each through its documented use with requests:

* ``GoogleMetadataAuth`` / ``AzureManagedIdentityAuth`` as ``auth=`` of a ``requests.Session``;
* google-auth: ``AuthorizedSession(compute_engine.Credentials())`` (access token) and
  ``AuthorizedSession(compute_engine.IDTokenCredentials(..., use_metadata_identity_endpoint=True))``;
* azure-identity: ``ManagedIdentityCredential().get_token(scope)`` for each request's
  ``Authorization`` header (its documented API; it keeps the token in msal's cache).

Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import requests

from requests_multiauth import AzureManagedIdentityAuth, GoogleMetadataAuth
from requests_multiauth.testing import AzureManagedIdentityEmulator, GoogleMetadataEmulator

HERE = Path(__file__).resolve().parent
AUDIENCE = "https://service-abc.a.run.app"
RESOURCE = "https://management.azure.com"
#: The most a burst of threads may take before the run fails instead of hanging.
BURST_TIMEOUT = 120.0


@dataclass
class Row:
    """One client's figures in one scenario."""

    scenario: str
    platform: str
    client: str
    token_calls: int
    other_calls: int
    failed: int
    seconds: float


@dataclass
class Client:
    """How to make one client: a platform, a name, and a factory of (session, auth-or-None)."""

    platform: str
    name: str
    make: Callable[[Any], Tuple[requests.Session, Any]]


class _BearerFrom(requests.auth.AuthBase):
    """The Authorization header from an azure-identity credential's get_token(scope), per request."""

    def __init__(self, credential: Any, scope: str) -> None:
        self.credential = credential
        self.scope = scope

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Bearer " + self.credential.get_token(self.scope).token
        return request


def _google_auth_at(environ: Dict[str, str]) -> None:
    """Point google-auth at the emulator: it reads GCE_METADATA_HOST when its module loads."""
    os.environ.update(environ)
    os.environ["GCE_METADATA_IP"] = next(iter(environ.values()))  # fetch_id_token pings the server there first
    os.environ["GCE_METADATA_MTLS_MODE"] = "none"
    from google.auth.compute_engine import _metadata

    importlib.reload(_metadata)


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _clients() -> List[Client]:
    def ours_google(emulator: Any, **options: Any) -> Tuple[requests.Session, Any]:
        session = emulator.api_session()
        return session, GoogleMetadataAuth(environ=emulator.environ(), **options)

    def peer_google(emulator: Any, *, id_token: bool = False) -> Tuple[requests.Session, Any]:
        from google.auth import compute_engine
        from google.auth.transport.requests import AuthorizedSession, Request

        _google_auth_at(emulator.environ())
        if id_token:
            credentials: Any = compute_engine.IDTokenCredentials(
                Request(), AUDIENCE, use_metadata_identity_endpoint=True
            )
        else:
            credentials = compute_engine.Credentials()
        session = AuthorizedSession(credentials)
        session.verify = emulator.verify
        session.trust_env = False
        return session, None

    def ours_azure(emulator: Any) -> Tuple[requests.Session, Any]:
        return emulator.api_session(), AzureManagedIdentityAuth(resource=RESOURCE, environ=emulator.environ())

    def peer_azure(emulator: Any) -> Tuple[requests.Session, Any]:
        from azure.identity import ManagedIdentityCredential

        return emulator.api_session(), _BearerFrom(ManagedIdentityCredential(), RESOURCE + "/.default")

    clients = [
        Client("google access token", "requests_multiauth", ours_google),
        Client("google ID token", "requests_multiauth", lambda e: ours_google(e, target_audience=AUDIENCE)),
    ]
    if _available("google.auth"):
        clients += [
            Client("google access token", "google-auth", peer_google),
            Client("google ID token", "google-auth", lambda e: peer_google(e, id_token=True)),
        ]
    for where in ("imds", "app_service"):
        clients.append(Client(f"azure {where}", "requests_multiauth", ours_azure))
        if _available("azure.identity"):
            clients.append(Client(f"azure {where}", "azure-identity", peer_azure))
    return clients


def _emulator(client: Client) -> Any:
    if client.platform.startswith("google"):
        return GoogleMetadataEmulator()
    return AzureManagedIdentityEmulator(platform=client.platform.split(" ", 1)[1])


@contextlib.contextmanager
def _metadata_environment(emulator: Any) -> Iterator[None]:
    """The platform's variables in os.environ while a client runs (azure-identity reads them there)."""
    saved = dict(os.environ)
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "MSI_ENDPOINT"):
        os.environ.pop(name, None)
    os.environ.update(emulator.environ())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if "google.auth.compute_engine._metadata" in sys.modules:  # read GCE_METADATA_HOST anew, as it was
            importlib.reload(sys.modules["google.auth.compute_engine._metadata"])


def burst(client: Client, threads: int, short: float, lifetime: float) -> Row:
    """The threads scenario for one client."""
    with _emulator(client) as emulator, _metadata_environment(emulator):
        emulator.lifetime = short
        session, auth = client.make(emulator)
        session.get(emulator.api_url + "warm", auth=auth, timeout=30).raise_for_status()
        time.sleep(short + 0.5)  # the first token has expired
        emulator.lifetime = lifetime
        emulator.metadata_server.clear()
        before = emulator.token_calls
        barrier = threading.Barrier(threads, timeout=30)
        failed: List[int] = []
        lock = threading.Lock()

        def call() -> None:
            try:
                barrier.wait()
                ok = session.get(emulator.api_url + "x", auth=auth, timeout=30).status_code == 200
            except Exception:  # a failed request is what is counted
                ok = False
            if not ok:
                with lock:
                    failed.append(1)

        workers = [threading.Thread(target=call) for _ in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=BURST_TIMEOUT)
            if worker.is_alive():
                raise RuntimeError(f"{client.name} on {client.platform}: a thread outlived {BURST_TIMEOUT} s")
        seconds = time.perf_counter() - started
        token_calls = emulator.token_calls - before
        other = len(emulator.metadata_server.received()) - token_calls
        return Row("threads", client.platform, client.name, token_calls, other, len(failed), seconds)


#: One process of the processes scenario: build the client, wait for the start file, get a token.
_PROCESS = """
import json, os, sys, time
from pathlib import Path
platform, name, start, directory = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[5]
environ, audience, resource = json.loads(sys.argv[4]), sys.argv[6], sys.argv[7]
os.environ.update(environ)
os.environ["GCE_METADATA_MTLS_MODE"] = "none"
if name == "requests_multiauth":
    from requests_multiauth import AzureManagedIdentityAuth, FileTokenCache, GoogleMetadataAuth
    cache = FileTokenCache(directory)
    if platform.startswith("google"):
        options = {"target_audience": audience} if "ID" in platform else {}
        get = GoogleMetadataAuth(cache=cache, **options).get_token
    else:
        get = AzureManagedIdentityAuth(resource=resource, cache=cache).get_token
elif name == "google-auth":
    from google.auth import compute_engine
    from google.auth.transport.requests import Request
    if "ID" in platform:
        credentials = compute_engine.IDTokenCredentials(Request(), audience, use_metadata_identity_endpoint=True)
    else:
        credentials = compute_engine.Credentials()
    get = lambda: credentials.refresh(Request())
else:
    from azure.identity import ManagedIdentityCredential
    credential = ManagedIdentityCredential()
    get = lambda: credential.get_token(resource + "/.default")
print("ready", flush=True)
deadline = time.monotonic() + 60
while not start.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
get()
print("done", flush=True)
"""


def processes(client: Client, count: int) -> Row:
    """The processes scenario for one client."""
    with _emulator(client) as emulator, tempfile.TemporaryDirectory(prefix="multiauth-bench-") as tmp:
        start = Path(tmp) / "start"
        environ = emulator.environ()
        if client.platform.startswith("google"):
            environ["GCE_METADATA_IP"] = emulator.metadata_host  # fetch_id_token pings the server there first
        # The platform's variables only: none of the other platform's may be inherited (msal tests presence).
        platform_variables = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST")
        clean = {k: v for k, v in os.environ.items() if k not in platform_variables}
        arguments = [
            client.platform,
            client.name,
            str(start),
            json.dumps(environ),
            str(Path(tmp) / "tokens"),
            AUDIENCE,
            RESOURCE,
        ]
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _PROCESS, *arguments],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**clean, **environ},
            )
            for _ in range(count)
        ]
        try:
            for child in children:
                assert child.stdout is not None
                line = child.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(
                        f"{client.name}: a process did not start: {child.stderr.read() if child.stderr else ''}"
                    )
            started = time.perf_counter()
            start.touch()
            outputs = [child.communicate(timeout=BURST_TIMEOUT) for child in children]
            seconds = time.perf_counter() - started
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
        failed = sum(1 for child, (out, _) in zip(children, outputs) if child.returncode != 0 or "done" not in out)
        token_calls = emulator.token_calls
        other = len(emulator.metadata_server.received()) - token_calls
        return Row("processes", client.platform, client.name, token_calls, other, failed, seconds)


def _versions() -> List[str]:
    from importlib.metadata import PackageNotFoundError, version

    shown = []
    for package in ("requests-multiauth", "google-auth", "azure-identity", "msal", "requests"):
        try:
            shown.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            shown.append(f"{package} (not installed)")
    return shown


def report(rows: List[Row], options: argparse.Namespace) -> str:
    lines = [
        "# Cloud metadata presets next to the vendors' SDKs",
        "",
        f"`python -m benchmarks.vendors_metadata --threads {options.threads} --processes {options.processes}"
        f" --short {options.short:g} --lifetime {options.lifetime:g}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average at the end {os.getloadavg()[0]:.1f}. "
        f"Versions: {', '.join(_versions())}.",
        "",
        f"**threads**: {options.threads} threads send one API request each, at once, right after the token "
        "expired. **processes**: "
        f"{options.processes} fresh processes each get a token at the same moment (requests_multiauth with a "
        "shared FileTokenCache; the SDKs have none). Token calls are counted by the metadata server; "
        "*other calls* are the other metadata requests a client made (google-auth reads the account's info "
        "before each access-token call). Seconds are wall time of the burst (process start-up excluded), "
        "informative only.",
        "",
        "| scenario | platform | client | token calls | other metadata calls | failed | seconds |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.scenario} | {row.platform} | {row.client} | {row.token_calls} | {row.other_calls} | "
            f"{row.failed} | {row.seconds:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)


def run(options: argparse.Namespace) -> List[Row]:
    clients = _clients()
    rows = [burst(client, options.threads, options.short, options.lifetime) for client in clients]
    rows += [processes(client, options.processes) for client in clients]
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vendors_metadata", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=32, help="threads in the burst after expiry (32)")
    parser.add_argument("--processes", type=int, default=8, help="processes getting a token at once (8)")
    parser.add_argument("--short", type=float, default=2.0, help="lifetime of the first token, seconds (2)")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="lifetime of the renewed token (3600)")
    parser.add_argument("--output", type=Path, default=HERE, help="where VENDORS_METADATA.md goes")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    options = _parser().parse_args(argv)
    rows = run(options)
    text = report(rows, options)
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "VENDORS_METADATA.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
