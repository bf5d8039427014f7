"""Acceptance of client authentication against oidc-provider (panva's certified OpenID provider).

For each of the six RFC 8414 methods (client_secret_basic, client_secret_post,
client_secret_jwt, private_key_jwt, tls_client_auth, self_signed_tls_client_auth), with
tokens that live 2 s: one thread for 6 s sees no failed request and one token call per
renewal period; 32 threads after expiry cause exactly one token call; every assertion the
provider verified has its own ``jti`` and ``exp - iat`` equal to the configured lifetime,
and the provider's replay refusal never fires; certificate-bound tokens are refused by the
API without their certificate and accepted through ``AuthAdapter``/``mount_auth``.

The harness (tests/oidc/server.mjs, fixtures_oidc.py) is h2's; it is required in CI.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

import pytest
import requests

from requests_multiauth import (
    AuthAdapter,
    ClientCredentialsAuth,
    ClientSecretJwt,
    MultiAuthSession,
    PrivateKeyJwt,
    TlsClientAuth,
)
from requests_multiauth.client_auth import DEFAULT_ASSERTION_LIFETIME
from requests_multiauth.engine.manager import LEEWAY_SHARE, RENEW_AHEAD_SHARE
from tests.fixtures_client_auth import WAIT
from tests.fixtures_oidc import DEFAULT_TTL, OidcClient, OidcProvider
from tests.fixtures_secrets import SecretWatch

#: The six methods, by the harness's client names (private_key_jwt with its EC key here;
#: the RSA and Ed25519 keys are covered below).
METHODS = ["basic", "post", "secret-jwt", "jwt-ec", "tls", "self-signed"]

#: How long the one-thread run lasts, and its bounds.
RUN_SECONDS = 6.0
MAX_REQUESTS = 2000
THREADS = 32
#: The lifetime of the tokens of the 32-thread test (seconds).
BURST_TTL = 60

#: A token of lifetime L is renewed ahead of expiry every L * (1 - leeway share) * (1 -
#: renew-ahead share) seconds (renewal.py): the period against which calls are counted.
RENEWAL_PERIOD = DEFAULT_TTL * (1 - LEEWAY_SHARE) * (1 - RENEW_AHEAD_SHARE)


def make_auth(oidc: OidcProvider, client: OidcClient, **options: Any) -> ClientCredentialsAuth:
    """An auth for *client*, authenticating the way the provider has it registered."""
    options.setdefault("session", oidc.session())
    options.setdefault("scope", oidc.scope)
    options.setdefault("params", {"resource": oidc.resource})
    token_url = oidc.token_endpoint
    secret = None
    if client.method == "client_secret_basic":
        secret, client_auth = client.secret, "client_secret_basic"
    elif client.method == "client_secret_post":
        secret, client_auth = client.secret, "client_secret_post"
    elif client.method == "client_secret_jwt":
        secret, client_auth = client.secret, ClientSecretJwt(lifetime=options.pop("lifetime", 60))
    elif client.method == "private_key_jwt":
        client_auth = PrivateKeyJwt(client.key_path, kid=client.kid, lifetime=options.pop("lifetime", 60))
    else:
        assert client.cert_path is not None
        client_auth = TlsClientAuth(
            client.cert_path, client.key_path, self_signed=client.method == "self_signed_tls_client_auth"
        )
        token_url = oidc.mtls_token_endpoint  # mtls_endpoint_aliases.token_endpoint
    return ClientCredentialsAuth(client.client_id, secret, token_url, client_auth=client_auth, **options)


def api_session(oidc: OidcProvider, auth: ClientCredentialsAuth) -> MultiAuthSession:
    session = MultiAuthSession(retries=0)
    session.verify = oidc.ca_path
    session.trust_env = False
    session.mount_auth(oidc.api_origin + "/", auth)
    return session


@pytest.fixture
def watched(oidc: OidcProvider, secret_strings: SecretWatch) -> OidcProvider:
    """The harness, with every client's secret and private key registered with the secret check."""
    for client in oidc.clients.values():
        secret_strings.add(client.secret)
        if client.key_path is not None:
            secret_strings.add_private_key(client.private_key_pem().decode())
    return oidc


def assertion_events(oidc: OidcProvider, client_id: str) -> List[Dict[str, Any]]:
    return [e for e in oidc.events("assertion") if e.get("client_id") == client_id]


@pytest.mark.parametrize("name", METHODS)
def test_one_thread_for_six_seconds_fails_nothing_and_renews_once_per_period(watched: OidcProvider, name: str) -> None:
    oidc = watched
    client = oidc.client(name)
    auth = make_auth(oidc, client)
    statuses: List[int] = []
    with api_session(oidc, auth) as session:
        started = time.monotonic()
        while time.monotonic() - started < RUN_SECONDS and len(statuses) < MAX_REQUESTS:
            statuses.append(session.get(oidc.api_url + "things", timeout=WAIT).status_code)
            time.sleep(0.01)
        elapsed = time.monotonic() - started
    auth.close()
    calls = oidc.token_calls(client.client_id)
    expected = 1 + elapsed / RENEWAL_PERIOD
    print(f"{name}: {len(statuses)} requests in {elapsed:.1f} s, {calls} token calls (expected {expected:.1f})")
    assert statuses.count(200) == len(statuses), sorted(set(statuses))
    assert len(statuses) > 50  # the loop really ran
    assert abs(calls - expected) <= 1.5, (calls, expected)
    assert oidc.token_calls(client.client_id, outcome="ok") == calls
    assert oidc.counters()["assertion_replays_refused"] == 0


