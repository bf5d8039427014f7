"""The guarantees every vendor preset owes, checked on its emulator: one token call for 32
threads right after expiry, and one for 8 real processes sharing a FileTokenCache.

Used by the tests of every vendor preset (Google service account, Salesforce, Entra ID,
GitHub App, Zoom); each passes its emulator and, where the API is not a GET of
``api_url``, the one API request to send.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, TypeVar

import requests

from requests_multiauth import get_provider
from requests_multiauth.testing import ManualClock, ProviderEmulator
from tests.fixtures_secrets import SecretWatch

E = TypeVar("E", bound=ProviderEmulator)

#: Threads that want a token at once right after it expired.
BURST_THREADS = 32

#: Processes that share one FileTokenCache.
PROCESSES = 8

#: How long any wait in these helpers may take, in seconds (bounded loops only).
WAIT = 60.0

#: One API request through a session with an auth.
Send = Callable[[requests.Session, Any], requests.Response]

#: Run by each process: build the preset from its registry record and the emulator's
#: variables, share one FileTokenCache, say it is ready, wait for the go file, get a token.
_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from requests_multiauth import FileTokenCache, get_provider
    spec = json.loads(sys.argv[1])
    auth = get_provider(spec["provider"]).auth_class.from_env(spec["environ"], cache=FileTokenCache(spec["cache"]))
    open(spec["ready"], "w").close()
    deadline = time.monotonic() + spec["wait"]
    while not os.path.exists(spec["go"]):
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.01)
    token = auth.get_token()
    print(json.dumps({"ok": True, "expires_at": token.expires_at, "extra": dict(token.extra)}))
    """
)


@contextmanager
def watched_jwt_bearer_emulator(emulator: E, secret_strings: SecretWatch) -> Iterator[E]:
    """*emulator* (of a JWT-bearer vendor: Google, Salesforce) running, with its private key,
    the assertions it received and the tokens it issued all watched as secrets."""
    with emulator:
        secret_strings.add(emulator.private_key_pem)  # type: ignore[attr-defined]
        yield emulator
        for request in emulator.token_requests():  # type: ignore[attr-defined]
            secret_strings.add(*request.form().get("assertion", []))
        secret_strings.add(*emulator._tokens)  # type: ignore[attr-defined]


def burst_after_expiry(
    emulator: ProviderEmulator, auth: Any, clock: ManualClock, send: Optional[Send] = None
) -> List[int]:
    """One request, then the token expires (on *clock*, shared by *emulator* and *auth*), then
    BURST_THREADS threads send at once. *send* makes the request (default: a GET of the
    emulator's ``api_url``). Returns the statuses of the burst; the caller checks the
    emulator's counters."""
    if send is None:
        send = lambda session, auth: session.get(emulator.api_url, auth=auth, timeout=WAIT)  # noqa: E731
    session = emulator.api_session()
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=BURST_THREADS))
    assert send(session, auth).status_code in (200, 201)
    token = auth.get_token()
    clock.advance((token.expires_at or clock()) - clock() + 1)
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


def processes_share_a_file_cache(provider: str, environ: Mapping[str, str], tmp_path: Path) -> List[Dict[str, Any]]:
    """PROCESSES real processes build *provider*'s auth from *environ* with one FileTokenCache
    and ask for a token at the same moment. Returns what each printed: the token's
    ``expires_at`` and ``extra`` (a process that failed fails the test)."""
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{number}" for number in range(PROCESSES)]
    # Only *environ* configures the preset: not this machine's CA bundles or the provider's own variables.
    own = {var.name for var in get_provider(provider).env} | {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
    env = {key: value for key, value in os.environ.items() if key not in own}
    procs = []
    for ready in readies:
        spec = {
            "provider": provider,
            "environ": dict(environ),
            "cache": str(tmp_path / "tokens"),
            "ready": str(ready),
            "go": str(go),
            "wait": WAIT,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, json.dumps(spec)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
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
