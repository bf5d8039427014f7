"""What a DPoP proof costs the client per request: DPoP ÷ bearer, for requests_multiauth and requests-oauth2client.

::

    python -m benchmarks.dpop                      # 5 rounds x 1000 requests per client
    python -m benchmarks.dpop --rounds 3 --requests 500 --output /tmp

A token endpoint and an API run in a child process (``python -m benchmarks.dpop --serve``:
HTTPS with keep-alive on loopback, a throwaway trustme CA), so that their work is not
counted. The endpoint issues a DPoP token (``token_type: DPoP``) to a request with a
``DPoP`` proof and a Bearer token otherwise, both living an hour; the API answers a small
JSON body to a request whose ``Authorization`` scheme matches its token and, for DPoP,
that carries a proof. No nonces: this measures the proof itself.

Four clients, each on its own ``requests.Session`` with its own connection:

* ``requests_multiauth bearer``: ``ClientCredentialsAuth(client_id, client_secret, token_url)``;
* ``requests_multiauth DPoP``: the same with ``dpop=True`` (an ES256 key);
* ``requests-oauth2client bearer``: ``OAuth2ClientCredentialsAuth(OAuth2Client(token_url, auth=(id, secret)))``;
* ``requests-oauth2client DPoP``: the same client with ``dpop_bound_access_tokens=True`` (ES256).

Each round sends ``--requests`` GETs per client, the clients interleaved request by request
(their order rotating every request), after a warm-up that gets every token. Measured: the
client process's CPU time (``time.process_time``) around each request, summed per client;
the ratio DPoP ÷ bearer is taken per library within each round, and the median over the
rounds is the figure. Then ``DPoPKey.proof`` and ``SigningKey.sign`` alone, per call: the
part of a DPoP request that no implementation can avoid is the ECDSA signature.

Results go to ``benchmarks/DPOP_RESULTS.md`` (``--output DIR`` to change the directory).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parent.parent

#: A throwaway credential of a server that lives for one run on loopback.
CLIENT_ID = "bench-dpop-client"
CLIENT_SECRET = "bench-dpop-secret-loopback-only"

#: How long the parent waits for the child to say where it listens, and any request.
STARTUP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0

#: The goal of issue 12: DPoP costs at most this much more client CPU than bearer.
GOAL = 1.10

CA_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


# -- the child: token endpoint and API ---------------------------------------------------------------


def _handler(request: Any) -> Any:
    from requests_multiauth.testing import Reply

    if request.path == "/token":
        basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = request.form()
        posted = form.get("client_id") == [CLIENT_ID] and form.get("client_secret") == [CLIENT_SECRET]
        if request.headers.get("Authorization") != basic and not posted:  # requests-oauth2client posts them
            return Reply(401, {"error": "invalid_client"})
        token_type = "DPoP" if "DPoP" in request.headers else "Bearer"
        token = f"{token_type.lower()}-{time.monotonic_ns()}"
        return Reply(200, {"access_token": token, "token_type": token_type, "expires_in": 3600})
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if token.startswith("dpop-") and scheme == "DPoP" and request.headers.get("DPoP", "").count(".") == 2:
        return Reply(200, {"ok": True})
    if token.startswith("bearer-") and scheme == "Bearer":
        return Reply(200, {"ok": True})
    return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'DPoP algs="ES256", Bearer'})


def serve() -> None:
    """Run until stdin closes; first print where we listen as one JSON line."""
    from requests_multiauth.testing import LocalServer

    with LocalServer(_handler, tls=True) as server:
        print(json.dumps({"url": server.url, "verify": server.verify}), flush=True)
        sys.stdin.read()


class Server:
    """The parent's handle on the child process."""

    def __init__(self) -> None:
        self.process: Optional[subprocess.Popen[str]] = None
        self.url = ""
        self.verify = ""

    def __enter__(self) -> Server:
        env = {name: value for name, value in os.environ.items() if name not in CA_OVERRIDES}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.dpop", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], STARTUP_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.__exit__()
            raise RuntimeError("the benchmark server did not start")
        where = json.loads(line)
        self.url, self.verify = where["url"], where["verify"]
        return self

    def __exit__(self, *_: object) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()  # our own child, by its pid
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# -- the clients ----------------------------------------------------------------------------------------


@dataclass
class Client:
    name: str
    library: str
    dpop: bool
    get: Callable[[], requests.Response]
    cpu: List[float] = field(default_factory=list)  # seconds per request, this round
    failed: int = 0


def _session(verify: str) -> requests.Session:
    session = requests.Session()
    session.verify = verify
    session.trust_env = False  # loopback only: no proxy, no CA override
    session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
    return session