@pytest.mark.parametrize("name", METHODS)
def test_32_threads_after_expiry_make_exactly_one_token_call(watched: OidcProvider, name: str) -> None:
    oidc = watched
    # Tokens that outlive the burst (32 TLS handshakes at once on a loaded machine can take
    # longer than 2 s), expired by the client's clock: the burst finds no valid token.
    oidc.control(access_token_ttl=BURST_TTL)
    client = oidc.client(name)
    now = [time.time()]
    auth = make_auth(oidc, client, clock=lambda: now[0])
    with api_session(oidc, auth) as session:
        assert session.get(oidc.api_url + "things", timeout=WAIT).status_code == 200
        now[0] += BURST_TTL  # expired: every thread needs a new token
        before = oidc.token_calls(client.client_id)
        barrier = threading.Barrier(THREADS, timeout=WAIT)
        outcomes: List[Any] = []
        guard = threading.Lock()

        def call() -> None:
            try:
                barrier.wait()
                outcome: Any = session.get(oidc.api_url + "things", timeout=WAIT).status_code
            except Exception as exc:
                outcome = exc
            with guard:
                outcomes.append(outcome)

        threads = [threading.Thread(target=call, daemon=True) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in threads)
    auth.close()
    assert outcomes == [200] * THREADS
    assert oidc.token_calls(client.client_id) - before == 1


@pytest.mark.parametrize(("name", "lifetime"), [("secret-jwt", 45), ("jwt-rsa", 30), ("jwt-ec", 120), ("jwt-ed", 60)])
def test_every_assertion_is_new_and_lives_its_configured_lifetime(
    watched: OidcProvider, name: str, lifetime: int
) -> None:
    oidc = watched
    client = oidc.client(name)
    auth = make_auth(oidc, client, lifetime=lifetime)
    for _ in range(4):
        auth.invalidate()
        auth.get_token()
    auth.close()
    verified = assertion_events(oidc, client.client_id)
    assert len(verified) == 4
    assert len({e["jti"] for e in verified}) == 4
    assert {e["exp"] - e["iat"] for e in verified} == {lifetime}
    assert {e["iss"] for e in verified} == {e["sub"] for e in verified} == {client.client_id}
    assert {e["aud"] for e in verified} == {oidc.token_endpoint}
    if client.kid is not None and client.method == "private_key_jwt":
        assert {e["kid"] for e in verified} == {client.kid}
    assert oidc.counters()["assertion_replays_refused"] == 0


def test_the_default_assertion_lifetime_is_a_minute(watched: OidcProvider) -> None:
    oidc = watched
    make_auth(oidc, oidc.client("jwt-ec")).get_token()
    (event,) = assertion_events(oidc, "jwt-ec")
    assert event["exp"] - event["iat"] == DEFAULT_ASSERTION_LIFETIME


def test_assertions_with_the_issuer_as_audience_are_accepted(watched: OidcProvider) -> None:
    oidc = watched
    client = oidc.client("jwt-rsa")
    auth = ClientCredentialsAuth(
        client.client_id,
        token_url=oidc.token_endpoint,
        client_auth=PrivateKeyJwt(client.key_path, kid=client.kid, audience=oidc.issuer),
        params={"resource": oidc.resource},
        session=oidc.session(),
    )
    auth.get_token()
    (event,) = assertion_events(oidc, client.client_id)
    assert event["aud"] == oidc.issuer


@pytest.mark.parametrize("name", ["tls", "self-signed"])
def test_a_certificate_bound_token_needs_its_certificate_and_the_adapter_presents_it(
    watched: OidcProvider, name: str
) -> None:
    oidc = watched
    auth = make_auth(oidc, oidc.client(name))
    token = auth.get_token().access_token
    url = oidc.api_url + "things"
    bare = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=oidc.ca_path, timeout=WAIT)
    assert bare.status_code == 401  # the binding holds: the token alone opens nothing
    with requests.Session() as shared:
        shared.verify = oidc.ca_path
        shared.trust_env = False
        shared.mount(oidc.api_origin + "/", AuthAdapter(auth))
        assert shared.get(url, timeout=WAIT).status_code == 200
    with requests.Session() as plain:  # session.auth: the documented session.cert
        plain.verify = oidc.ca_path
        plain.trust_env = False
        plain.auth = auth
        plain.cert = auth.cert
        assert plain.get(url, timeout=WAIT).status_code == 200
    auth.close()
    assert oidc.counters()["token_by_port"]["mtls"] == 1  # the mTLS alias, once
