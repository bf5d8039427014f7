"""The connections of token calls, shared by every auth of the process.

A token endpoint made without ``session=`` sends its calls through one
process-wide :class:`requests.Session` (see :func:`shared_session`), so that a
thousand auths talking to one token endpoint hold a handful of connections,
not a thousand, and one SSL context per CA bundle and client certificate, not
one per connection:

* connections are pooled by urllib3 per (origin, TLS settings): at most
  :data:`CONNECTIONS_PER_ORIGIN` are kept per pool, for at most
  :data:`POOLED_ORIGINS` pools; a connection idle for :data:`IDLE_TIMEOUT` is
  closed, by a sweep scheduled on the shared workers (:mod:`._workers`);
* TLS settings are one ``ssl.SSLContext`` per (CA bundle, client certificate),
  made once (:func:`ssl_context`): requests and urllib3 otherwise make a new
  context and load the whole CA bundle for every connection (about 0.9 MB with
  a 145-certificate bundle), which is most of what a thousand auths cost;
* the session keeps no cookies: it is shared by every client of the process,
  and a cookie set by one client's token call must never travel with another's.

A session given with ``session=`` stays the caller's: nothing here touches it.
After ``os.fork()`` the child makes a new shared session on first use and never
sends on the parent's connections (a TLS stream written by two processes breaks
for both); the SSL contexts hold no connection state and are kept.

Where the request goes next: urllib3 and the wire.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import ssl
import threading
import time
from typing import Any, Dict, Optional, Tuple

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..engine import fork as _fork
from ..telemetry import log_fields
from . import watchdog as _watchdog
from .tls import ClientCert

__all__ = ["CONNECTIONS_PER_ORIGIN", "IDLE_TIMEOUT", "POOLED_ORIGINS", "shared_session", "ssl_context"]

log = logging.getLogger("requests_multiauth")

#: Connections kept open per token endpoint origin (and TLS settings): as many as
#: the renewal workers (:data:`~._workers.RENEWAL_WORKERS`) that may call it at
#: once. More calls at a time (request threads that found no valid token) open
#: extra connections, closed as soon as their call is done.
CONNECTIONS_PER_ORIGIN = 8

#: Distinct token endpoint origins (with their TLS settings) whose pools are kept;
#: the least recently used pool beyond that is closed. A process with tenants on
#: more identity providers than this reconnects to the rarely used ones.
POOLED_ORIGINS = 32

#: Seconds a token connection may stay idle before it is closed. One auth calls
#: its token endpoint about once per token lifetime (an hour, typically), so
#: keep-alive only pays when calls come close together: a renewal storm, many
#: tenants renewing in the same minute, a retry. Servers drop idle connections
#: sooner or later (Node 5 s, nginx 75 s, AWS load balancers 60 s); a socket kept
#: past that is half-closed, costs a descriptor and fails the next call on it.
IDLE_TIMEOUT = 15.0

_lock = threading.Lock()
_session: Optional[requests.Session] = None
_contexts: Dict[Tuple[Any, ...], ssl.SSLContext] = {}
_context_lock = threading.Lock()
_sweep_pending = False


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Accept and send no cookie: the shared session serves every client of the process."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _file_stamp(path: str) -> Tuple[int, int]:
    """When a file last changed, so that a replaced CA bundle or certificate is loaded anew."""
    try:
        info = os.stat(path)
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def _context_key(verify: str, cert: Optional[ClientCert]) -> Tuple[Any, ...]:
    files = [verify] + ([cert] if isinstance(cert, str) else list(cert or ()))
    return (verify, cert, *(_file_stamp(name) for name in files))


def ssl_context(verify: str, cert: Optional[ClientCert] = None) -> ssl.SSLContext:
    """The one SSL context of the process for this CA bundle (a file or a
    directory) and client certificate (a path, or a (certificate, key) pair).

    Made as urllib3 makes its own (``create_urllib3_context``: its TLS versions
    and ciphers), loaded once; made anew when one of the files changes. Raises
    what ``ssl`` raises for a file that cannot be loaded (an ``OSError``, or an
    ``ssl.SSLError`` for one that is not PEM).
    """
    key = _context_key(verify, cert)
    context = _contexts.get(key)
    if context is not None:
        return context
    with _context_lock:  # one thread loads a bundle; the others wait for it rather than load it again
        context = _contexts.get(key)
        if context is None:
            context = _load_context(verify, cert)
            for old in [k for k in _contexts if k[:2] == key[:2]]:  # the files changed: forget the old one
                del _contexts[old]
            _contexts[key] = context
        return context


def _load_context(verify: str, cert: Optional[ClientCert]) -> ssl.SSLContext:
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if os.path.isdir(verify):
        context.load_verify_locations(capath=verify)
    else:
        context.load_verify_locations(cafile=verify)
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        context.load_cert_chain(certfile, keyfile)
    return context


class _IdleClosing:
    """What the pools of the shared session add to urllib3's: a connection idle
    for IDLE_TIMEOUT is closed instead of reused (it may be half-closed by now)."""

    def _put_conn(self, conn: Any) -> None:
        queue = getattr(self, "pool", None)
        if conn is not None and queue is not None and queue.full():
            # More calls at once than kept connections: close this one quietly
            # (urllib3 would warn "Connection pool is full" for every such call).
            conn.close()
            return
        if conn is not None:
            conn._multiauth_idle_since = time.monotonic()  # noqa: SLF001 - our mark on the connection
        super()._put_conn(conn)  # type: ignore[misc]
        schedule_sweep()

    def _get_conn(self, timeout: Optional[float] = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if conn is not None and _idle_too_long(conn, time.monotonic()):
            conn.close()  # urllib3 reconnects a closed connection on its next request
        _watchdog.attach(conn)  # the try's deadline may have to shut it down (see .watchdog)
        return conn

    def close_idle(self, now: float) -> int:
        """Close the connections idle for IDLE_TIMEOUT; return how many are still open."""
        queue = getattr(self, "pool", None)
        if queue is None:
            return 0
        kept = []
        while True:
            try:
                conn = queue.get(block=False)
            except Exception:  # noqa: BLE001 - queue.Empty: every connection looked at
                break
            if conn is not None and _idle_too_long(conn, now):
                conn.close()
            kept.append(conn)
        open_ = 0
        for conn in kept:
            try:
                queue.put(conn, block=False)
            except Exception:  # noqa: BLE001 - queue.Full: a call returned one meanwhile
                if conn is not None:
                    conn.close()
                continue
            if conn is not None and getattr(conn, "sock", None) is not None:
                open_ += 1
        return open_


def _idle_too_long(conn: Any, now: float) -> bool:
    since = getattr(conn, "_multiauth_idle_since", None)
    return since is not None and now - since >= IDLE_TIMEOUT


class _HTTPSPool(_IdleClosing, HTTPSConnectionPool):
    pass


class _HTTPPool(_IdleClosing, HTTPConnectionPool):
    pass


def _default_bundle() -> str:
    """requests' own CA bundle (certifi's), what ``verify=True`` means to it."""
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return str(DEFAULT_CA_BUNDLE_PATH)


class _TokenAdapter(HTTPAdapter):
    """An HTTPAdapter whose HTTPS connections share one SSL context per
    (CA bundle, client certificate), and whose idle connections are closed."""

    def __init__(self) -> None:
        super().__init__(pool_connections=POOLED_ORIGINS, pool_maxsize=CONNECTIONS_PER_ORIGIN)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def build_connection_pool_key_attributes(  # requests >= 2.32.2 asks this for the pool key
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https" and verify is not False:
            bundle = verify if isinstance(verify, str) else _default_bundle()
            pool_kwargs = {"ssl_context": ssl_context(bundle, cert), "cert_reqs": "CERT_REQUIRED"}
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # checks that the files exist
        if getattr(conn, "conn_kw", {}).get("ssl_context") is not None:
            # The shared context has the CA bundle and certificate loaded already;
            # naming them here too would load them again for every connection.
            conn.ca_certs = conn.ca_cert_dir = conn.cert_file = conn.key_file = None

    def close_idle(self) -> int:
        """Close idle connections in every pool; return how many are still open."""
        now = time.monotonic()
        managers = [self.poolmanager, *self.proxy_manager.values()]
        still_open = 0
        for manager in managers:
            for key in list(manager.pools.keys()):
                pool = manager.pools.get(key)
                if isinstance(pool, _IdleClosing):
                    still_open += pool.close_idle(now)
        return still_open


def _new_session() -> requests.Session:
    session = requests.Session()
    session.cookies.set_policy(_NoCookies())
    adapter = _TokenAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)  # plain HTTP only reaches loopback (allow_insecure_loopback)
    return session


def shared_session() -> requests.Session:
    """The process's session for token calls. Safe for concurrent use: it keeps
    no cookies and no per-call state; urllib3's pools are thread-safe."""
    global _session
    session = _session
    if session is None:
        with _lock:
            if _session is None:
                _session = _new_session()
            session = _session
    return session


