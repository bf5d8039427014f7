"""URL facts the security rules depend on: origins, loopback, and HTTPS-only.

Where the request goes next: on, if the rules allow it; else an InsecureTransportError.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Tuple
from urllib.parse import urlsplit

from ..errors import ConfigurationError, InsecureTransportError

Origin = Tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin:
    """The (scheme, host, port) a URL is sent to, with default ports filled in.

    Two URLs with the same origin reach the same server; a token bound to one
    origin may go to the other.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_url(url: str) -> str:
    """The URL without credentials, query or fragment: fit for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def check_transport(
    url: str, *, allow_insecure_loopback: bool, what: str = "a token", plain_http_hosts: Iterable[str] = ()
) -> None:
    """Raise :class:`InsecureTransportError` unless *url* is HTTPS.

    Plain HTTP is accepted only to a loopback host and only when the caller
    opted in with ``allow_insecure_loopback=True`` (meant for tests), or to one
    of *plain_http_hosts* (``host:port``): a cloud metadata endpoint, which
    carries no secret and is HTTP by design.
    """
    if url[:8].lower() == "https://":
        return
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http":
        if allow_insecure_loopback and is_loopback(parts.hostname or ""):
            return
        if plain_http_hosts and f"{origin(url)[1]}:{origin(url)[2]}" in plain_http_hosts:
            return
        hint = (
            "allow_insecure_loopback=True permits plain HTTP to loopback only"
            if allow_insecure_loopback
            else "use https://, or pass allow_insecure_loopback=True for a test server on loopback"
        )
        raise InsecureTransportError(f"refusing to send {what} over plain HTTP to {safe_url(url)}: {hint}")
    shown = safe_url(url) if scheme else "a URL without a scheme"
    raise ConfigurationError(f"{shown} is not an https:// URL; {what} can only be sent over HTTPS")
