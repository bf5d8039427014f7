"""Helpers of the client authentication tests (test_client_auth*.py).

* key material made per test run: RSA, EC and Ed25519 keys, and client
  certificates from a throwaway trustme CA, written to a temporary directory;
* :class:`MtlsServer`: HTTPS on loopback that asks every client for a
  certificate and hands its handler the ``x5t#S256`` of the one presented (a
  ``LocalServer`` cannot see the peer's certificate);
* :class:`BoundTokenServer`: a token endpoint for ``tls_client_auth`` that binds
  each token to the certificate presented (``cnf["x5t#S256"]``, RFC 8705 §3),
  and a protected API that refuses a token sent over a connection without it;
* :class:`TokenStub`: a token endpoint handler that can fail transiently first;
* :func:`assertions_of`: the client assertions a server received, for checks and
  for the suite-wide secret check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

from requests_multiauth.testing import Reply, Request

#: The longest a test waits for a thread or a server: only a hang reaches it.
WAIT = 20.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_thumbprint(der: bytes) -> str:
    """``x5t#S256`` of a DER certificate."""
    return b64url(hashlib.sha256(der).digest())


def assertions_of(requests: Iterable[Request]) -> List[str]:
    """The ``client_assertion`` of each token request (form or JSON), in order."""
    found = []
    for request in requests:
        if request.headers.get("Content-Type", "").startswith("application/json"):
            value = request.json().get("client_assertion")
        else:
            value = (request.form().get("client_assertion") or [None])[0]
        if value:
            found.append(value)
    return found


# -- keys and certificates ------------------------------------------------------------------------


@dataclass
class ClientCertificate:
    """A client certificate and its key, as files."""

    cert_path: str
    key_path: str
    thumbprint: str
    key_pem: str


def issue_client_certificate(ca: Any, directory: Path, name: str) -> ClientCertificate:
    """A client certificate from *ca* (a trustme.CA), written to *directory*."""
    leaf = ca.issue_cert(f"{name}.clients.example")
    cert_path = directory / f"{name}-cert.pem"
    key_path = directory / f"{name}-key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    os.chmod(key_path, 0o600)
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
    return ClientCertificate(str(cert_path), str(key_path), der_thumbprint(der), leaf.private_key_pem.bytes().decode())


