"""What a renewing auth has done: counts, events, OpenTelemetry and log fields.

Every renewing auth (:class:`~requests_multiauth.TokenAuth` and its subclasses)
has an :class:`AuthTelemetry` as ``auth.telemetry``::

    auth.telemetry.snapshot().token_calls()         # token calls so far
    unsubscribe = auth.telemetry.subscribe(print)   # each event as it happens

The engine reports to it at the few places where something happens, and never
on a request that carries a valid token (that path takes no lock and records
nothing)::

    a token call, one per HTTP attempt   transport.endpoint.TokenEndpoint.call     TokenRequest
    a shared cache read on the slow path engine.manager.TokenManager._obtain       CacheRead
    a renewal ahead of expiry ends       engine.manager.TokenManager._renew_ahead_locked  RenewalAhead
    a held failure is raised again       engine.holds.FailureHold (raise_if_held, check_shared)  FailureHeld
    a 401 to our token is answered       flow.RequestFlow.replay_once              Replay

Each event updates the auth's counts, then goes to OpenTelemetry (``_otel.py``,
when ``opentelemetry-api`` is installed: ``pip install 'requests-multiauth[otel]'``;
a no-op until the application installs an SDK), then to the callbacks.

No event field, metric attribute, span attribute or log field holds a secret, a
token, an assertion or a URL's query: errors are named by their OAuth code or a
reason the library words itself, never by the server's text.

Every log record of the package carries its event name in the
``requests_multiauth_event`` attribute and its fields as attributes of their own
(see :func:`log_fields`), so JSON log handlers get fields, not sentences.

Where the request goes next: events go to subscribers, OpenTelemetry and the log; the
request itself goes on untouched (nothing here runs for a request with a valid token).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, Type, TypeVar
from urllib.parse import urlsplit

from .engine import fork as _fork
from .errors import TokenRequestError, TokenResponseError
from .transport.urls import safe_url

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from ._otel import _Otel

__all__ = [
    "EVENT_ATTRIBUTE",
    "AuthTelemetry",
    "CacheRead",
    "Event",
    "FailureHeld",
    "RenewalAhead",
    "Replay",
    "TelemetrySnapshot",
    "TokenRequest",
    "log_fields",
]

log = logging.getLogger("requests_multiauth")

#: The log record attribute that names the event of every record this package logs.
EVENT_ATTRIBUTE = "requests_multiauth_event"

# Outcomes of a token call (the values of the requests_multiauth.outcome attribute).
SUCCESS, REFUSED, FAILED, BAD_ANSWER = "success", "refused", "failed", "bad_answer"
# Outcomes of a 401 to our token.
REPLAYED, NOT_REPLAYED = "replayed", "not_replayed"
# Results of a shared cache read.
HIT, MISS = "hit", "miss"

#: What an OAuth error code (a server's word) must look like to be shown in a
#: field; anything else is named by its HTTP status only.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something a renewing auth did. Every event names the auth's class in *auth*."""

    #: The event's name, also the ``requests_multiauth_event`` of its log records.
    name: ClassVar[str] = ""

    auth: str

    def fields(self) -> Dict[str, Any]:
        """The event's fields by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def log_extra(self, **more: Any) -> Dict[str, Any]:
        """The ``extra=`` of the log record that reports this event: its name and
        fields, plus *more* (see :func:`log_fields`)."""
        return log_fields(self.name, **self.fields(), **more)


@dataclass(frozen=True)
class TokenRequest(Event):
    """One HTTP attempt at the token endpoint (a retried call is several).

    Attributes:
        grant: what was asked: ``client_credentials``, ``refresh_token``, ``api_key`` ...
        outcome: ``success``; ``refused`` (an answer that says no: a 4xx or a
            redirect); ``failed`` (no answer, a timeout, 429, 5xx: retried if
            the policy allows); ``bad_answer`` (a 2xx without a usable token).
        server_address: the token endpoint's host.
        duration: seconds the attempt took, answer read and parsed.
        attempt: 1 for the first try of a call, 2 for its first retry ...
        status_code: the HTTP status of a refusal or a failed answer (None on
            success, and when no answer arrived).
        error: the OAuth error code (``invalid_client``) or the library's
            reason (``connection refused``, ``HTTP 503``); None on success.
    """

    name: ClassVar[str] = "token.request"

    grant: str
    outcome: str
    server_address: str
    duration: float
    attempt: int = 1
    status_code: Optional[int] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class CacheRead(Event):
    """The engine consulted a shared cache on its slow path (it held no valid
    token, or renews ahead): ``hit`` when the cache had a usable token that
    another auth, process or host fetched (no token call), ``miss`` otherwise.
    Only for a cache passed as ``cache=``; an auth's private cache is not counted."""

    name: ClassVar[str] = "cache.read"

    result: str


