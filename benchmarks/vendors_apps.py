"""Zoom, Entra ID and GitHub Apps: token calls after expiry and across processes, ours next to the vendors' SDKs.

::

    python -m benchmarks.vendors_apps                     # what benchmarks/VENDORS_APPS.md shows
    python -m benchmarks.vendors_apps --threads 8 --processes 2 --output /tmp/out   # a quick look

Every contender runs against the same local emulator (``requests_multiauth.testing``:
HTTPS on loopback, a token endpoint that answers after ``--latency`` seconds):

* **burst**: a first request gets a token; then, once the token is due for renewal by
  the contender's own rule, ``--threads`` threads send one API request each at the same
  moment. Measured: token calls made for the burst, and failed requests. Each
  contender is given a token lifetime that makes it due ``--due`` seconds after it was
  issued: ours renew at expiry (3 s tokens); msal and azure-identity treat a token as
  expired 300 s before its end (302 s tokens); PyGithub renews installation tokens 20 s
  before their end (22 s tokens).
* **processes**: ``--processes`` processes start together and each needs a token.
  Ours share a :class:`~requests_multiauth.FileTokenCache`; the SDKs keep their tokens
  in each process's memory (azure-identity's persistent cache needs msal-extensions and
  an OS keyring; PyGithub has none). Measured: token calls in all.

Contenders, through their documented use with requests: ``EntraIdAuth`` /
``ZoomAuth`` / ``GitHubAppAuth`` as ``session.auth``; azure-identity's
``ClientSecretCredential.get_token(scope)`` before each request, as its docs show for
plain ``requests``; msal's ``acquire_token_for_client`` before each request; PyGithub's
``Github(auth=AppAuth(...).get_installation_auth(id))`` for each API call. zoomus is
left out: it fetches one token at construction and never renews it by itself.
"""

from __future__ import annotations

import argparse
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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
GRAPH = "https://graph.microsoft.com/.default"

#: Bounds on every wait of a run, in seconds.
WAIT = 120.0


@dataclass
class Row:
    preset: str
    contender: str
    scenario: str
    token_calls: int
    failed: int
    note: str = ""


# -- the contenders: (make a "send one request" callable, lifetime) per preset ----------------------------

Send = Callable[[], int]


def _ours(emulator: Any, path: str) -> Callable[[], Send]:
    def make() -> Send:
        auth = emulator.auth()
        session = emulator.api_session()
        return lambda: session.get(emulator.api_url.rstrip("/") + "/" + path.lstrip("/"), auth=auth).status_code

    return make


def _azure_identity(entra: Any) -> Callable[[], Send]:
    def make() -> Send:
        from azure.identity import ClientSecretCredential

        credential = ClientSecretCredential(
            entra.tenant_id,
            entra.client_id,
            entra.client_secret,
            authority=entra.authority,
            disable_instance_discovery=True,
            connection_verify=entra.verify,
        )
        session = entra.api_session()

        def send() -> int:
            token = credential.get_token(GRAPH).token  # as azure-identity's docs show for plain requests
            return session.get(entra.api_url + "me", headers={"Authorization": f"Bearer {token}"}).status_code

        return send

    return make


def _msal(entra: Any) -> Callable[[], Send]:
    def make() -> Send:
        import msal

        session = entra.api_session()
        app = msal.ConfidentialClientApplication(
            entra.client_id,
            client_credential={"private_key_pfx_path": entra.pfx_path, "passphrase": entra.pfx_password},
            authority=f"{entra.authority}/{entra.tenant_id}",
            http_client=session,
            instance_discovery=False,
        )

        def send() -> int:
            answer = app.acquire_token_for_client(scopes=[GRAPH])
            token = answer["access_token"]
            return session.get(entra.api_url + "me", headers={"Authorization": f"Bearer {token}"}).status_code

        return send

    return make


def _pygithub(github: Any) -> Callable[[], Send]:
    def make() -> Send:
        from github import Auth, Github

        installation = github.installation("octo-org").id
        auth = Auth.AppAuth(github.app_id, github.private_key).get_installation_auth(installation)
        client = Github(auth=auth, base_url=github.url, verify=github.verify, pool_size=64)

        def send() -> int:
            client.get_repo("octo-org/hello-world")  # not lazy: one API call
            return 200

        return send

    return make


def burst(
    emulator: Any, make: Callable[[], Send], *, lifetime: float, due: float, threads: int, latency: float
) -> Tuple[int, int]:
    """Token calls made by *threads* requests sent together once the token is due; failed requests."""
    emulator.reset()
    emulator.lifetime = lifetime
    send = make()
    assert send() in (200, 201)
    time.sleep(due + 0.3)
    emulator.latency = latency
    before = emulator.token_calls
    barrier = threading.Barrier(threads, timeout=WAIT)
    failed: List[int] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            barrier.wait()
            status = send()
        except Exception:
            status = -1
        if status not in (200, 201):
            with lock:
                failed.append(status)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError("a thread of the burst did not finish in time")
    emulator.latency = 0.0
    return emulator.token_calls - before, len(failed)


# -- processes ---------------------------------------------------------------------------------------

_OURS_WORKER = """
import json, os, sys
from requests_multiauth import FileTokenCache, get_provider
auth = get_provider(sys.argv[1]).auth_class.from_env(json.loads(os.environ["BENCH_ENVIRON"]),
                                                   cache=FileTokenCache(os.environ["BENCH_CACHE"]))
sys.stdin.readline()
auth.get_token()
print("ok")
"""