def build_clients(server: Server) -> List[Client]:
    from requests_multiauth import ClientCredentialsAuth

    token_url, api_url = server.url + "/token", server.url + "/api/items"
    clients = []
    for dpop in (False, True):
        auth = ClientCredentialsAuth(CLIENT_ID, CLIENT_SECRET, token_url, session=_session(server.verify), dpop=dpop)
        session = _session(server.verify)
        session.auth = auth
        get = _getter(session, api_url)
        clients.append(Client(f"requests_multiauth {'DPoP' if dpop else 'bearer'}", "requests_multiauth", dpop, get))
        if not dpop:
            floor_session = _session(server.verify)
            floor_session.auth = auth
            clients.append(_signature_floor(clients[0], floor_session, api_url))
    try:
        from requests_oauth2client import OAuth2Client, OAuth2ClientCredentialsAuth
    except ImportError:
        print("requests-oauth2client is not installed (pip install -e '.[bench]'): left out", file=sys.stderr)
        return clients
    for dpop in (False, True):
        oauth2 = OAuth2Client(
            token_endpoint=token_url,
            auth=(CLIENT_ID, CLIENT_SECRET),
            session=_session(server.verify),
            dpop_bound_access_tokens=dpop,
        )
        session = _session(server.verify)
        session.auth = OAuth2ClientCredentialsAuth(oauth2)
        get = _getter(session, api_url)
        name = f"requests-oauth2client {'DPoP' if dpop else 'bearer'}"
        clients.append(Client(name, "requests-oauth2client", dpop, get))
    return clients


#: The name of the pseudo-client that shows the floor: a bearer request plus one bare signature.
FLOOR = "bearer + a proof-sized header + one bare ES256 signature"


