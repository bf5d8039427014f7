"""The provider the benchmarks run against: a token endpoint and an API, over HTTPS on loopback.

It runs in a child process (``python -m benchmarks.provider``), so that its work
does not share the client's interpreter lock and the client's cost per request is
measured alone. It is the AWS Cognito emulation of
:mod:`requests_multiauth.testing` (:class:`~requests_multiauth.testing.CognitoEmulator`):

* ``POST /oauth2/token``: standard client credentials (form body, HTTP Basic client
  authentication), answering after a settable *latency* with a JWT access token that
  lives *lifetime* seconds;
* ``GET /api/items``: a small JSON answer for a valid bearer token, 401 otherwise;

plus ``/control``, where the parent changes the latency and lifetime, arms a
revocation and reads the counters (POST JSON to change, GET to read).

:class:`ProviderProcess` is the parent's handle: it starts the child, changes its
settings and reads its counters.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import requests

from requests_multiauth.testing import CognitoEmulator, Reply, Request

__all__ = ["API_PATH", "ProviderProcess", "ProviderStats"]

#: The API resource every benchmark request asks for (under the emulation's ``/api/``).
API_PATH = "/api/items"
CONTROL_PATH = "/control"

#: How long the parent waits for the child to say where it listens.
STARTUP_TIMEOUT = 30.0

#: How long a control call may take: the provider answers them at once.
CONTROL_TIMEOUT = 10.0

#: Where ``python -m benchmarks.provider`` is found: the repository root.
ROOT = Path(__file__).resolve().parent.parent

#: Environment variables that override ``verify`` in requests (set on some machines).
CA_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


# -- the child: the provider itself --------------------------------------------------------


class _BenchCognito(CognitoEmulator):
    """The Cognito emulation of :mod:`requests_multiauth.testing`, plus what the
    benchmarks need: when each token call was received and answered, a revocation
    made by the n-th API request, and the ``/control`` path. Safe for the server's
    many threads."""

    def __init__(self, *, latency: float, lifetime: int) -> None:
        super().__init__(tls=True, lifetime=lifetime, latency=latency)
        self._bench = threading.Lock()
        self._token_calls: List[Tuple[float, float]] = []  # (received, answered), epoch seconds
        self._api_requests = 0
        self._api_rejected = 0
        self._revoke_after: Optional[int] = None
        self._revoked_at: Optional[float] = None

    def _handle(self, request: Request) -> Reply:
        if request.path == CONTROL_PATH:
            return self._control(request)
        if request.path == self.token_path:
            reply = super()._handle(request)
            with self._bench:
                self._token_calls.append((request.received_at, time.time()))
            return reply
        if not self._is_api(request.path):
            return super()._handle(request)
        with self._bench:
            self._api_requests += 1
            revoke = self._revoke_after is not None and self._api_requests >= self._revoke_after
            if revoke:
                self._revoke_after = None
                self._revoked_at = time.time()
        if revoke:
            self.revoke()  # every token issued so far now gets 401
        reply = super()._handle(request)
        if reply.status != 200:
            with self._bench:
                self._api_rejected += 1
        return reply

    def _control(self, request: Request) -> Reply:
        if request.method == "POST":
            settings: Dict[str, Any] = request.json()
            with self._bench:
                if settings.get("reset"):
                    self._token_calls = []
                    self._api_requests = 0
                    self._api_rejected = 0
                    self._revoke_after = None
                    self._revoked_at = None
                    self.server.clear()  # the server logs every request; forget them
                if "latency" in settings:
                    self.latency = float(settings["latency"])
                if "lifetime" in settings:
                    self.lifetime = int(settings["lifetime"])
                if "revoke_after" in settings:
                    # Counted from now: the n-th API request from here on revokes every token.
                    self._revoke_after = self._api_requests + int(settings["revoke_after"])
        with self._bench:
            return Reply(
                200,
                {
                    "token_calls": [list(call) for call in self._token_calls],
                    "api_requests": self._api_requests,
                    "api_rejected": self._api_rejected,
                    "revoked_at": self._revoked_at,
                },
            )


def serve(*, latency: float, lifetime: int) -> None:
    """Run the provider until stdin closes; first print, as one JSON line to the
    parent, where it listens and the (throwaway) client credentials it accepts."""
    with _BenchCognito(latency=latency, lifetime=lifetime) as provider:
        where = {"url": provider.url, "verify": provider.verify, **provider.credentials}
        print(json.dumps(where), flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us


# -- the parent's handle ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderStats:
    """The provider's counters since its last reset."""

    token_calls: List[Tuple[float, float]]  # (received, answered), epoch seconds
    api_requests: int
    api_rejected: int
    revoked_at: Optional[float]