@dataclass(frozen=True)
class RenewalAhead(Event):
    """A renewal ahead of expiry ended, while the current token stayed in use.

    Attributes:
        outcome: ``success`` or ``failed``.
        error: the failure's error code or exception class, if it failed.
        retry_in: seconds until the next try, if it failed.
    """

    name: ClassVar[str] = "renewal.ahead"

    outcome: str
    error: Optional[str] = None
    retry_in: Optional[float] = None


@dataclass(frozen=True)
class FailureHeld(Event):
    """A caller got the last token call's failure again, without a new call
    (the failure hold, which spares the endpoint rejected credentials).

    Attributes:
        error: the failure's error code or exception class.
        seconds_left: how much longer the failure is held.
    """

    name: ClassVar[str] = "failure.held"

    error: str
    seconds_left: float


@dataclass(frozen=True)
class Replay(Event):
    """A 401 to a request that our auth handled: replayed once with a new token,
    or returned as is, with the reason (``reason`` is None when replayed)."""

    name: ClassVar[str] = "replay"

    outcome: str
    reason: Optional[str] = None


Callback = Callable[[Event], None]
E = TypeVar("E", bound=Event)
K = TypeVar("K")


# -- the snapshot --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelemetrySnapshot:
    """What an auth had done when :meth:`AuthTelemetry.snapshot` was called.

    Attributes:
        token_requests: token calls (HTTP attempts) by ``(grant, outcome)``.
        token_request_seconds: the time all of them took, in seconds.
        cache_hits: tokens taken from a shared cache instead of the endpoint.
        cache_misses: shared cache reads that found no usable token.
        renewals_ahead: renewals ahead of expiry that ended, failed ones included.
        renewal_failures: those that failed.
        replayed: 401s answered by renewing and replaying once.
        not_replayed: 401s returned as they were, by reason.
        failures_held: token failures handed to callers again without a new call.
    """

    token_requests: Mapping[Tuple[str, str], int] = field(default_factory=dict)
    token_request_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    renewals_ahead: int = 0
    renewal_failures: int = 0
    replayed: int = 0
    not_replayed: Mapping[str, int] = field(default_factory=dict)
    failures_held: int = 0

    def token_calls(self, *, outcome: Optional[str] = None, grant: Optional[str] = None) -> int:
        """Token calls with this *outcome* and *grant* (each None for any)."""
        return sum(
            count
            for (g, o), count in self.token_requests.items()
            if (grant is None or g == grant) and (outcome is None or o == outcome)
        )


# -- the per-auth recorder -----------------------------------------------------------------------


