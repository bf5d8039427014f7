"""The guarantees every vendor preset owes, checked on its emulator: one token call for 32
threads right after expiry, one for 8 real processes sharing a FileTokenCache, and a
server-side revocation renewed once and replayed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import requests

from requests_multiauth.testing import ManualClock, ProviderEmulator

THREADS = 32
PROCESSES = 8
WAIT = 60.0

#: Run by each process: build the preset from its registry record and the emulator's
#: variables, share one FileTokenCache, wait for the go file, get a token.
_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from requests_multiauth import FileTokenCache, get_provider
    spec = json.loads(sys.argv[1])
    auth = get_provider(spec["provider"]).auth_class.from_env(spec["environ"], cache=FileTokenCache(spec["cache"]))
    open(spec["ready"] + str(os.getpid()), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(spec["go"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    token = auth.get_token()
    print(json.dumps({"expires_at": token.expires_at, "extra": dict(token.extra)}))
    """
)


def threads_after_expiry(emulator: ProviderEmulator, auth: Any, clock: ManualClock, path: str = "") -> List[int]:
    """Get a token, move the clock past its expiry, and send 32 requests at once;
    returns their statuses (the caller checks the token calls)."""
    session = emulator.api_session()
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=THREADS))
    assert session.get(emulator.api_url + path, auth=auth, timeout=WAIT).status_code == 200
    token = auth.get_token()
    clock.advance((token.expires_at or clock()) - clock() + 1)
    barrier = threading.Barrier(THREADS, timeout=WAIT)
    statuses: List[int] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        status = session.get(emulator.api_url + path, auth=auth, timeout=WAIT).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    return statuses


def processes_sharing_a_file_cache(provider: str, environ: Dict[str, str], tmp_path: Path) -> List[Dict[str, Any]]:
    """Start 8 processes that build *provider* from *environ* with one FileTokenCache,
    release them together, and return what each printed."""
    spec = {
        "provider": provider,
        "environ": environ,
        "cache": str(tmp_path / "cache"),
        "ready": str(tmp_path / "ready-"),
        "go": str(tmp_path / "go"),
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GOOGLE_", "SALESFORCE_"))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + WAIT
        while len(list(tmp_path.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                break
            time.sleep(0.02)
        (tmp_path / "go").touch()
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