def self_signed_certificate(directory: Path, name: str) -> ClientCertificate:
    """A self-signed client certificate (``self_signed_tls_client_auth``), with an EC key."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}-cert.pem"
    key_path = directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.write_bytes(key_pem)
    os.chmod(key_path, 0o600)
    return ClientCertificate(
        str(cert_path), str(key_path), der_thumbprint(cert.public_bytes(serialization.Encoding.DER)), key_pem.decode()
    )


# -- a server that sees client certificates --------------------------------------------------------

MtlsHandler = Callable[[Request, Optional[str]], Reply]


class MtlsServer:
    """HTTPS on loopback that asks each client for a certificate signed by one of
    *client_cas* (PEM paths; a self-signed certificate is its own CA) and calls
    ``handler(request, thumbprint)`` with the ``x5t#S256`` of the certificate the
    connection presented, or None. A client without a certificate is let in, so
    that the API can refuse it in HTTP terms."""

    def __init__(self, handler: MtlsHandler, *, client_cas: Iterable[str], directory: Path) -> None:
        import trustme

        self.handler = handler
        self.requests: List[Tuple[Request, Optional[str]]] = []
        self._lock = threading.Lock()
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        context.verify_mode = ssl.CERT_OPTIONAL
        for path in client_cas:
            context.load_verify_locations(cafile=path)
        self.verify = str(directory / "mtls-server-ca.pem")
        ca.cert_pem.write_to_path(self.verify)
        self._server = _MtlsHTTPServer(("127.0.0.1", 0), _MtlsRequestHandler, owner=self)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"MtlsServer {self.url}",
        )

    def start(self) -> MtlsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(WAIT)
        self._server.server_close()

    def received(self, path: Optional[str] = None) -> List[Tuple[Request, Optional[str]]]:
        with self._lock:
            return [(r, t) for r, t in self.requests if path is None or r.path == path]


class _MtlsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Tuple[str, int], handler: Any, *, owner: MtlsServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that fails its handshake is the test's business, not a traceback


class _MtlsRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _MtlsHTTPServer
    timeout = 30
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        assert isinstance(self.connection, ssl.SSLSocket)
        der = self.connection.getpeercert(binary_form=True)
        thumbprint = der_thumbprint(der) if der else None
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
        )
        with owner._lock:
            owner.requests.append((request, thumbprint))
        reply = owner.handler(request, thumbprint)
        data, headers = reply.encode()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve


@dataclass
class BoundTokenServer:
    """``tls_client_auth`` and certificate-bound tokens, as RFC 8705 describes them.

    ``POST /token``: ``grant_type=client_credentials`` and ``client_id``; the
    connection's certificate must be the one registered for the client. The
    token is bound to it (``cnf["x5t#S256"]``). ``GET /api``: the token must be
    known, unexpired and sent over a connection presenting the certificate it
    is bound to; else 401 ``invalid_token``.
    """

    clients: Dict[str, str]  # client_id -> x5t#S256 of its certificate
    lifetime: int = 3600
    tokens: Dict[str, Tuple[str, float]] = field(default_factory=dict)
    token_calls: int = 0
    api_statuses: List[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request, thumbprint: Optional[str]) -> Reply:
        if request.path == "/token":
            return self._token(request, thumbprint)
        reply = self._api(request, thumbprint)
        with self._lock:
            self.api_statuses.append(reply.status)
        return reply

    def _token(self, request: Request, thumbprint: Optional[str]) -> Reply:
        with self._lock:
            self.token_calls += 1
        form = request.form()
        client_id = (form.get("client_id") or [""])[0]
        if form.get("grant_type") != ["client_credentials"]:
            return Reply(400, {"error": "unsupported_grant_type"})
        if thumbprint is None or self.clients.get(client_id) != thumbprint:
            return Reply(401, {"error": "invalid_client", "error_description": "no matching client certificate"})
        token = "mtls-" + secrets.token_urlsafe(16)
        with self._lock:
            self.tokens[token] = (thumbprint, time.time() + self.lifetime)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime})

    def _api(self, request: Request, thumbprint: Optional[str]) -> Reply:
        with self._lock:
            bound = self.tokens.get(request.bearer or "")
        refused = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if bound is None or bound[1] < time.time():
            return Reply(401, {"error": "invalid_token"}, refused)
        if bound[0] != thumbprint:
            return Reply(401, {"error": "invalid_token", "error_description": "certificate mismatch"}, refused)
        return Reply(200, {"ok": True, "cnf": {"x5t#S256": bound[0]}})


class TokenStub:
    """A token endpoint that answers 503 to its first *fail_first* calls, then issues tokens."""

    def __init__(self, *, fail_first: int = 0, lifetime: int = 3600, refresh: bool = False) -> None:
        self.fail_first = fail_first
        self.lifetime = lifetime
        self.refresh = refresh
        self.answer: Optional[Reply] = None
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call <= self.fail_first:
            return Reply(503, {"error": "temporarily_unavailable"})
        if self.answer is not None:
            return self.answer
        body: Dict[str, Any] = {
            "access_token": f"at-{call}-{secrets.token_hex(8)}",
            "token_type": "Bearer",
            "expires_in": self.lifetime,
        }
        if self.refresh:
            body["refresh_token"] = f"rt-{call}-{secrets.token_hex(8)}"
        return Reply(200, body)


def jwt_claims(assertion: str) -> Dict[str, Any]:
    """The claims of a JWT, unverified."""
    payload = assertion.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def jwt_header(assertion: str) -> Dict[str, Any]:
    header = assertion.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def client_keys(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Private keys made for this run: ``rsa``, ``ec`` (P-256), ``ec384``, ``ed25519``."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ec384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
