"""URL facts the security rules depend on: origins, loopback, and HTTPS-only.

Where the request goes next: on, if the rules allow it; else an InsecureTransportError.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, Iterable, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import ConfigurationError, InsecureTransportError

Origin = Tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin:
    """The (scheme, host, port) a URL is sent to, with default ports filled in.

    Two URLs with the same origin reach the same server; a token bound to one
    origin may go to the other. An internationalised host name is compared in its
    IDNA (punycode) form, the one requests sends: ``https://bücher.example/`` and
    ``https://xn--bcher-kva.example/`` are one origin.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = ascii_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def ascii_host(host: str) -> str:
    """*host* lowercased, and IDNA-encoded (UTS #46, as requests encodes it) when it
    is not ASCII; a name IDNA refuses is kept as given (it cannot match a sent URL)."""
    host = host.lower()
    if host.isascii():
        return host
    import idna  # requests' own dependency, and how requests encodes the host it sends

    try:
        return str(idna.encode(host, uts46=True).decode("ascii"))
    except idna.IDNAError:
        return host


def ascii_url(url: str) -> str:
    """*url* with its host in IDNA form (see :func:`ascii_host`), as requests will send
    it: what a URL prefix must be compared with. An ASCII URL is returned unchanged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.isascii():
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    encoded = ascii_host(host)
    port = hostport[hostport.rfind("]") + 1 :].rpartition(":")[2] if ":" in hostport else ""
    netloc = (userinfo + "@" if userinfo else "") + encoded + (":" + port if port else "")
    return parts._replace(netloc=netloc).geturl()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The ``proxies=`` that sends a request directly, whatever the session's proxies,
#: ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` or ``NO_PROXY`` say (requests drops the
#: keys whose value is None after merging the environment's in).
NO_PROXIES: Dict[str, Any] = {"http": None, "https": None, "all": None}


def proxies_for(url: str) -> Optional[Dict[str, Any]]:
    """:data:`NO_PROXIES` for a loopback URL, else None (the session's and environment's proxies).

    A token call to loopback is meant for a server on this machine (an emulator, a
    sidecar): sent through a proxy it would reach the proxy's own loopback at best,
    and, over the plain HTTP that ``allow_insecure_loopback`` permits, hand the
    client's secret in clear to the proxy.
    """
    return NO_PROXIES if is_loopback(urlsplit(url).hostname or "") else None


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
