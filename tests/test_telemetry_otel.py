"""OpenTelemetry (the ``otel`` extra): the metrics and the span of DESIGN.md, read through the
SDK's in-memory reader and exporter, against the local provider emulations."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from requests_multiauth import CognitoAuth, FileTokenCache, InvalidClientError, RetryPolicy
from requests_multiauth.testing import CognitoEmulator, DiagramsEmulator, ManualClock, Reply

from .fixtures_otel import OtelCapture
from .fixtures_secrets import SecretWatch

pytest.importorskip("opentelemetry.sdk", reason="the telemetry tests need opentelemetry-sdk (the test extra)")

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

TOKEN_REQUESTS = "requests_multiauth.token.requests"
DURATION = "requests_multiauth.token.request.duration"
REPLAYS = "requests_multiauth.replays"
CACHE_READS = "requests_multiauth.cache.reads"
SPAN_NAME = "requests_multiauth token request"

#: The attributes of a token call's metrics, as DESIGN.md names them.
TOKEN_ATTRIBUTES = {
    "requests_multiauth.outcome",
    "requests_multiauth.grant",
    "requests_multiauth.auth",
    "server.address",
}

WAIT = 30.0


def issued(emulator: CognitoEmulator | DiagramsEmulator) -> list:
    return list(emulator._tokens) + list(getattr(emulator, "_refresh_tokens", {}))


def get(emulator: CognitoEmulator | DiagramsEmulator, auth: requests.auth.AuthBase) -> requests.Response:
    return emulator.api_session().get(emulator.api_url + "items", auth=auth, timeout=WAIT)


def test_twenty_requests_over_two_lifetimes_count_as_many_token_requests_as_the_server_saw(
    cognito_provider: CognitoEmulator, clock: ManualClock, otel: OtelCapture, secret_strings: SecretWatch
) -> None:
    auth = cognito_provider.auth()

    for _ in range(20):
        assert get(cognito_provider, auth).status_code == 200
        auth._manager.join(WAIT)
        clock.advance(cognito_provider.lifetime / 10)

    calls = cognito_provider.token_calls
    assert calls >= 2
    points = otel.points(TOKEN_REQUESTS)
    assert {frozenset(attrs) for attrs, _ in points} == {frozenset(TOKEN_ATTRIBUTES)}
    assert otel.total(TOKEN_REQUESTS) == calls
    assert (
        otel.total(
            TOKEN_REQUESTS,
            requests_multiauth__outcome="success",
            requests_multiauth__grant="client_credentials",
            requests_multiauth__auth="CognitoAuth",
            server__address="127.0.0.1",
        )
        == calls
    )
    assert otel.total(DURATION) == calls  # one duration per call
    assert (otel.units[TOKEN_REQUESTS], otel.units[DURATION]) == ("{request}", "s")
    assert auth.telemetry.snapshot().token_calls() == calls  # the plain-Python view agrees
    spans = otel.spans()
    assert len(spans) == calls
    for span in spans:
        assert (span.name, span.kind, span.status.status_code) == (SPAN_NAME, SpanKind.CLIENT, StatusCode.UNSET)
        assert span.attributes is not None
        assert span.attributes["requests_multiauth.grant"] == "client_credentials"
        assert span.attributes["requests_multiauth.outcome"] == "success"
        assert span.attributes["server.address"] == "127.0.0.1"
    secret_strings.add(cognito_provider.client_secret, *issued(cognito_provider))


def test_a_refused_call_counts_as_refused_and_its_span_has_the_error_status(
    cognito_provider: CognitoEmulator, otel: OtelCapture
) -> None:
    c = cognito_provider
    auth = CognitoAuth(c.client_id, "not-the-secret-at-all", c.token_url, session=c.api_session())

    with pytest.raises(InvalidClientError):
        auth.get_token()

    assert otel.total(TOKEN_REQUESTS, requests_multiauth__outcome="refused") == 1 == c.token_calls
    (span,) = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "refused: invalid_client"
    assert span.attributes is not None
    assert (span.attributes["requests_multiauth.outcome"], span.attributes["error.type"]) == (
        "refused",
        "invalid_client",
    )


def test_each_try_of_a_retried_call_is_one_span_and_one_count(
    cognito_provider: CognitoEmulator, otel: OtelCapture
) -> None:
    cognito_provider.inject(Reply(503, "busy"), times=2)
    auth = cognito_provider.auth(retry=RetryPolicy(attempts=3, backoff=0.0))

    auth.get_token()

    assert cognito_provider.token_calls == 3
    assert otel.total(TOKEN_REQUESTS, requests_multiauth__outcome="failed") == 2
    assert otel.total(TOKEN_REQUESTS, requests_multiauth__outcome="success") == 1
    statuses = [span.status.status_code for span in otel.spans()]
    assert statuses == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]


def test_a_renewal_by_refresh_token_counts_as_refresh_token(
    diagrams_provider: DiagramsEmulator, clock: ManualClock, otel: OtelCapture, secret_strings: SecretWatch
) -> None:
    auth = diagrams_provider.auth()
    auth.get_token()
    clock.advance(diagrams_provider.lifetime)

    auth.get_token()

    assert diagrams_provider.refresh_calls == 1
    assert otel.total(TOKEN_REQUESTS, requests_multiauth__grant="refresh_token") == 1
    assert otel.total(TOKEN_REQUESTS, requests_multiauth__grant="client_credentials") == 1
    assert otel.total(TOKEN_REQUESTS, requests_multiauth__auth="DiagramsAuth") == 2
    secret_strings.add(diagrams_provider.application_secret, *issued(diagrams_provider))


def test_a_revoked_tokens_replay_counts_as_replayed(cognito_provider: CognitoEmulator, otel: OtelCapture) -> None:
    auth = cognito_provider.auth()
    assert get(cognito_provider, auth).status_code == 200
    cognito_provider.revoke()

    assert get(cognito_provider, auth).status_code == 200

    assert otel.points(REPLAYS) == [({"requests_multiauth.outcome": "replayed"}, 1)]
    assert otel.units[REPLAYS] == "{request}"


def test_the_token_call_span_is_a_child_of_the_applications_span(
    cognito_provider: CognitoEmulator, otel: OtelCapture
) -> None:
    auth = cognito_provider.auth()

    with trace.get_tracer("the application").start_as_current_span("handle a job") as parent:
        auth.get_token()

    ours = next(span for span in otel.spans() if span.name == SPAN_NAME)
    assert ours.parent is not None
    assert ours.parent.span_id == parent.get_span_context().span_id


# -- other processes ---------------------------------------------------------------------------------------

#: Run in a child: the application installs the SDK, then makes one request through a
#: CognitoAuth, and prints what the in-memory reader and exporter saw.
CHILD = textwrap.dedent(
    """
    import json, sys, requests
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from requests_multiauth import CognitoAuth, FileTokenCache

    client_id, secret, token_url, scope, api_url, verify, directory, before = sys.argv[1:]
    session = requests.Session()
    session.verify, session.trust_env = verify, False
    cache = FileTokenCache(directory) if directory != "-" else None
    auth = CognitoAuth(client_id, secret, token_url, scope=scope, session=session, cache=cache)
    if before == "token-call-before-the-sdk":  # instruments made while only the API's proxies exist
        auth.get_token()
        auth.invalidate()

    reader, exporter = InMemoryMetricReader(), InMemorySpanExporter()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    status = session.get(api_url, auth=auth, timeout=30).status_code
    points = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    points.setdefault(metric.name, []).append([dict(point.attributes), value])
    spans = [span.name for span in exporter.get_finished_spans()]
    print(json.dumps({"status": status, "points": points, "spans": spans}))
    """
)


def run_child(emulator: CognitoEmulator, scope: str, directory: str = "-", before: str = "-") -> dict:
    e = emulator
    args = [e.client_id, e.client_secret, e.token_url, scope, e.api_url + "items", str(e.verify), directory, before]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert child.returncode == 0, child.stderr
    result: dict = json.loads(child.stdout)
    return result


def test_a_second_process_reading_a_shared_file_cache_counts_a_hit(
    cognito_provider: CognitoEmulator, tmp_path: Path
) -> None:
    first = cognito_provider.auth(cache=FileTokenCache(tmp_path))
    first.get_token()

    result = run_child(cognito_provider, str(first.scope), str(tmp_path))

    assert result["status"] == 200
    assert result["points"][CACHE_READS] == [[{"requests_multiauth.result": "hit"}, 1]]
    assert TOKEN_REQUESTS not in result["points"]
    assert cognito_provider.token_calls == 1


def test_instruments_made_before_the_application_installs_the_sdk_report_to_it(
    cognito_provider: CognitoEmulator,
) -> None:
    # Before the SDK, the API's global providers are proxies: the first token call works and
    # records nothing; after it, the same instruments report to the SDK's providers.
    result = run_child(cognito_provider, "api/write", before="token-call-before-the-sdk")

    assert result["status"] == 200
    assert cognito_provider.token_calls == 2
    ((attributes, value),) = result["points"][TOKEN_REQUESTS]
    assert (attributes["requests_multiauth.outcome"], value) == ("success", 1)
    assert result["spans"] == [SPAN_NAME]
