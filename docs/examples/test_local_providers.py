"""A user's tests against the local providers, with the fixtures of the pytest plugin."""

# [start]
# test_client.py
from requests_multiauth.testing import ManualClock, Reply


def test_my_client_reuses_one_token(dataloy_provider):
    session = dataloy_provider.api_session()  # trusts the provider's CA
    session.auth = dataloy_provider.auth()  # DataloyAuth pointed at it
    for _ in range(3):
        session.get(dataloy_provider.api_url + "Cargo").raise_for_status()
    assert dataloy_provider.token_calls == 1


def test_my_client_rides_out_faults_revocation_and_expiry(cognito_provider):
    cognito_provider.clock = clock = ManualClock()  # auth() shares the provider's clock
    session = cognito_provider.api_session()
    session.auth = cognito_provider.auth()
    cognito_provider.inject(Reply(503), times=1)  # or DROP_CONNECTION: retried
    session.get(cognito_provider.api_url + "items").raise_for_status()
    cognito_provider.revoke()  # the live token now gets 401: renewed, replayed
    session.get(cognito_provider.api_url + "items").raise_for_status()
    clock.advance(3600)  # expired: renewed before sending
    session.get(cognito_provider.api_url + "items").raise_for_status()
    assert cognito_provider.token_calls == 4
# [end]
