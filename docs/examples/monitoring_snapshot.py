"""The plain-Python view of an auth's telemetry: a snapshot and a subscription."""

import os

from requests_multiauth import CognitoAuth

auth = CognitoAuth.from_env()  # COGNITO_CLIENT_ID, ...
alerts = []
alert = alerts.append  # your pager

# [start]
snapshot = auth.telemetry.snapshot()
snapshot.token_calls()                                      # every token call so far
snapshot.token_calls(outcome="refused")                     # refusals
snapshot.token_calls(grant="refresh_token", outcome="success")
print(snapshot.cache_hits, snapshot.renewal_failures, snapshot.not_replayed)

def on_event(event):
    if event.name == "renewal.ahead" and event.outcome == "failed":
        alert(f"{event.auth}: renewal failed ({event.error}), next try in {event.retry_in:.0f} s")

stop = auth.telemetry.subscribe(on_event)   # stop() unsubscribes
# [end]

seen = []
auth.telemetry.subscribe(seen.append)
import requests

requests.get(os.environ["COGNITO_API_URL"] + "items", auth=auth, timeout=10).raise_for_status()
assert auth.telemetry.snapshot().token_calls() == 1
assert [event.name for event in seen] == ["token.request"], seen
stop()
