"""oidc-provider (panva's certified OpenID provider, in node) as the real authorization server.

``oidc_provider`` (session-scoped) makes the keys and certificates of one test run, writes
them with the configuration to a private temporary directory, starts
``node tests/oidc/server.mjs`` and stops it (by its pid) after the session. ``oidc`` is the
same server for one test, with its settings and counters reset first. What the server does
is described at the top of ``tests/oidc/server.mjs``; how the tests reach it is
:class:`OidcProvider`.

The node packages come from ``npm ci --prefix tests/oidc`` (``.ci/run`` does it). Without
node or those packages the tests that need the server are skipped, and in CI
(``CI=true`` or ``MULTIAUTH_REQUIRE_OIDC=1``) they fail instead.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, NoReturn, Optional, Tuple

import pytest
import requests

from requests_multiauth.testing._crypto import make_self_signed  # one recipe for a self-signed client certificate

HARNESS = Path(__file__).parent / "oidc"
#: How long the node process may take to print its ready line (a cold start takes ~1 s).
START_TIMEOUT = 30.0
#: The resource indicator the client-credentials tokens are issued for (their ``aud``).
RESOURCE = "https://api.test/"
SCOPE = "api:read api:write"
#: Access tokens live this long unless a test changes it (``control(access_token_ttl=...)``).
DEFAULT_TTL = 2


@dataclass(frozen=True)
class OidcClient:
    """A client registered with the provider, and what it authenticates with.

    ``secret`` for the client_secret_* methods; ``key_path`` (a PEM private key, 0600) with
    ``kid``, ``alg`` and ``public_jwk`` for private_key_jwt; ``cert_path`` + ``key_path`` for
    tls_client_auth / self_signed_tls_client_auth (``cert`` is the pair requests takes).
    The repr shows no secret.
    """

    client_id: str
    method: str
    secret: Optional[str] = field(default=None, repr=False)
    key_path: Optional[str] = None
    kid: Optional[str] = None
    alg: Optional[str] = None
    public_jwk: Optional[Mapping[str, Any]] = field(default=None, repr=False)
    cert_path: Optional[str] = None
    certificate_bound: bool = False
    dpop_bound: bool = False

    @property
    def cert(self) -> Optional[Tuple[str, str]]:
        """``(cert_path, key_path)`` for requests' ``cert=``, for the mTLS clients."""
        if self.cert_path is None or self.key_path is None:
            return None
        return (self.cert_path, self.key_path)

    def private_key_pem(self) -> bytes:
        """The PEM of the private key (of the assertion key or of the client certificate)."""
        if self.key_path is None:
            raise ValueError(f"client {self.client_id} has no private key")
        return Path(self.key_path).read_bytes()


