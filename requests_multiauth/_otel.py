"""The OpenTelemetry side of telemetry: metrics and a span per token call.

:mod:`requests_multiauth.telemetry` hands every event here, when
``opentelemetry-api`` is installed (``pip install 'requests-multiauth[otel]'``);
the instruments and the tracer come from OpenTelemetry's global providers, so
they are no-ops until the application installs an SDK. Loaded on the first
event, never by ``import requests_multiauth``.

Where the request goes next: nowhere; a token call's span is current while the
call runs, so an instrumented HTTP client's span is its child.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from .telemetry import SUCCESS, CacheRead, Event, FailureHeld, RenewalAhead, Replay, TokenRequest

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["DURATION_BUCKETS", "SPAN_NAME", "instruments"]

#: Bucket boundaries of the duration histogram, in seconds: OpenTelemetry's HTTP
#: client durations (the SDK's default boundaries are meant for milliseconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

SPAN_NAME = "requests_multiauth token request"


class _Otel:
    """The instruments and tracer, from OpenTelemetry's global providers.

    Those are proxies until the application installs an SDK, and instruments
    made from them then report to the SDK's: getting them once is enough."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace

        from . import __version__

        self._context = context
        self._trace = trace
        meter = metrics.get_meter("requests_multiauth", __version__)
        self.tracer = trace.get_tracer("requests_multiauth", __version__)
        self.token_requests = meter.create_counter(
            "requests_multiauth.token.requests", unit="{request}", description="Token endpoint calls (HTTP attempts)"
        )
        self.duration = meter.create_histogram(
            "requests_multiauth.token.request.duration",
            unit="s",
            description="Duration of token endpoint calls",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.replays = meter.create_counter(
            "requests_multiauth.replays", unit="{request}", description="401s to our token: replayed or not"
        )
        self.cache_reads = meter.create_counter(
            "requests_multiauth.cache.reads", unit="{read}", description="Shared token cache reads on the slow path"
        )
        self.renewals = meter.create_counter(
            "requests_multiauth.renewals", unit="{renewal}", description="Renewals ahead of expiry, by outcome"
        )
        self.failures_held = meter.create_counter(
            "requests_multiauth.failures.held",
            unit="{request}",
            description="Token failures handed to callers again without a new call",
        )

    def record(self, event: Event) -> None:
        if isinstance(event, TokenRequest):
            attributes = _token_attributes(event.auth, event.grant, event.server_address)
            attributes["requests_multiauth.outcome"] = event.outcome
            self.token_requests.add(1, attributes)
            self.duration.record(event.duration, attributes)
        elif isinstance(event, Replay):
            self.replays.add(1, {"requests_multiauth.outcome": event.outcome})
        elif isinstance(event, CacheRead):
            self.cache_reads.add(1, {"requests_multiauth.result": event.result})
        elif isinstance(event, RenewalAhead):
            self.renewals.add(1, {"requests_multiauth.outcome": event.outcome, "requests_multiauth.auth": event.auth})
        elif isinstance(event, FailureHeld):
            self.failures_held.add(1, {"requests_multiauth.auth": event.auth})

    def start_span(self, auth: str, grant: str, server: str) -> Tuple[Span, object]:
        span = self.tracer.start_span(
            SPAN_NAME,
            kind=self._trace.SpanKind.CLIENT,
            attributes=_token_attributes(auth, grant, server),
            record_exception=False,
            set_status_on_exception=False,
        )
        # Current while the call runs, so that an instrumented HTTP client's span is its child.
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def end_span(self, span: Span, token: Optional[object], event: TokenRequest) -> None:
        try:
            span.set_attribute("requests_multiauth.outcome", event.outcome)
            if event.status_code is not None:
                span.set_attribute("http.response.status_code", event.status_code)
            if event.outcome != SUCCESS:
                span.set_attribute("error.type", event.error or event.outcome)
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, f"{event.outcome}: {event.error}"))
            span.end()
        finally:
            if token is not None:
                self._context.detach(token)  # type: ignore[arg-type]


def _token_attributes(auth: str, grant: str, server: str) -> Dict[str, Any]:
    return {
        "requests_multiauth.grant": grant,
        "requests_multiauth.auth": auth,
        "server.address": server,
    }


_otel_state: Dict[str, Optional[_Otel]] = {}
_otel_lock = threading.Lock()


def instruments() -> Optional[_Otel]:
    """The OpenTelemetry instruments, made on first use; None without ``opentelemetry-api``."""
    try:
        return _otel_state["otel"]
    except KeyError:
        pass
    with _otel_lock:
        if "otel" not in _otel_state:
            try:
                _otel_state["otel"] = _Otel()
            except ImportError:
                _otel_state["otel"] = None
        return _otel_state["otel"]
