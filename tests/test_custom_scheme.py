"""The "Write your own scheme" page's grant, driven the way the page promises it behaves.

The grant is imported from the page's example file (``docs/examples/custom_scheme.py``),
so what is tested is what users read. It runs against
:class:`~requests_multiauth.testing.AppJwtEmulator` on loopback HTTPS, whose token
endpoint checks the JWT's signature and claims on the emulator's clock and refuses a
replayed ``jti``; one :class:`ManualClock` drives the emulator and the auth.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from types import ModuleType
from typing import Iterator, List

import jwt
import pytest
import requests

from requests_multiauth import InvalidClientError, MemoryTokenCache, RetryPolicy, TokenRequestError
from requests_multiauth.testing import AppJwtEmulator, ManualClock, Reply

from .fixtures_secrets import SecretWatch

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "custom_scheme.py"

#: Threads asking at once after the token expired: the page's promise is one token call for all.
THREADS = 32
#: Bounds every wait of the threaded test, so a hang fails instead of blocking the suite.
JOIN_TIMEOUT = 30.0


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_scheme_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the example's own run is under `if __name__ == "__main__"`
    return module


example = _example()


@pytest.fixture
def clock() -> ManualClock:
    """The emulator's and the auth's time (this module needs no local providers)."""
    return ManualClock()


@pytest.fixture
def server(clock: ManualClock) -> Iterator[AppJwtEmulator]:
    with AppJwtEmulator(clock=clock) as running:
        yield running


def _jtis(server: AppJwtEmulator) -> List[str]:
    return [claims["jti"] for claims in server.assertions]


def test_thirty_two_threads_after_expiry_make_exactly_one_token_call(
    server: AppJwtEmulator, clock: ManualClock
) -> None:
    auth = example.app_auth(server, clock=clock)
    api = server.api_session()
    assert api.get(server.api_url + "repos", auth=auth).status_code == 200
    assert server.token_calls == 1
    clock.advance(server.lifetime)  # every token issued so far has expired, at the server too
    start = threading.Barrier(THREADS)
    statuses: List[int] = []
    errors: List[BaseException] = []

    def call() -> None:
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            with requests.Session() as session:
                session.verify = server.verify
                session.trust_env = False
                statuses.append(session.get(server.api_url + "repos", auth=auth, timeout=JOIN_TIMEOUT).status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert errors == []
    assert statuses == [200] * THREADS
    assert server.token_calls == 2  # the first token, then one renewal for all 32
    assert len(set(_jtis(server))) == 2  # each token call signed a JWT of its own


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(server: AppJwtEmulator, clock: ManualClock) -> None:
    auth = example.app_auth(server, clock=clock)
    api = server.api_session()
    assert api.get(server.api_url + "repos", auth=auth).status_code == 200
    assert server.revoke() == 1

    response = api.post(server.api_url + "repos", json={"name": "kept"}, auth=auth)

    assert [r.status_code for r in response.history] == [401]
    assert response.status_code == 200
    assert response.json()["received"] == {"name": "kept"}  # the body went again on the replay
    assert server.token_calls == 2
    assert server.api_calls == 3


def test_each_try_signs_a_fresh_jwt_so_a_retry_is_not_refused_as_a_replay(
    server: AppJwtEmulator, clock: ManualClock
) -> None:
    server.inject(Reply(503, {"message": "try again"}), times=2)
    auth = example.app_auth(server, clock=clock, retry=RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02))

    auth.get_token()

    assert server.token_calls == 3
    assert len(server.assertions) == 1  # the third try was accepted
    signed = [request.bearer for request in server.token_requests()]
    assert len(set(signed)) == 3  # three tries, three JWTs


def test_the_jwt_carries_the_documented_claims_on_the_auths_clock(server: AppJwtEmulator, clock: ManualClock) -> None:
    example.app_auth(server, clock=clock).get_token()
    (claims,) = server.assertions
    assert claims["iss"] == server.app_id
    assert claims["aud"] == server.token_url
    assert claims["iat"] == int(clock())
    assert claims["exp"] - claims["iat"] == 300
    header = jwt.get_unverified_header(server.token_requests()[0].bearer or "")
    assert header["alg"] == "ES256"


def test_two_auths_sharing_a_cache_make_one_token_call(server: AppJwtEmulator, clock: ManualClock) -> None:
    cache = MemoryTokenCache()
    first = example.app_auth(server, clock=clock, cache=cache)
    second = example.app_auth(server, clock=clock, cache=cache)
    assert first.get_token().access_token == second.get_token().access_token
    assert server.token_calls == 1


def test_a_refused_jwt_is_a_typed_error_without_the_key_or_the_jwt(
    server: AppJwtEmulator, clock: ManualClock, secret_strings: SecretWatch
) -> None:
    grant = example.AppJwtGrant("999", server.private_key_pem, server.token_url)  # not this server's app
    auth = example.TokenAuth(grant, server.token_url, session=server.api_session(), clock=clock)
    secret_strings.add(server.private_key_pem)

    with pytest.raises((InvalidClientError, TokenRequestError)) as raised:
        auth.get_token()

    assert raised.value.status_code == 401
    shown = str(raised.value) + repr(auth) + repr(grant)
    for request in server.token_requests():
        assert request.bearer is not None
        assert request.bearer not in shown
        secret_strings.add(request.bearer)
    assert "BEGIN PRIVATE KEY" not in shown


def test_the_emulator_refuses_a_replayed_or_overlong_jwt(server: AppJwtEmulator, clock: ManualClock) -> None:
    now = int(clock())
    claims = {"iss": server.app_id, "aud": server.token_url, "iat": now, "exp": now + 60, "jti": "once"}
    assertion = jwt.encode(claims, server.private_key_pem, algorithm="ES256")
    session = server.api_session()
    post = lambda token: session.post(server.token_url, headers={"Authorization": f"Bearer {token}"})  # noqa: E731
    assert post(assertion).status_code == 201
    assert "jti replayed" in post(assertion).json()["message"]
    overlong = jwt.encode({**claims, "jti": "long", "exp": now + 3600}, server.private_key_pem, algorithm="ES256")
    assert "longer than ten minutes" in post(overlong).json()["message"]