class AuthTelemetry:
    """What one renewing auth has done, and who wants to know. Safe for concurrent use.

    Reached as ``auth.telemetry``. :meth:`snapshot` and :meth:`subscribe` are for
    users; the ``record_*`` methods and :meth:`token_request` are called by the
    engine.

    Args:
        auth: the auth's class name (the ``requests_multiauth.auth`` attribute).
        shared_cache: count reads of the cache (it was passed as ``cache=``).
    """

    def __init__(self, auth: str, *, shared_cache: bool = False) -> None:
        self.auth = auth
        self.shared_cache = shared_cache
        self._lock = threading.Lock()
        self._callbacks: Tuple[Callback, ...] = ()  # replaced, never changed: read without the lock
        self._failed_callbacks: List[Callback] = []
        self._token_requests: Dict[Tuple[str, str], int] = {}
        self._token_request_seconds = 0.0
        self._counts: Dict[str, int] = {}  # by TelemetrySnapshot field name
        self._not_replayed: Dict[str, int] = {}
        _fork.register(self)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AuthTelemetry({self.auth!r}, token_calls={self.snapshot().token_calls()})"

    # -- for users --------------------------------------------------------------------

    def snapshot(self) -> TelemetrySnapshot:
        """The counts so far, as a frozen record."""
        with self._lock:
            return TelemetrySnapshot(
                token_requests=dict(self._token_requests),
                token_request_seconds=self._token_request_seconds,
                not_replayed=dict(self._not_replayed),
                **self._counts,
            )

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event from now on; returns a function that stops it.

        The callback runs on the thread where the event happened (a request's,
        or a background renewal's), possibly while a token call holds the
        renewal lock: keep it quick. An exception it raises is logged once per
        callback and otherwise ignored; it never reaches a request.
        """
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._callbacks = tuple(c for c in self._callbacks if c is not callback)

        return unsubscribe

    # -- for the engine ----------------------------------------------------------------

    def token_request(self, grant: str, url: str, attempt: int = 1) -> _TokenCall:
        """A context manager around one HTTP attempt at the token endpoint *url*:
        it times the attempt, spans it, and records it with the outcome its
        exception (or none) says."""
        return _TokenCall(self, grant, safe_url(url), attempt)

    # Each record_* method returns its event, whose log_extra() is the extra= of
    # the log record that reports it.

    def record_cache_read(self, hit: bool) -> None:
        """The engine read the cache on its slow path; *hit* if it found a usable token."""
        if self.shared_cache:
            self._emit(CacheRead(self.auth, HIT if hit else MISS))

    def record_renewal_ahead(
        self, error: Optional[BaseException] = None, retry_in: Optional[float] = None
    ) -> RenewalAhead:
        """A renewal ahead of expiry ended: successfully, or with *error*."""
        if error is None:
            return self._emit(RenewalAhead(self.auth, SUCCESS))
        return self._emit(RenewalAhead(self.auth, FAILED, error_name(error), retry_in))

    def record_failure_held(self, error: BaseException, seconds_left: float) -> FailureHeld:
        """A held failure is raised again, *seconds_left* before the hold ends."""
        return self._emit(FailureHeld(self.auth, error_name(error), round(seconds_left, 3)))

    def record_replay(self, reason: Optional[str]) -> Replay:
        """A 401 to our token: replayed (*reason* None) or not, and why."""
        return self._emit(Replay(self.auth, NOT_REPLAYED if reason else REPLAYED, reason))

    # -- dispatch ----------------------------------------------------------------------

    def _emit(self, event: E) -> E:
        with self._lock:
            self._count(event)
        otel = _otel()
        if otel is not None:
            otel.record(event)
        for callback in self._callbacks + _observers:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a monitoring callback must never break a request
                self._report_callback_failure(callback, event)
        return event

    def _count(self, event: Event) -> None:
        if isinstance(event, TokenRequest):
            _add(self._token_requests, (event.grant, event.outcome))
            self._token_request_seconds += event.duration
        elif isinstance(event, CacheRead):
            _add(self._counts, "cache_hits" if event.result == HIT else "cache_misses")
        elif isinstance(event, RenewalAhead):
            _add(self._counts, "renewals_ahead")
            if event.outcome != SUCCESS:
                _add(self._counts, "renewal_failures")
        elif isinstance(event, FailureHeld):
            _add(self._counts, "failures_held")
        elif isinstance(event, Replay):
            if event.reason is None:
                _add(self._counts, "replayed")
            else:
                _add(self._not_replayed, event.reason)

    def _report_callback_failure(self, callback: Callback, event: Event) -> None:
        with self._lock:
            if any(c is callback for c in self._failed_callbacks):
                return
            self._failed_callbacks.append(callback)
        log.warning(
            "%s: a telemetry callback (%s) raised on a %s event; it is ignored, and further failures "
            "of this callback are not logged",
            self.auth,
            getattr(callback, "__qualname__", type(callback).__name__),
            event.name,
            exc_info=True,
            extra=log_fields("telemetry.callback_failed", auth=self.auth, failed_event=event.name),
        )


def _add(counts: Dict[K, int], key: K) -> None:
    counts[key] = counts.get(key, 0) + 1


#: Callbacks that see the events of every auth (the test suite's secret check).
_observers: Tuple[Callback, ...] = ()


def _observe_all(callback: Callback) -> Callable[[], None]:
    """Call *callback* with every event of every auth (for tests)."""
    global _observers
    _observers = (*_observers, callback)

    def stop() -> None:
        global _observers
        _observers = tuple(c for c in _observers if c is not callback)

    return stop


class _TokenCall:
    """Times, spans and records one HTTP attempt at a token endpoint (see AuthTelemetry.token_request)."""

    __slots__ = ("_attempt", "_context", "_grant", "_otel", "_server", "_span", "_started", "_telemetry", "_url")

    def __init__(self, telemetry: AuthTelemetry, grant: str, url: str, attempt: int) -> None:
        self._telemetry = telemetry
        self._grant = grant
        self._url = url  # safe_url: no credentials, no query
        self._server = urlsplit(url).hostname or ""
        self._attempt = attempt
        self._otel: Optional[_Otel] = None
        self._span: Optional[Span] = None
        self._context: Optional[object] = None
        self._started = 0.0

    def __enter__(self) -> _TokenCall:
        self._otel = otel = _otel()
        if otel is not None:
            self._span, self._context = otel.start_span(self._telemetry.auth, self._grant, self._server)
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        duration = time.perf_counter() - self._started
        outcome, status, error = outcome_of(exc)
        event = TokenRequest(
            self._telemetry.auth, self._grant, outcome, self._server, duration, self._attempt, status, error
        )
        if self._otel is not None and self._span is not None:
            self._otel.end_span(self._span, self._context, event)
        log.debug(
            "POST %s (%s, attempt %d): %s%s in %.3f s",
            self._url,
            self._grant,
            self._attempt,
            outcome,
            f" ({error})" if error else "",
            duration,
            extra=event.log_extra(url=self._url),
        )
        self._telemetry._emit(event)  # noqa: SLF001 - the recorder's own helper


def outcome_of(exc: Optional[BaseException]) -> Tuple[str, Optional[int], Optional[str]]:
    """The outcome, HTTP status and error name of a token-call attempt that raised *exc* (or None)."""
    if exc is None:
        return SUCCESS, None, None
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    if isinstance(exc, TokenResponseError):
        return BAD_ANSWER, status, "unusable answer"
    if isinstance(exc, TokenRequestError) and status is not None:
        return REFUSED, status, error_name(exc)
    if status is not None:  # a transient answer: 429, 5xx, Cognito's "Rate exceeded"
        return FAILED, status, f"HTTP {status}"
    reason = getattr(exc, "reason", None)  # the endpoint's worded network reasons
    return FAILED, None, reason if isinstance(reason, str) else type(exc).__name__


def error_name(exc: BaseException) -> str:
    """A short name for a failure, fit for fields and attributes: the OAuth error
    code if it looks like one, else ``HTTP <status>``, else the exception class."""
    code = getattr(exc, "error", None)
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return code
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    return type(exc).__name__


# -- structured logs -----------------------------------------------------------------------------


def log_fields(event: str, **values: Any) -> Dict[str, Any]:
    """The ``extra=`` of a log call: the event's name and its fields, which become
    attributes of the log record (``record.requests_multiauth_event``, ``record.auth`` ...).

    Field values must never hold a secret, a token or a URL's query (pass URLs
    through ``_urls.safe_url``)."""
    return {EVENT_ATTRIBUTE: event, **values}


def _otel() -> Optional[_Otel]:
    """The OpenTelemetry instruments (``_otel.py``), made on first use; None without ``opentelemetry-api``."""
    from ._otel import instruments

    return instruments()