def _signature_floor(bearer: Client, session: requests.Session, url: str) -> Client:
    """A bearer request carrying a header as long as a proof, plus one ECDSA P-256 signature
    (cryptography's, nothing else) per request: what any DPoP client pays at least, measured
    where it is paid (between requests, with the CPU caches the TLS work has just used)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from requests_multiauth import DPoPKey

    key = ec.generate_private_key(ec.SECP256R1())
    message = b"x" * 420  # the size of a proof's signing input
    padding = {"DPoP": DPoPKey.generate().proof("GET", url, ath="a" * 43)}  # sent as is: the server ignores it

    def get() -> requests.Response:
        response = session.get(url, headers=padding, timeout=REQUEST_TIMEOUT)
        key.sign(message, ec.ECDSA(hashes.SHA256()))
        return response

    return Client(FLOOR, "floor", True, get)


def _getter(session: requests.Session, url: str) -> Callable[[], requests.Response]:
    def get() -> requests.Response:
        return session.get(url, timeout=REQUEST_TIMEOUT)

    return get


# -- measuring ----------------------------------------------------------------------------------------


def run_round(clients: List[Client], requests_per_client: int) -> None:
    for client in clients:
        client.cpu = []
    clock = time.process_time
    for number in range(requests_per_client):
        shift = number % len(clients)
        for client in clients[shift:] + clients[:shift]:
            started = clock()
            response = client.get()
            client.cpu.append(clock() - started)
            if response.status_code != 200:
                client.failed += 1


def per_call(function: Callable[[], object], calls: int) -> float:
    """Median CPU µs per call of *function* over 5 batches of *calls*."""
    batches = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            function()
        batches.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(batches)


def signing_costs(calls: int) -> Dict[str, float]:
    from requests_multiauth import DPoPKey
    from requests_multiauth._jose import generate_signing_key

    key = DPoPKey.generate("ES256")
    signing = generate_signing_key("ES256")
    claims = {"jti": "x" * 22, "htm": "GET", "htu": "https://127.0.0.1/api/items", "iat": int(time.time())}
    header = {"typ": "dpop+jwt", "jwk": signing.public_jwk}
    costs = {
        "DPoPKey.proof (ES256, with ath)": per_call(
            lambda: key.proof("GET", "https://127.0.0.1/api/items", ath="a" * 43), calls
        ),
        "SigningKey.sign (ES256, PyJWT's jwt.encode)": per_call(lambda: signing.sign(claims, header), calls),
    }
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    raw = signing.private_key
    message = b"x" * 400
    costs["the ECDSA P-256 signature alone (cryptography)"] = per_call(
        lambda: raw.sign(message, ec.ECDSA(hashes.SHA256())), calls
    )
    try:
        from requests_oauth2client import DPoPKey as TheirKey

        theirs = TheirKey.generate(alg="ES256")
        costs["requests-oauth2client DPoPKey.proof (ES256)"] = per_call(
            lambda: theirs.proof(htm="GET", htu="https://127.0.0.1/api/items", ath="a" * 43), calls
        )
    except ImportError:
        pass
    return costs


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000, help="requests per client per round")
    parser.add_argument("--sign-calls", type=int, default=2000, help="calls per batch of the signing measurements")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    started = time.time()
    load_start = os.getloadavg()[0]
    with Server() as server:
        clients = build_clients(server)
        for client in clients:  # warm-up: every token fetched, every connection open
            for _ in range(20):
                client.get().raise_for_status()
        rounds: List[Dict[str, float]] = []
        for number in range(args.rounds):
            run_round(clients, args.requests)
            rounds.append({c.name: statistics.mean(c.cpu) * 1e6 for c in clients})
            print(f"round {number + 1}: " + ", ".join(f"{n} {us:.0f} µs" for n, us in rounds[-1].items()), flush=True)
    costs = signing_costs(args.sign_calls)
    load_end = os.getloadavg()[0]
    report = render(args, clients, rounds, costs, started, load_start, load_end)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "DPOP_RESULTS.md"
    path.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {path}")
    return 0


def render(
    args: argparse.Namespace,
    clients: List[Client],
    rounds: List[Dict[str, float]],
    costs: Dict[str, float],
    started: float,
    load_start: float,
    load_end: float,
) -> str:
    libraries = sorted({c.library for c in clients} - {"floor"}, key=lambda name: name != "requests_multiauth")
    ratios: Dict[str, List[float]] = {
        library: [r[f"{library} DPoP"] / r[f"{library} bearer"] for r in rounds] for library in libraries
    }
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [
        "# DPoP benchmark results",
        "",
        f"Written by `python -m benchmarks.dpop --rounds {args.rounds} --requests {args.requests}` on {when}; "
        f"the run took {time.time() - started:.0f} s. How it measures: [README.md](README.md#dpop) and the "
        "docstring of `benchmarks/dpop.py`.",
        "",
        f"* Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; 1-minute load average {load_start:.1f} at the "
        f"start and {load_end:.1f} at the end (a shared machine: compare within this run).",
        f"* Libraries: requests_multiauth {version('requests-multiauth')}, requests-oauth2client "
        f"{version('requests-oauth2client')}, PyJWT {version('PyJWT')}, cryptography {version('cryptography')}, "
        f"requests {version('requests')}.",
        "",
        "## Client CPU per request, DPoP ÷ bearer",
        "",
        f"Goal for requests_multiauth: at most {GOAL:.2f}, and below requests-oauth2client's ratio.",
        "",
        "| library | bearer CPU µs/request | DPoP CPU µs/request | DPoP ÷ bearer (median of rounds) | per round "
        "| failed |",
        "|---|---|---|---|---|---|",
    ]
    for library in libraries:
        bearer = statistics.median(r[f"{library} bearer"] for r in rounds)
        dpop = statistics.median(r[f"{library} DPoP"] for r in rounds)
        failed = sum(c.failed for c in clients if c.library == library)
        shown = ", ".join(f"{ratio:.3f}" for ratio in ratios[library])
        lines.append(
            f"| {library} | {bearer:.0f} | {dpop:.0f} | {statistics.median(ratios[library]):.3f} | {shown} | {failed} |"
        )
    floors = [r[FLOOR] / r["requests_multiauth bearer"] for r in rounds]
    lines.append(
        f"| (floor) {FLOOR} | | {statistics.median(r[FLOOR] for r in rounds):.0f} | "
        f"{statistics.median(floors):.3f} | {', '.join(f'{f:.3f}' for f in floors)} | |"
    )
    ours = statistics.median(ratios["requests_multiauth"])
    verdict = f"requests_multiauth: {ours:.3f} ({'met' if ours <= GOAL else 'not met'} against {GOAL:.2f})"
    if "requests-oauth2client" in ratios:
        theirs = statistics.median(ratios["requests-oauth2client"])
        verdict += f"; requests-oauth2client: {theirs:.3f} ({'ahead' if ours < theirs else 'not ahead'})"
    verdict += (
        f". A bearer request that carries a proof-sized header and makes one bare signature already costs "
        f"{statistics.median(floors):.3f} x a bearer request: the floor of any DPoP client on this machine"
    )
    lines += ["", verdict + ".", "", "## The proof alone", "", "| operation | CPU µs per call |", "|---|---|"]
    lines += [f"| {name} | {us:.1f} |" for name, us in costs.items()]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
