"""URL facts the security rules depend on: origins, loopback, HTTPS-only, and its one exception.

The exception (DESIGN "Metadata endpoints are HTTP by design"): a cloud's metadata
endpoint is plain HTTP on a link-local address, and the token request to it carries
no secret. So a grant may list ``plain_http_hosts``, and :func:`check_transport`
lets plain HTTP through to one of them only when :func:`metadata_origin` said it is a
metadata endpoint: a link-local metadata address (:data:`METADATA_HOSTS`), or the
endpoint the platform names in its own variable (which variables: the metadata presets'
provider records, whose values the preset passes as *named*). No
other host, loopback included, is ever reached over HTTP this way, and the token a
metadata endpoint gives still goes only to HTTPS APIs (the API request's check
passes no ``plain_http_hosts``).

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
        here = host_port(url)
        allowed = [host for host in plain_http_hosts if host == here]
        if allowed and all(isinstance(host, MetadataOrigin) for host in allowed):
            return
        if allowed:  # listed, but not by the metadata rule
            hint = (
                "plain HTTP is allowed only to a cloud metadata endpoint (a link-local metadata address, or the "
                "endpoint the platform's own variable names); list it in plain_http_hosts as "
                "requests_multiauth.transport.urls.metadata_origin() returns it, or use https://"
            )
        elif allow_insecure_loopback:
            hint = "allow_insecure_loopback=True permits plain HTTP to loopback only"
        else:
            hint = "use https://, or pass allow_insecure_loopback=True for a test server on loopback"
        raise InsecureTransportError(f"refusing to send {what} over plain HTTP to {safe_url(url)}: {hint}")
    shown = safe_url(url) if scheme else "a URL without a scheme"
    raise ConfigurationError(f"{shown} is not an https:// URL; {what} can only be sent over HTTPS")


#: The link-local addresses cloud metadata servers answer on: AWS, Azure and Google
#: (169.254.169.254), AWS over IPv6 (fd00:ec2::254), and Google's name for its server.
#: https://learn.microsoft.com/en-us/azure/virtual-machines/instance-metadata-service
#: https://cloud.google.com/compute/docs/metadata/querying-metadata
#: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
METADATA_HOSTS = ("169.254.169.254", "fd00:ec2::254", "metadata.google.internal")


class MetadataOrigin(str):
    """A ``host:port`` that :func:`metadata_origin` found to be a cloud metadata endpoint.

    Only such a value in a grant's ``plain_http_hosts`` opens plain HTTP: a plain
    string there is refused by :func:`check_transport`, so no grant can open HTTP to
    another host by listing it.
    """

    __slots__ = ()

    def __reduce__(self) -> Tuple[type, Tuple[str]]:
        return (MetadataOrigin, (str(self),))


def host_port(url: str) -> str:
    """``host:port`` of *url*, default port filled in (``169.254.169.254:80``)."""
    _, host, port = origin(url)
    return f"{host}:{port}"


def _variable_origin(value: str) -> Optional[str]:
    """``host:port`` a platform variable names: a URL (``http://127.0.0.1:41741/msi/token``)
    or a bare ``host[:port]`` (``metadata.google.internal``, ``127.0.0.1:8080``)."""
    value = value.strip()
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    if urlsplit(value).scheme.lower() != "http":
        return None
    try:
        return host_port(value)
    except ValueError:
        return None


def metadata_origin(url: str, named: Iterable[str] = ()) -> Optional[MetadataOrigin]:
    """The metadata rule: ``host:port`` of *url* if it may be called over plain HTTP, else None.

    *url* qualifies when it is ``http://`` to a link-local metadata address
    (:data:`METADATA_HOSTS`), or to the very origin of one of *named*: the endpoints
    the platform names in its own variables (App Service's identity endpoint, AKS pod
    identity's IMDS host, google-auth's metadata host), as the preset read them from
    the variables its provider record declares. Anything else is None.
    """
    if urlsplit(url).scheme.lower() != "http":
        return None
    here = host_port(url)
    if origin(url)[1].strip("[]") in METADATA_HOSTS:
        return MetadataOrigin(here)
    if any(_variable_origin(value) == here for value in named):
        return MetadataOrigin(here)
    return None