_AZURE_WORKER = """
import json, os, sys
from azure.identity import ClientSecretCredential
e = json.loads(os.environ["BENCH_ENVIRON"])
credential = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"], e["AZURE_CLIENT_SECRET"],
                                    authority=e["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
                                    connection_verify=e["ENTRA_ID_CA_BUNDLE"])
sys.stdin.readline()
credential.get_token("https://graph.microsoft.com/.default")
print("ok")
"""

_PYGITHUB_WORKER = """
import json, os, sys
from github import Auth, GithubIntegration
e = json.loads(os.environ["BENCH_ENVIRON"])
integration = GithubIntegration(auth=Auth.AppAuth(e["GITHUB_APP_ID"], open(e["GITHUB_APP_PRIVATE_KEY_PATH"]).read()),
                                base_url=e["GITHUB_API_URL"], verify=e["GITHUB_APP_CA_BUNDLE"])
sys.stdin.readline()
integration.get_access_token(int(e["BENCH_INSTALLATION"]))
print("ok")
"""


def processes(
    emulator: Any, script: str, args: Sequence[str], environ: Dict[str, str], count: int, cache: Path
) -> Tuple[int, int]:
    """Token calls when *count* processes running *script* need a token at once; processes that failed."""
    emulator.reset()
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(BENCH_ENVIRON=json.dumps(environ), BENCH_CACHE=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    time.sleep(min(WAIT, 2.0 + 0.5 * count))  # let every process import and build its auth
    failed = 0
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out = ""
        failed += 0 if proc.returncode == 0 and "ok" in out else 1
    return emulator.token_calls, failed


# -- the run ------------------------------------------------------------------------------------------


def run(threads: int, count: int, latency: float, due: float, workdir: Path) -> List[Row]:
    from requests_multiauth.testing import EntraIdEmulator, GitHubEmulator, ZoomEmulator

    rows: List[Row] = []
    with ZoomEmulator() as zoom, EntraIdEmulator() as entra, GitHubEmulator() as github:
        ours = [
            ("zoom", zoom, "users/me"),
            ("entra-id", entra, "me"),
            ("github-app", github, "octo-org/hello-world"),
        ]
        for name, emulator, path in ours:
            calls, failed = burst(
                emulator, _ours(emulator, path), lifetime=due, due=due, threads=threads, latency=latency
            )
            rows.append(Row(name, "requests_multiauth", "burst", calls, failed))
        peers = [
            ("entra-id", entra, "azure-identity", _azure_identity(entra), 300 + due),
            ("entra-id", entra, "msal", _msal(entra), 300 + due),
            ("github-app", github, "PyGithub", _pygithub(github), 20 + due),
        ]
        for name, emulator, label, make, lifetime in peers:
            calls, failed = burst(emulator, make, lifetime=lifetime, due=due, threads=threads, latency=latency)
            rows.append(Row(name, label, "burst", calls, failed))
        for name, emulator, _ in ours:
            emulator.lifetime = emulator.default_lifetime
            cache = workdir / f"{name}-tokens.json"
            cache.unlink(missing_ok=True)
            calls, failed = processes(emulator, _OURS_WORKER, [name], emulator.environ(), count, cache)
            rows.append(Row(name, "requests_multiauth", "processes", calls, failed, "FileTokenCache"))
        calls, failed = processes(entra, _AZURE_WORKER, [], entra.environ(), count, workdir / "unused")
        rows.append(Row("entra-id", "azure-identity", "processes", calls, failed, "in-memory per process"))
        environ = {**github.environ(), "BENCH_INSTALLATION": str(github.installation("octo-org").id)}
        calls, failed = processes(github, _PYGITHUB_WORKER, [], environ, count, workdir / "unused")
        rows.append(Row("github-app", "PyGithub", "processes", calls, failed, "in-memory per process"))
    return rows


def versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("requests-multiauth", "azure-identity", "msal", "PyGithub", "requests"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def report(rows: List[Row], threads: int, count: int, latency: float, command: str) -> str:
    lines = [
        "# Vendor presets: Zoom, Entra ID, GitHub Apps",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "Versions: " + ", ".join(f"{name} {value}" for name, value in versions().items()),
        f"Token endpoint latency: {latency} s",
        "",
        f"## {threads} threads right after expiry",
        "",
        "| preset | contender | token calls for the burst | failed requests |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.preset} | {r.contender} | {r.token_calls} | {r.failed} |" for r in rows if r.scenario == "burst"]
    lines += [
        "",
        f"## {count} processes needing a token at once",
        "",
        "| preset | contender | cache | token calls in all | failed processes |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.preset} | {r.contender} | {r.note} | {r.token_calls} | {r.failed} |"
        for r in rows
        if r.scenario == "processes"
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vendors_apps", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the token endpoint takes (default 0.2)")
    parser.add_argument("--due", type=float, default=3.0, help="seconds after issue a token is due (default 3)")
    parser.add_argument("--output", type=Path, default=HERE)
    options = parser.parse_args(argv)
    options.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vendors-apps-") as scratch:  # the token caches: never the output
        rows = run(options.threads, options.processes, options.latency, options.due, Path(scratch))
    command = "python -m benchmarks.vendors_apps" + (" " + " ".join(argv) if argv else "")
    text = report(rows, options.threads, options.processes, options.latency, command)
    (options.output / "VENDORS_APPS.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