def schedule_sweep() -> None:
    """Make sure idle connections get closed IDLE_TIMEOUT from now (one sweep pending at a time)."""
    global _sweep_pending
    with _lock:
        if _sweep_pending:
            return
        _sweep_pending = True
    from ..engine import workers as _workers

    try:
        _workers.call_later(IDLE_TIMEOUT, _sweep)
    except RuntimeError as exc:  # no thread to be had: the sweep happens when one is
        with _lock:
            _sweep_pending = False
        log.debug(
            "could not schedule the sweep of idle token connections: %s",
            exc,
            extra=log_fields("pool.sweep_unscheduled", error=str(exc)),
        )


def _sweep() -> None:
    global _sweep_pending
    with _lock:
        _sweep_pending = False
        session = _session
    if session is None:
        return
    adapter = session.get_adapter("https://")
    if isinstance(adapter, _TokenAdapter) and adapter.close_idle():
        schedule_sweep()  # connections used since: look at them again later


class _AfterFork:
    def reset_after_fork(self) -> None:
        # The parent's connections stay open for the parent; the child starts afresh.
        global _session, _lock, _context_lock, _sweep_pending
        _lock = threading.Lock()
        _context_lock = threading.Lock()
        _session = None
        _sweep_pending = False


_after_fork = _AfterFork()
_fork.register(_after_fork)