class ProviderProcess:
    """Starts the provider in a child process and talks to it. One thread at a time.

    Attributes (after :meth:`start`):
        url: the provider's base URL; ``token_url`` and ``api_url`` derive from it.
        verify: the CA bundle that trusts the provider's certificate.
        client_id, client_secret: the client the provider accepts, made up by it
            for this run (never shown in a repr).
    """

    def __init__(self, *, latency: float = 0.0, lifetime: int = 3600) -> None:
        self._latency = latency
        self._lifetime = lifetime
        self._process: Optional[subprocess.Popen[str]] = None
        self._control: Optional[requests.Session] = None
        self.url = ""
        self.verify = ""
        self.client_id = ""
        self.client_secret = ""

    def __repr__(self) -> str:
        return f"ProviderProcess({self.url!r})"

    @property
    def token_url(self) -> str:
        return self.url + CognitoEmulator.token_path

    @property
    def api_url(self) -> str:
        return self.url + API_PATH

    def start(self) -> ProviderProcess:
        env = {name: value for name, value in os.environ.items() if name not in CA_OVERRIDES}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.provider",
                f"--latency={self._latency}",
                f"--lifetime={self._lifetime}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], STARTUP_TIMEOUT)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"the benchmark provider did not start within {STARTUP_TIMEOUT:.0f} s")
        where = json.loads(line)
        self.url, self.verify = where["url"], where["verify"]
        self.client_id, self.client_secret = where["client_id"], where["client_secret"]
        self._control = requests.Session()
        self._control.verify = self.verify
        self._control.trust_env = False  # loopback only: no proxy, no CA override
        return self

    def configure(
        self,
        *,
        latency: Optional[float] = None,
        lifetime: Optional[int] = None,
        revoke_after: Optional[int] = None,
        reset: bool = False,
    ) -> ProviderStats:
        """Change settings; *reset* zeroes the counters; *revoke_after* = n makes the
        n-th API request from now revoke every token. Returns the counters."""
        settings: Dict[str, Any] = {"reset": reset}
        if latency is not None:
            settings["latency"] = latency
        if lifetime is not None:
            settings["lifetime"] = lifetime
        if revoke_after is not None:
            settings["revoke_after"] = revoke_after
        return self._call("POST", settings)

    def stats(self) -> ProviderStats:
        return self._call("GET", None)

    def _call(self, method: str, body: Optional[Dict[str, Any]]) -> ProviderStats:
        assert self._control is not None, "start() the provider first"
        response = self._control.request(method, self.url + CONTROL_PATH, json=body, timeout=CONTROL_TIMEOUT)
        response.raise_for_status()
        data = response.json()
        return ProviderStats(
            token_calls=[(float(a), float(b)) for a, b in data["token_calls"]],
            api_requests=int(data["api_requests"]),
            api_rejected=int(data["api_rejected"]),
            revoked_at=data["revoked_at"],
        )

    def stop(self) -> None:
        """Stop the child: close its stdin, then terminate it (by pid) if it lingers."""
        if self._control is not None:
            self._control.close()
            self._control = None
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ProviderProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="The benchmarks' local token endpoint and API.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the token endpoint takes to answer")
    parser.add_argument("--lifetime", type=int, default=3600, help="seconds a token lives")
    args = parser.parse_args(argv)
    serve(latency=args.latency, lifetime=args.lifetime)


if __name__ == "__main__":
    main()
