"""OpenTelemetry's SDK, installed once for the test process, read through its in-memory
reader and exporter.

The global meter and tracer providers can be set once per process, so the SDK is
installed by a session fixture (``_otel_sdk``, the first time a test asks for
``otel``); each test gets an :class:`OtelCapture` that starts from zero (metrics are
read with delta temporality, the finished spans are cleared) and that hands everything
it saw to the suite-wide secret check.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

import pytest

from .fixtures_secrets import SecretWatch

Point = Tuple[Dict[str, Any], float]


class OtelCapture:
    """What the SDK recorded since the test began: metric points by name, finished spans."""

    def __init__(self, reader: Any, exporter: Any) -> None:
        self._reader = reader
        self._exporter = exporter
        self._points: Dict[str, List[Point]] = {}
        self.units: Dict[str, str] = {}

    def start(self) -> None:
        self._reader.get_metrics_data()  # delta temporality: what came before is gone
        self._exporter.clear()
        self._points.clear()
        self.units.clear()

    def _collect(self) -> None:
        data = self._reader.get_metrics_data()
        if data is None:
            return
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    self.units[metric.name] = metric.unit or ""
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:  # a histogram point: how many values it counted
                            value = point.count  # type: ignore[union-attr]
                        self._points.setdefault(metric.name, []).append((dict(point.attributes or {}), value))

    def points(self, name: str) -> List[Point]:
        """Every point of the metric *name* so far (delta points: add them up)."""
        self._collect()
        return list(self._points.get(name, []))

    def total(self, name: str, **attributes: str) -> float:
        """The sum of *name*'s points (for a histogram, of its counts) whose attributes
        include *attributes* (dots in attribute names are written as ``__``)."""
        wanted = {key.replace("__", "."): value for key, value in attributes.items()}
        return sum(v for attrs, v in self.points(name) if all(attrs.get(k) == w for k, w in wanted.items()))

    def spans(self) -> List[Any]:
        return list(self._exporter.get_finished_spans())

    def dump(self) -> str:
        """Every metric name and attribute, span name, attribute and event, as text."""
        lines = [f"METRIC {name} {attrs!r}" for name, points in self.points_by_name().items() for attrs, _ in points]
        for span in self.spans():
            events = [(e.name, dict(e.attributes or {})) for e in span.events]
            lines.append(f"SPAN {span.name} {dict(span.attributes or {})!r} {span.status!r} {events!r}")
        return "\n".join(lines)

    def points_by_name(self) -> Mapping[str, List[Point]]:
        self._collect()
        return dict(self._points)


@pytest.fixture(scope="session")
def _otel_sdk() -> Tuple[Any, Any]:
    # Imported here: without opentelemetry-sdk, only the tests that ask for it are skipped.
    pytest.importorskip("opentelemetry.sdk", reason="the telemetry tests need opentelemetry-sdk (the test extra)")
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    return reader, exporter


@pytest.fixture
def otel(_otel_sdk: Tuple[Any, Any], _secrets_stay_out_of_logs: SecretWatch) -> OtelCapture:
    """What OpenTelemetry's SDK records during this test; scanned for secrets at its end."""
    capture = OtelCapture(*_otel_sdk)
    capture.start()
    _secrets_stay_out_of_logs.add_source(capture.dump)
    return capture
