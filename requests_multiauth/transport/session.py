"""MultiAuthSession: a ``requests.Session`` preconfigured for machine-to-machine APIs.

It adds to requests' session what calling an API from a service needs and
requests leaves out: a base URL, a default timeout, retries of transient
faults, and one set of credentials per API on one session::

    with MultiAuthSession(DataloyAuth(...), base_url="https://api.dataloy.com/ws/rest/") as session:
        session.mount_auth("https://api.opsnow.io/", OpsNowAuth(api_key))
        session.get("Cargo")                              # Dataloy's token
        session.get("https://api.opsnow.io/v1/costs")     # OpsNow's token, and only it

A request goes: ``prepare_request`` joins a relative URL to ``base_url`` and
leaves a URL under a :meth:`~MultiAuthSession.mount_auth` prefix to that
prefix's :class:`~requests_multiauth.AuthAdapter` (the session's ``auth`` is
not applied to it); ``send`` fills in the default timeout; the adapter
(adapter.py) authenticates, sends with urllib3 retries, and replays a 401 once.

Where the request goes next: the auth of the session or of the mounted adapter
(flow.py, adapter.py), then the wire.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, ReadTimeoutError
from urllib3.util.retry import Retry

from ..errors import ConfigurationError
from .adapter import AuthAdapter, is_cross_origin_hop, mark_cross_origin_hop
from .retry import DEFAULT_RETRY, jitter
from .tls import call_verify
from .urls import ascii_url, origin, safe_url

if TYPE_CHECKING:
    from ..flow import RequestFlow

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MultiAuthSession",
    "join_url",
    "retry_policy",
]

#: A request timeout: seconds for connect and read together, or a (connect, read) pair.
Timeout = Union[float, Tuple[Optional[float], Optional[float]]]

#: Applied when a request gives no timeout (requests' own default is to wait
#: forever, which turns a hung server into a hung worker). Connect: just over
#: 3 s, the TCP SYN retransmission interval, so one lost packet is survived.
#: Read (the longest silence between bytes, not the whole download): 30 s,
#: longer than APIs take to start answering, short enough to notice a hang.
DEFAULT_TIMEOUT: Timeout = (3.05, 30.0)

#: How many times a request is retried (after the first try) on a transient fault.
DEFAULT_RETRIES = 3

#: Retried statuses: rate limited (429) and the gateway errors a restart or
#: overload causes (502/503/504). A 500 is usually a bug a retry repeats; a 401
#: is the auth's business (renew and replay), never a retry.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: urllib3's backoff factor: no wait before the first retry, then 1 s, 2 s, 4 s ...
#: (the numbers of the package's one retry policy, transport/retry.py).
RETRY_BACKOFF = DEFAULT_RETRY.backoff

#: The longest wait between two tries when the server does not say (Retry-After).
RETRY_BACKOFF_MAX = DEFAULT_RETRY.max_backoff

#: The longest ``Retry-After`` honoured; a server asking for more is waited on
#: this long, then retried, so that one answer cannot stall a worker for hours.
RETRY_AFTER_MAX = DEFAULT_RETRY.max_retry_after

_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class _Retry(Retry):
    """urllib3's Retry with a capped, jittered backoff and a capped, tolerant ``Retry-After``
    (the caps are class constants so that they hold on urllib3 1.26 and 2.x alike)."""

    def get_backoff_time(self) -> float:
        backoff = min(super().get_backoff_time(), RETRY_BACKOFF_MAX)
        return jitter(backoff)  # so that clients do not retry in step

    def get_retry_after(self, response: Any) -> Optional[float]:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None  # unreadable: fall back to the backoff
        return None if seconds is None else min(seconds, RETRY_AFTER_MAX)


def retry_policy(retries: int = DEFAULT_RETRIES, *, backoff: float = RETRY_BACKOFF) -> Retry:
    """The urllib3 ``Retry`` that :class:`MultiAuthSession` uses for an int *retries*.

    Up to *retries* retries after connection errors and connection resets (for
    idempotent methods: GET, HEAD, PUT, DELETE, OPTIONS, TRACE; a connection
    that could not be opened is retried for every method, the request was never
    sent) and after a 429/502/503/504 answer to an idempotent method. The wait
    is ``Retry-After`` when the server sends one (at most :data:`RETRY_AFTER_MAX`),
    else an exponential backoff from *backoff* seconds. When retries run out the
    last answer is returned, to be checked with ``raise_for_status()``. Other
    errors (a certificate that fails verification) are not retried.
    """
    if retries < 0:
        raise ConfigurationError("retries must be 0 or more")
    return _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
        backoff_factor=backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def join_url(base_url: str, url: str) -> str:
    """*url* resolved against *base_url*, the way :class:`MultiAuthSession` does it.

    An absolute URL (with a scheme) is returned unchanged; ``//host/path`` takes
    the base's scheme. Anything else is a path *under* the base URL, whether or
    not the base ends with ``/`` and whether or not *url* starts with one::

        join_url("https://h/api/v2", "items")   -> "https://h/api/v2/items"
        join_url("https://h/api/v2/", "/items") -> "https://h/api/v2/items"
        join_url("https://h/api/v2", "")        -> "https://h/api/v2/"

    (Unlike ``urllib.parse.urljoin``, which would drop ``v2`` in the first case and
    ``api/v2`` in the second.) To reach another path, pass an absolute URL.
    """
    if _HAS_SCHEME.match(url):
        return url
    if url.startswith("//"):
        return f"{urlsplit(base_url).scheme}:{url}"
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"base_url must be an absolute URL like 'https://api.example.com/v1/', not {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"base_url {safe_url(base_url)} must not carry a query or fragment: pass params= per request"
        )
    return base_url


def _describe_auth(auth: Any) -> str:
    if isinstance(auth, tuple) and len(auth) == 2:
        return f"({auth[0]!r}, '***')"  # requests' (user, password) shorthand: never show the password
    return repr(auth)


def _leave_to_mounted_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    # Stands in for the session's auth on URLs whose AuthAdapter has credentials of its own.
    return request


class MultiAuthSession(requests.Session):
    """A ``requests.Session`` with a base URL, a default timeout, retries, and credentials per API.

    * **auth** authenticates every request, as ``session.auth`` does, except
      those under a :meth:`mount_auth` prefix, which carry their own API's
      credentials and nothing else.
    * **base_url**: relative URLs are joined to it (see :func:`join_url`:
      always *under* it, trailing and leading slashes do not matter); absolute
      URLs pass unchanged.
    * **timeout**: applied to every request that gives none
      (:data:`DEFAULT_TIMEOUT`); ``timeout=None`` here waits forever, as plain
      requests does.
    * **retries**: an int (see :func:`retry_policy`: connection errors, 429,
      502/503/504 for idempotent methods, ``Retry-After`` honoured, 401 never
      retried), a urllib3 ``Retry`` of your own, or 0/None for none.
    * **verify**: the CA bundle (a path) or ``False``, as ``Session.verify``.
      **Unlike plain requests**, a ``verify`` set on this session (here or as
      ``session.verify = ...``) wins over the ``REQUESTS_CA_BUNDLE`` and
      ``CURL_CA_BUNDLE`` environment variables: requests lets them replace a
      session's CA bundle (requests issue #3829), so that code trusting a
      private CA breaks on machines that set them (CI runners, company
      proxies). A session left at ``verify=True`` still follows them, and a
      ``verify=`` given per request wins over both, as in requests.
    * **redirects**: a hop to another origin gets no token from any auth of the
      session (requests already drops ``Authorization`` there; custom token
      headers are dropped as well, and a mounted API's adapter does not
      authenticate a request another server redirected to it).
    * As a context manager (or with :meth:`close`) it closes its connections and
      its auths' resources.

    Like ``requests.Session``, it may be used from several threads for
    requests; configure it (``mount_auth``, attributes) before sharing it.

    Raises: ``ConfigurationError`` for an unusable ``base_url`` or prefix; per
    request, what the auths raise and requests' own errors.
    """

    #: What pickling keeps (requests.Session pickles only the attributes listed here).
    __attrs__ = [*requests.Session.__attrs__, "base_url", "timeout", "retries"]  # noqa: RUF012 - as requests declares it

    def __init__(
        self,
        auth: Any = None,
        *,
        base_url: Optional[str] = None,
        timeout: Optional[Timeout] = DEFAULT_TIMEOUT,
        retries: Union[int, Retry, None] = DEFAULT_RETRIES,
        verify: Union[bool, str, None] = None,
    ) -> None:
        super().__init__()
        self.auth = auth
        if verify is not None:
            self.verify = verify
        self.base_url: Optional[str] = _check_base_url(base_url) if base_url is not None else None
        self.timeout: Optional[Timeout] = timeout
        self.retries: Retry = retries if isinstance(retries, Retry) else retry_policy(retries or 0)
        for scheme in ("https://", "http://"):
            self.mount(scheme, HTTPAdapter(max_retries=self.retries))

    # -- credentials per API -------------------------------------------------------

    def mount_auth(self, prefix: str, auth: RequestFlow) -> AuthAdapter:
        """Authenticate the requests under *prefix* with *auth*, and only with it.

        *prefix* is a URL prefix with a host (``"https://api.example.com/"``,
        ``"https://api.example.com/v2/"``), or a path relative to ``base_url``.
        The longest matching prefix wins, as with ``Session.mount``. A prefix
        without a path gets ``/``, so that ``https://api.example.com`` does not
        also match ``https://api.example.com.evil.example``. Returns the
        mounted :class:`~requests_multiauth.AuthAdapter`.
        """
        if self.base_url is not None:
            prefix = join_url(self.base_url, prefix)
        parts = urlsplit(prefix)
        if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(
                f"mount_auth needs a URL prefix with a host, like 'https://api.example.com/', not {prefix!r}; "
                "to authenticate every request of the session, pass the auth as MultiAuthSession(auth)"
            )
        if not parts.path:
            prefix += "/"
        prefix = ascii_url(prefix)  # requests sends (and mount matches) an IDN host in its punycode form
        adapter = AuthAdapter(auth, origins=prefix, max_retries=self.retries)
        self.mount(prefix, adapter)
        return adapter

    def _mounted_auths(self) -> Dict[str, AuthAdapter]:
        return {prefix: adapter for prefix, adapter in self.adapters.items() if isinstance(adapter, AuthAdapter)}

    # -- the request flow ----------------------------------------------------------------

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        url = request.url.decode("utf-8") if isinstance(request.url, bytes) else str(request.url)
        if self.base_url is not None:
            url = join_url(self.base_url, url)
        elif url and ":" not in url:
            raise requests.exceptions.MissingSchema(
                f"{url.partition('?')[0]!r} is a relative URL and this session has no base_url: "
                "pass an absolute URL, or MultiAuthSession(base_url='https://api.example.com/')"
            )
        leave_to_adapter = request.auth is None and self._has_mounted_auth(url)
        if url != request.url or leave_to_adapter:
            request = copy.copy(request)  # the caller's Request stays as it was
            request.url = url
            if leave_to_adapter:
                request.auth = _leave_to_mounted_auth
        return super().prepare_request(request)

    def _has_mounted_auth(self, url: str) -> bool:
        url = ascii_url(url)  # as requests will send it
        try:
            adapter = self.get_adapter(url)
        except requests.exceptions.InvalidSchema:
            return False
        return isinstance(adapter, AuthAdapter) and adapter.serves(url)

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> Dict[str, Any]:
        """requests' merge of the environment, except that a ``verify`` set on the
        session beats ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` (see the class docstring).

        requests only reads those variables when the request's *verify* is None
        or True; passing the session's own CA bundle on for a request that gave
        none keeps them out. A request's explicit ``verify=`` is left as given.
        """
        if verify is None:
            verify = call_verify(self.verify)
        merged: Dict[str, Any] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return merged

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send as ``requests.Session.send`` does, with the session's timeout when none is given.

        A read timeout raises ``requests.ReadTimeout`` (after the retries an
        idempotent request gets), as plain requests does.
        """
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        try:
            return super().send(request, **kwargs)
        except requests.ConnectionError as exc:
            # With read retries, urllib3 reports the last read timeout inside a
            # MaxRetryError, which requests turns into a ConnectionError; raise the
            # ReadTimeout that callers of requests catch.
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(reason, ReadTimeoutError):
                raise requests.exceptions.ReadTimeout(*exc.args, request=exc.request, response=exc.response) from exc
            raise

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """On a redirect hop to another origin, drop every token header of ours and
        mark the hop so that no :class:`~requests_multiauth.AuthAdapter` authenticates it."""
        super().rebuild_auth(prepared_request, response)
        previous = response.request
        if is_cross_origin_hop(previous) or origin(prepared_request.url or "") != origin(previous.url or ""):
            mark_cross_origin_hop(prepared_request)
            for name in self._token_headers():
                prepared_request.headers.pop(name, None)

    def _token_headers(self) -> Set[str]:
        """Every header an auth of this session sets (their presenters say which), and Authorization."""
        names = {"Authorization"}
        for auth in (self.auth, *(adapter.auth for adapter in self._mounted_auths().values())):
            presenter = getattr(auth, "presenter", None)
            header = getattr(auth, "header_name", None)  # an auth of another library may name one
            if presenter is not None:
                names.update(presenter.header_names)
            elif isinstance(header, str):
                names.add(header)
        return names

    # -- lifecycle and description --------------------------------------------------------

    def close(self) -> None:
        """Close the connections, and the auths' resources (each mounted auth and ``auth``)."""
        super().close()  # closes every adapter; an AuthAdapter closes its auth
        close = getattr(self.auth, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        fields = []
        if self.base_url is not None:
            fields.append(f"base_url={safe_url(self.base_url)!r}")
        fields.append(f"auth={_describe_auth(self.auth)}")
        mounted = {safe_url(prefix): adapter.auth for prefix, adapter in self._mounted_auths().items()}
        if mounted:
            fields.append(f"mounted={mounted!r}")
        total = self.retries.total
        fields.append(f"timeout={self.timeout!r}")
        fields.append(f"retries={total if isinstance(total, int) else self.retries!r}")
        return f"{type(self).__name__}({', '.join(fields)})"
