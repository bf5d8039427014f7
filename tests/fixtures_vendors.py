"""What every vendor preset's tests share: the burst after expiry, processes sharing a
FileTokenCache, and the registry round trip. Used by test_zoom.py, test_entra_id.py and
test_github_app.py; each passes its emulator and one API request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

import requests

from requests_multiauth.testing import ManualClock, ProviderEmulator

#: Threads that want a token at once right after it expired.
BURST_THREADS = 32

#: Processes that share one FileTokenCache.
PROCESSES = 8

#: How long any wait in these helpers may take, in seconds (bounded loops only).
WAIT = 60.0

Send = Callable[[requests.Session, Any], requests.Response]


def burst_after_expiry(provider: ProviderEmulator, auth: Any, clock: ManualClock, send: Send) -> List[int]:
    """One request, then the token expires (on *clock*, shared by *provider* and *auth*), then
    BURST_THREADS threads send at once. Returns the statuses of the burst; the caller checks
    the provider's counters."""
    session = provider.api_session()
    assert send(session, auth).status_code in (200, 201)
    clock.advance(provider.lifetime + 1)
    barrier = threading.Barrier(BURST_THREADS, timeout=WAIT)
    statuses: List[int] = []
    failures: List[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            barrier.wait()
            status = send(session, auth).status_code
            with lock:
                statuses.append(status)
        except BaseException as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(BURST_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a thread of the burst did not finish in time"
    assert failures == [], failures
    return statuses


_WORKER = """
import json, os, sys, time
from requests_multiauth import FileTokenCache, get_provider
environ = json.loads(os.environ["VENDOR_ENVIRON"])
go = os.environ["VENDOR_GO"]
deadline = time.monotonic() + float(os.environ["VENDOR_WAIT"])
auth = get_provider(os.environ["VENDOR_PROVIDER"]).auth_class.from_env(
    environ, cache=FileTokenCache(os.environ["VENDOR_CACHE"])
)
open(os.environ["VENDOR_READY"], "w").close()
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.01)
token = auth.get_token()
print(json.dumps({"ok": True, "expires_at": token.expires_at}))
"""


def processes_share_a_file_cache(provider: str, environ: Mapping[str, str], tmp_path: Path) -> List[Dict[str, Any]]:
    """PROCESSES real processes build *provider*'s auth from *environ* with one FileTokenCache
    and ask for a token at the same moment. Returns what each printed."""
    go = tmp_path / "go"
    procs = []
    env = {key: value for key, value in os.environ.items() if key not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    readies = []
    for number in range(PROCESSES):
        ready = tmp_path / f"ready-{number}"
        readies.append(ready)
        env_n = {
            **env,
            "VENDOR_ENVIRON": json.dumps(dict(environ)),
            "VENDOR_PROVIDER": provider,
            "VENDOR_CACHE": str(tmp_path / "tokens.json"),
            "VENDOR_GO": str(go),
            "VENDOR_READY": str(ready),
            "VENDOR_WAIT": str(WAIT),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER], env=env_n, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        import time

        deadline = time.monotonic() + WAIT
        while not all(ready.exists() for ready in readies):
            assert time.monotonic() < deadline, "the processes did not get ready in time"
            assert all(proc.poll() is None for proc in procs), [proc.communicate() for proc in procs]
            time.sleep(0.02)
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=WAIT)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
