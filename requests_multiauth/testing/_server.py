"""Local servers for tests, the demo and benchmarks: real HTTP(S) on loopback.

:class:`LocalServer` runs a handler function (or a WSGI app, through
:func:`wsgi_handler`) on ``127.0.0.1`` over HTTPS with a certificate from a
throwaway ``trustme`` CA when ``trustme`` is installed, and over plain HTTP on
loopback otherwise. It speaks HTTP/1.1 with keep-alive, records every request,
and can be told to answer slowly.

Use it in your own tests::

    from requests_multiauth.testing import LocalServer, Reply

    with LocalServer(lambda request: Reply(200, {"ok": True})) as server:
        requests.get(server.url + "/x", verify=server.verify)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

__all__ = ["LocalServer", "Misbehaviour", "Reply", "Request", "wsgi_handler"]

Body = Union[bytes, str, Mapping[str, Any], List[Any], None]


@dataclass
class Request:
    """A request as a local server received it."""

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: CaseInsensitiveDict[str]
    body: bytes
    received_at: float = field(default_factory=time.time)
    #: The DER of the certificate the client presented in the TLS handshake, when the
    #: server asked for one (``LocalServer(client_certs=True)``); None otherwise.
    client_cert: Optional[bytes] = field(default=None, repr=False)

    def json(self) -> Any:
        """The body decoded as JSON (raises ``ValueError`` if it is not)."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> Dict[str, List[str]]:
        """The body decoded as ``application/x-www-form-urlencoded``."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(self.body))

    @property
    def bearer(self) -> Optional[str]:
        """The token of an ``Authorization: Bearer`` header, if any."""
        value = self.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        return token if scheme.lower() == "bearer" and token else None


@dataclass
class Reply:
    """What a handler answers: a status, a body (dicts and lists become JSON), headers."""

    status: int = 200
    body: Body = None
    headers: Dict[str, str] = field(default_factory=dict)

    def encode(self) -> Tuple[bytes, Dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)) or (body is not None and not isinstance(body, (bytes, str))):
            data = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = body or b""
        return data, headers


@dataclass
class Misbehaviour(Reply):
    """A reply that writes its own bytes on the wire, whatever HTTP says: the base
    of the misbehaviours in :mod:`requests_multiauth.testing` (``Trickle``,
    ``GzipBomb``, ``MalformedStatus`` ...). Subclasses implement :meth:`send`;
    the server closes the connection after it."""

    def send(self, out: io.BufferedIOBase, stop: threading.Event) -> None:
        """Write the whole answer to *out*; return early once *stop* is set (the server stops)."""
        raise NotImplementedError


Handler = Callable[[Request], Reply]


def _pem_text(ca: Any) -> str:
    """The PEM of a ``trustme.CA`` or of PEM text or bytes."""
    if isinstance(ca, bytes):
        return ca.decode("ascii")
    if isinstance(ca, str):
        return ca
    return str(ca.cert_pem.bytes().decode("ascii"))


def _trustme() -> Any:
    try:
        import trustme
    except ImportError:
        return None
    return trustme


def trustme_for(tls: Optional[bool], asking: str, *, ca: Any = None) -> Any:
    """The ``trustme`` module when HTTPS is to be served, None for plain HTTP on loopback.

    HTTPS as *tls* says; by default whenever ``trustme`` is installed (or a *ca* is given).
    *asking* names what asked for HTTPS, for the error (``"LocalServer(tls=True)"``).

    Raises:
        RuntimeError: HTTPS is asked for and ``trustme`` is not installed.
    """
    trustme = _trustme()
    if tls is None:
        tls = trustme is not None or ca is not None
    if tls and trustme is None:
        raise RuntimeError(f"{asking} needs trustme: pip install 'requests-multiauth[testing]'")
    return trustme if tls else None


class CABundle:
    """A CA's certificate as a PEM file in a directory of its own: what ``verify=`` takes.

    :meth:`remove` deletes the directory; removing it again does nothing.
    """

    def __init__(self, ca: Any, *, prefix: str) -> None:
        self._directory: Optional[str] = tempfile.mkdtemp(prefix=prefix)
        self.path = os.path.join(self._directory, "ca.pem")
        ca.cert_pem.write_to_path(self.path)

    def remove(self) -> None:
        """Delete the file and its directory."""
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


class LocalServer:
    """A threaded HTTP/1.1 server on loopback that answers with *handler*.

    Args:
        handler: turns each :class:`Request` into a :class:`Reply`.
        tls: serve HTTPS (needs ``trustme``); default: HTTPS if ``trustme`` is
            installed, else plain HTTP on loopback.
        host: the loopback address to bind (``127.0.0.1`` or ``::1``).
        latency: seconds to wait before each answer (settable later).
        ca: a ``trustme.CA`` to issue the certificate from, so that several
            servers share one CA bundle; default: a new CA for this server.
        client_certs: ask each client for a certificate in the TLS handshake
            (``ssl.CERT_OPTIONAL``: a client without one is still served) and
            record it as ``Request.client_cert``. A certificate is accepted
            when it chains to *client_ca* or was added with
            :meth:`trust_client_certificate`; any other fails the handshake.
        client_ca: the CA (a ``trustme.CA``, or PEM text or bytes) whose
            certificates clients may present; default: *ca*, the server's own.

    Attributes:
        url: the base URL, e.g. ``https://127.0.0.1:50123``.
        verify: what to pass as ``verify=`` to requests: the CA bundle path, or True.
        requests: every request received, in order.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        tls: Optional[bool] = None,
        host: str = "127.0.0.1",
        latency: float = 0.0,
        ca: Any = None,
        client_certs: bool = False,
        client_ca: Any = None,
    ) -> None:
        trustme = trustme_for(tls, "LocalServer(tls=True)", ca=ca)
        tls = trustme is not None
        if client_certs and not tls:
            raise ValueError("LocalServer(client_certs=True) needs tls")
        self.handler = handler
        self.latency = latency
        self.stopping = threading.Event()  # set by stop(): misbehaviours under way end
        self.requests: List[Request] = []
        self.tls = tls
        self._lock = threading.Lock()
        self._ca_bundle: Optional[CABundle] = None
        self.verify: Union[str, bool] = True
        self.ca: Any = None
        self._context: Optional[ssl.SSLContext] = None
        self._server = _Server((host, 0), _RequestHandler, owner=self)
        if tls:
            if ca is None:
                ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            if client_certs:
                context.verify_mode = ssl.CERT_OPTIONAL
                trusted = ca if client_ca is None else client_ca
                context.load_verify_locations(cadata=_pem_text(trusted))
            self.ca = ca
            self._context = context
            self._ca_bundle = CABundle(ca, prefix="multiauth-ca-")
            self.verify = self._ca_bundle.path
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        port = self._server.server_address[1]
        shown_host = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if tls else 'http'}://{shown_host}:{port}"
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return f"LocalServer({self.url!r})"

    def start(self) -> LocalServer:
        """Start serving on a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"LocalServer {self.url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and delete the CA file."""
        self.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        if self._ca_bundle is not None:
            self._ca_bundle.remove()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def trust_client_certificate(self, pem: Union[str, bytes]) -> None:
        """Accept client certificates issued by, or equal to, the certificate *pem*
        (a self-signed client certificate, say), from the next handshake on."""
        if self._context is None or self._context.verify_mode == ssl.CERT_NONE:
            raise RuntimeError("trust_client_certificate() needs LocalServer(client_certs=True)")
        self._context.load_verify_locations(cadata=pem.decode("ascii") if isinstance(pem, bytes) else pem)

    def session(self) -> requests.Session:
        """A new ``requests.Session`` that trusts this server's certificate."""
        session = requests.Session()
        session.verify = self.verify
        return session

    def received(self, path: Optional[str] = None) -> List[Request]:
        """The requests received so far, optionally only those for *path*."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self.requests.clear()

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], handler: Any, *, owner: LocalServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return  # a client went away or failed its handshake: not the server's fault
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive connection is closed after this long
    # Headers and body leave in two writes; with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (40 ms on Linux) on every keep-alive request after the first few.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # tests read server.requests instead

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        parts = urlsplit(self.path)
        peer = self.connection.getpeercert(binary_form=True) if isinstance(self.connection, ssl.SSLSocket) else None
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
            client_cert=peer,
        )
        owner._record(request)  # noqa: SLF001 - the server reports to its owner
        if owner.latency:
            time.sleep(owner.latency)
        try:
            reply = owner.handler(request)
        except Exception as exc:  # noqa: BLE001 - a broken handler answers 500, visibly
            reply = Reply(500, {"error": "server_error", "error_description": f"handler failed: {exc!r}"})
        if reply is _DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(reply, Misbehaviour):
            self.close_connection = True
            reply.send(self.wfile, owner.stopping)
            return
        data, headers = reply.encode()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_chunked(self) -> bytes:
        data = io.BytesIO()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return data.getvalue()
            data.write(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


#: A reply that closes the connection without answering (a reset mid-request).
_DROP = Reply(0)
DROP_CONNECTION = _DROP


def wsgi_handler(app: Callable[..., Iterable[bytes]], *, script_url: str = "https://127.0.0.1") -> Handler:
    """A handler that runs a WSGI application (a Flask app, say) for each request."""
    scheme = urlsplit(script_url).scheme or "https"

    def handle(request: Request) -> Reply:
        host = request.headers.get("Host", "127.0.0.1")
        server_name, _, port = host.partition(":")
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        environ: Dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": query,
            "SERVER_NAME": server_name,
            "SERVER_PORT": port or ("443" if scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(request.body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        status_headers: Dict[str, Any] = {}

        def start_response(
            status: str, headers: List[Tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            status_headers["status"] = int(status.split()[0])
            status_headers["headers"] = dict(headers)
            return lambda _data: None

        chunks = app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers = {k: v for k, v in status_headers["headers"].items() if k.lower() != "content-length"}
        return Reply(status_headers["status"], body, headers)

    return handle
