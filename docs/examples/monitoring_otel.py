"""OpenTelemetry metrics printed by the SDK's console exporter."""

# [start]
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

from requests_multiauth.testing import LocalProviders, ManualClock

# The application installs the SDK; the library only uses OpenTelemetry's API.
reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
provider = MeterProvider(metric_readers=[reader])
metrics.set_meter_provider(provider)

clock = ManualClock()
with LocalProviders(clock=clock) as providers:
    cognito = providers.cognito
    auth = cognito.auth()
    api = cognito.api_session()
    for i in range(20):  # twenty requests over two token lifetimes (an hour each)
        if i:
            clock.advance(360)
        api.get(cognito.api_url + "items", auth=auth).raise_for_status()
    cognito.revoke()
    api.get(cognito.api_url + "items", auth=auth).raise_for_status()  # a 401, renewed and replayed

    print(auth.telemetry.snapshot())
    print(cognito.token_calls, "token calls seen by the server")

provider.shutdown()  # exports once more: the metrics are printed as JSON
# [end]

assert cognito.token_calls == 3