@dataclass
class OidcProvider:
    """The running harness: where it listens, its clients, and its control endpoint.

    Attributes:
        issuer: ``https://127.0.0.1:<port>`` (exactly as the discovery document says it).
        token_endpoint, mtls_token_endpoint: the token endpoint, and its mTLS alias (the same
            provider on another port, listed in ``mtls_endpoint_aliases``).
        discovery_url: ``issuer + "/.well-known/openid-configuration"``.
        api_url: the protected API's base URL (``.../api/``; every path under its origin but
            ``/__control`` is the API).
        ca_path: the CA bundle that signed every server certificate (pass as ``verify=``).
        clients: by name (``basic``, ``post``, ``secret-jwt``, ``jwt-rsa``, ``jwt-ec``,
            ``jwt-ed``, ``tls``, ``self-signed``, ``dpop-basic``, ``dpop-jwt``).
        resource, scope: the resource indicator tokens are issued for, and its scopes.
    """

    issuer: str
    token_endpoint: str
    mtls_token_endpoint: str
    introspection_endpoint: str
    discovery_url: str
    api_origin: str
    api_url: str
    ca_path: str
    clients: Dict[str, OidcClient]
    resource: str
    scope: str
    _control_token: str = field(repr=False)
    _session: requests.Session = field(repr=False, default_factory=requests.Session)

    def __repr__(self) -> str:
        return f"OidcProvider(issuer={self.issuer!r}, api={self.api_origin!r})"

    def client(self, name: str) -> OidcClient:
        return self.clients[name]

    def session(self) -> requests.Session:
        """A new session that trusts the harness's CA and ignores the environment."""
        session = requests.Session()
        session.verify = self.ca_path
        session.trust_env = False
        return session

    def _call(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        response = self._session.request(
            method,
            self.api_origin + path,
            json=body,
            headers={"X-Control-Token": self._control_token},
            verify=self.ca_path,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def control(self, **settings: Any) -> Dict[str, Any]:
        """Change settings now; returns ``{"settings", "counters", ...}``. Settings:
        ``access_token_ttl`` (int s), ``token_dpop_nonce`` / ``api_dpop_nonce`` (bool: the
        token endpoint / the API require a DPoP nonce), ``api_nonce_rotation`` (s),
        ``api_iat_window`` (s). ``reset=True`` first puts everything back and zeroes counters;
        ``rotate_api_nonce=True`` changes the API's nonce now (a test that must not race the
        rotation timer sets a long ``api_nonce_rotation`` and rotates by hand)."""
        result: Dict[str, Any] = self._call("POST", "/__control", settings)
        return result

    def settings(self) -> Dict[str, Any]:
        result: Dict[str, Any] = self._call("GET", "/__control")["settings"]
        return result

    def counters(self) -> Dict[str, Any]:
        """``token`` (client_id → grant_type → outcome → n; outcome "ok" or the error
        code), ``token_by_port`` (``issuer``/``mtls``), ``token_dpop`` (``with_proof``,
        ``without_proof``, ``use_dpop_nonce``), ``assertion_replays_refused``,
        ``dpop_replays_refused``, ``api`` (scheme → outcome → n), ``api_nonce_challenges``,
        ``api_dpop_replays_refused``, ``api_nonce_rotations``."""
        result: Dict[str, Any] = self._call("GET", "/__control")["counters"]
        return result

    def events(self, kind: str = "token") -> List[Dict[str, Any]]:
        """Every token call (``token``), API request (``api``) or verified client assertion
        (``assertion``: jti, iat, exp, aud, alg, kid...) since the last reset."""
        result: List[Dict[str, Any]] = self._call("GET", f"/__control/events?kind={kind}")
        return result

    def reset(self) -> None:
        """Default settings, zero counters, no events, no remembered proof jtis."""
        self.control(reset=True)

    def token_calls(self, client_id: Optional[str] = None, *, outcome: Optional[str] = None) -> int:
        """Token endpoint calls since the last reset (of one client, with one outcome)."""
        total = 0
        for cid, grants in self.counters()["token"].items():
            if client_id is not None and cid != client_id:
                continue
            for outcomes in grants.values():
                total += sum(n for o, n in outcomes.items() if outcome is None or o == outcome)
        return total

    def api_calls(self, scheme: Optional[str] = None, *, outcome: Optional[str] = None) -> int:
        """API requests since the last reset (sent with one scheme, with one outcome)."""
        total = 0
        for sch, outcomes in self.counters()["api"].items():
            if scheme is not None and sch != scheme:
                continue
            total += sum(n for o, n in outcomes.items() if outcome is None or o == outcome)
        return total


# -- making the keys and certificates of one run ----------------------------------------------------------


def _private(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    path.chmod(0o600)
    return str(path)


def _b64url_int(value: int) -> str:
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk(private_key: Any) -> Dict[str, Any]:
    """The public JWK of an RSA, EC or Ed25519 key (PyJWT's encoders, public members only)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        encode = lambda v: base64.urlsafe_b64encode(v.to_bytes(size, "big")).rstrip(b"=").decode()  # noqa: E731
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public.curve.name]
        return {"kty": "EC", "crv": crv, "x": encode(numbers.x), "y": encode(numbers.y)}
    if isinstance(public, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    raise TypeError(type(public).__name__)


def _pem(private_key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _cc_client(client_id: str, method: str, **metadata: Any) -> Dict[str, Any]:
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": method,
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "scope": SCOPE,
        **metadata,
    }


def make_materials(directory: Path) -> Tuple[Dict[str, Any], Dict[str, OidcClient]]:
    """Keys, certificates, the node configuration and the client records of one run."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_path = str(directory / "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    server = ca.issue_cert("127.0.0.1", "localhost")
    server_cert = str(directory / "server.pem")
    server.cert_chain_pems[0].write_to_path(server_cert)
    server_key = _private(directory / "server-key.pem", server.private_key_pem.bytes())

    tls_leaf = ca.issue_cert("tls-client.multiauth.test", common_name="multiauth-tls-client")
    tls_cert_path = str(directory / "tls-client.pem")
    tls_leaf.cert_chain_pems[0].write_to_path(tls_cert_path)
    tls_key_path = _private(directory / "tls-client-key.pem", tls_leaf.private_key_pem.bytes())
    tls_dn = x509.load_pem_x509_certificate(tls_leaf.cert_chain_pems[0].bytes()).subject.rfc4514_string()

    self_cert, self_key = make_self_signed("multiauth-self-signed-client")
    self_cert_path = str(directory / "self-signed.pem")
    Path(self_cert_path).write_bytes(self_cert.public_bytes(serialization.Encoding.PEM))
    self_key_path = _private(directory / "self-signed-key.pem", _pem(self_key))
    self_jwk = {
        **_public_jwk(self_key),
        "x5c": [base64.b64encode(self_cert.public_bytes(serialization.Encoding.DER)).decode("ascii")],
    }

    keys = {
        "rsa": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        "ec": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        "ed": (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    }
    key_records: Dict[str, Tuple[str, str, str, Dict[str, Any]]] = {}
    for name, (key, alg) in keys.items():
        kid = f"{name}-{secrets.token_hex(4)}"
        key_records[name] = (
            _private(directory / f"{name}-key.pem", _pem(key)),
            kid,
            alg,
            {**_public_jwk(key), "kid": kid},
        )

    def secret() -> str:
        return secrets.token_urlsafe(32)  # 43 characters: long enough for HS256/384/512

    clients: Dict[str, OidcClient] = {}
    registered: List[Dict[str, Any]] = []

    def add(name: str, record: OidcClient, **metadata: Any) -> None:
        clients[name] = record
        extra: Dict[str, Any] = dict(metadata)
        if record.secret is not None:
            extra["client_secret"] = record.secret
        if record.dpop_bound:
            extra["dpop_bound_access_tokens"] = True
        if record.certificate_bound:
            extra["tls_client_certificate_bound_access_tokens"] = True
        registered.append(_cc_client(record.client_id, record.method, **extra))

    add("basic", OidcClient("basic", "client_secret_basic", secret=secret()))
    add("post", OidcClient("post", "client_secret_post", secret=secret()))
    add("secret-jwt", OidcClient("secret-jwt", "client_secret_jwt", secret=secret(), alg="HS256"))
    for name in ("rsa", "ec", "ed"):
        path, kid, alg, jwk = key_records[name]
        record = OidcClient(f"jwt-{name}", "private_key_jwt", key_path=path, kid=kid, alg=alg, public_jwk=jwk)
        add(f"jwt-{name}", record, jwks={"keys": [jwk]})
    add(
        "tls",
        OidcClient("tls", "tls_client_auth", key_path=tls_key_path, cert_path=tls_cert_path, certificate_bound=True),
        tls_client_auth_subject_dn=tls_dn,
    )
    add(
        "self-signed",
        OidcClient(
            "self-signed",
            "self_signed_tls_client_auth",
            key_path=self_key_path,
            cert_path=self_cert_path,
            public_jwk=self_jwk,
            certificate_bound=True,
        ),
        jwks={"keys": [self_jwk]},
    )
    add("dpop-basic", OidcClient("dpop-basic", "client_secret_basic", secret=secret(), dpop_bound=True))
    path, kid, alg, jwk = key_records["ec"]
    add(
        "dpop-jwt",
        OidcClient("dpop-jwt", "private_key_jwt", key_path=path, kid=kid, alg=alg, public_jwk=jwk, dpop_bound=True),
        jwks={"keys": [jwk]},
    )

    config = {
        "tls": {"cert": server_cert, "key": server_key, "ca": ca_path},
        "control_token": secrets.token_urlsafe(24),
        "resource": RESOURCE,
        "scope": SCOPE,
        "access_token_ttl": DEFAULT_TTL,
        "clients": registered,
    }
    return config, clients


# -- starting and stopping the node process -------------------------------------------------------------


def _required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("MULTIAUTH_REQUIRE_OIDC") == "1"


def _unavailable(reason: str) -> NoReturn:
    if _required():
        pytest.fail(f"oidc-provider harness required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"oidc-provider harness unavailable: {reason}")


def _read_ready_line(process: subprocess.Popen[bytes], deadline: float) -> Dict[str, Any]:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no ready line within {START_TIMEOUT:.0f} s")
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"node exited with {process.wait(timeout=5)} before it was ready")
            buffer += chunk
    finally:
        selector.close()
    line = buffer.split(b"\n", 1)[0]
    ready: Dict[str, Any] = json.loads(line)
    return ready


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM to this pid only
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """oidc-provider and its protected API, started once for the session (see the module docstring)."""
    node = shutil.which("node")
    if node is None:
        _unavailable("no `node` on PATH (install Debian's nodejs and npm)")
    if not (HARNESS / "node_modules" / "oidc-provider" / "package.json").is_file():
        _unavailable("tests/oidc/node_modules is missing: run `npm ci --prefix tests/oidc`")
    try:
        import trustme  # noqa: F401
        from cryptography import x509  # noqa: F401
    except ImportError as exc:
        _unavailable(f"{exc.name} is not installed")
    directory = tmp_path_factory.mktemp("oidc")
    directory.chmod(0o700)
    config, clients = make_materials(directory)
    config_path = Path(_private(directory / "config.json", json.dumps(config).encode("utf-8")))
    log_path = directory / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(node), str(HARNESS / "server.mjs"), str(config_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=str(HARNESS),
        )
    try:
        try:
            ready = _read_ready_line(process, time.monotonic() + START_TIMEOUT)
        except (TimeoutError, RuntimeError, ValueError) as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            _unavailable(f"node tests/oidc/server.mjs did not start: {exc}\n{tail}")
        issuer = ready["issuer"]
        provider = OidcProvider(
            issuer=issuer,
            token_endpoint=issuer + "/token",
            mtls_token_endpoint=ready["mtls"] + "/token",
            introspection_endpoint=issuer + "/token/introspection",
            discovery_url=issuer + "/.well-known/openid-configuration",
            api_origin=ready["api"],
            api_url=ready["api"] + "/api/",
            ca_path=config["tls"]["ca"],
            clients=clients,
            resource=RESOURCE,
            scope=SCOPE,
            _control_token=config["control_token"],
        )
        yield provider
        provider._session.close()
    finally:
        _stop(process)
        shutil.rmtree(directory, ignore_errors=True)  # the run's keys and secrets go with it


@pytest.fixture
def oidc(oidc_provider: OidcProvider) -> OidcProvider:
    """The session's oidc-provider harness with default settings and zeroed counters."""
    oidc_provider.reset()
    return oidc_provider
