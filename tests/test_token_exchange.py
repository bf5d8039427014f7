"""TokenExchangeAuth (RFC 8693) against a real RFC 8693 server on loopback HTTPS.

Authlib has no RFC 8693 server (``authlib.oauth2.rfc8693`` is an empty package in
1.9), so the server is ours: :class:`~requests_multiauth.testing.TokenExchangeEmulator`,
which verifies subject tokens' signatures, issuer, audience and expiry as a real
server does and refuses deviations with the RFC's error codes.
"""

from __future__ import annotations

import os
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List
from urllib.parse import parse_qsl

import pytest

from requests_multiauth import ConfigurationError, TokenRequestError
from requests_multiauth.grants.token_exchange import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TokenExchangeAuth
from requests_multiauth.testing import ManualClock, TokenExchangeEmulator

from .fixtures_secrets import SecretWatch

CLIENT_ID = "exchange-client"
CLIENT_SECRET = "exchange-client-secret-5b1e0c"
THREADS = 32
WAIT = 30.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sts(clock: ManualClock) -> Iterator[TokenExchangeEmulator]:
    with TokenExchangeEmulator(clock=clock, clients={CLIENT_ID: CLIENT_SECRET}) as server:
        yield server


def form_of(server: TokenExchangeEmulator, index: int = -1) -> List[tuple]:
    return parse_qsl(server.token_requests()[index].body.decode())


def test_every_rfc_8693_field_is_sent_and_issued_token_type_is_kept_on_the_token(
    sts: TokenExchangeEmulator, secret_strings: SecretWatch
) -> None:
    subject = sts.subject_token("system:serviceaccount:prod:app")
    actor = sts.subject_token("system:serviceaccount:prod:gateway")
    secret_strings.add(subject, actor, CLIENT_SECRET)
    auth = sts.auth(
        subject_token=subject,
        actor_token=actor,
        actor_token_type=JWT_TOKEN_TYPE,
        requested_token_type=ACCESS_TOKEN_TYPE,
        audience=["orders", "billing"],
        resource="https://api.example.test/orders",
        scope=["orders:read", "orders:write"],
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    token = auth.get_token()
    secret_strings.add(token.access_token)
    assert token.extra["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert token.scope == "orders:read orders:write"
    fields = form_of(sts)
    assert fields == [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("resource", "https://api.example.test/orders"),
        ("audience", "orders"),
        ("audience", "billing"),
        ("scope", "orders:read orders:write"),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject),
        ("subject_token_type", JWT_TOKEN_TYPE),
        ("actor_token", actor),
        ("actor_token_type", JWT_TOKEN_TYPE),
    ]
    assert sts.token_requests()[-1].headers["Authorization"].startswith("Basic ")
    (exchange,) = sts.exchanges
    assert (exchange.subject, exchange.actor, exchange.client_id) == (
        "system:serviceaccount:prod:app",
        "system:serviceaccount:prod:gateway",
        CLIENT_ID,
    )
    with sts.multiauth_session(auth) as session:
        assert session.get("orders").json()["subject"] == "system:serviceaccount:prod:app"
    assert subject not in repr(auth)
    assert actor not in repr(auth)


def test_a_token_that_is_not_an_access_token_answered_n_a_is_still_sent_as_bearer(sts: TokenExchangeEmulator) -> None:
    auth = sts.auth(requested_token_type=JWT_TOKEN_TYPE)
    token = auth.get_token()
    assert token.token_type == "Bearer"
    assert token.extra["issued_token_type"] == JWT_TOKEN_TYPE


def test_the_subject_token_is_read_afresh_for_every_token_call(sts: TokenExchangeEmulator) -> None:
    calls: List[str] = []

    def platform_token() -> str:
        calls.append(sts.subject_token(f"workload-{len(calls)}"))
        return calls[-1]

    auth = sts.auth(subject_token=platform_token)
    auth.get_token()
    auth.invalidate()
    auth.get_token()
    assert [dict(form_of(sts, i))["subject_token"] for i in range(2)] == calls
    assert [e.subject for e in sts.exchanges] == ["workload-0", "workload-1"]


def test_a_refused_subject_token_is_a_token_request_error_with_the_rfc_error_code(
    sts: TokenExchangeEmulator, clock: ManualClock, secret_strings: SecretWatch
) -> None:
    stale = sts.subject_token(lifetime=60)
    secret_strings.add(stale)
    clock.advance(3600)
    auth = sts.auth(subject_token=stale)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_grant"
    assert "it may be expired, meant for another audience" in str(caught.value)
    assert stale not in str(caught.value)
    assert stale not in "".join(traceback.format_exception(caught.value))


def test_a_missing_or_empty_subject_token_file_is_refused_naming_the_path(
    sts: TokenExchangeEmulator, tmp_path: Path
) -> None:
    missing = tmp_path / "token"
    with pytest.raises(ConfigurationError, match=f"no file at '{missing}'"):
        sts.auth(subject_token=missing)
    missing.write_text("\n")
    with pytest.raises(ConfigurationError, match=f"the file '{missing}' is empty"):
        sts.auth(subject_token=missing)
    missing.write_text(sts.subject_token())
    auth = sts.auth(subject_token=missing)
    auth.get_token()
    missing.unlink()
    auth.invalidate()
    with pytest.raises(TokenRequestError, match=f"subject_token: no file at '{missing}'"):
        auth.get_token()
    assert sts.token_calls == 1  # nothing was sent without a subject token
    with pytest.raises(ConfigurationError, match="actor_token_type is given without actor_token"):
        sts.auth(actor_token_type=JWT_TOKEN_TYPE)
    with pytest.raises(ConfigurationError, match="not a token source"):
        TokenExchangeAuth(42, sts.token_url)  # type: ignore[arg-type]


def test_a_subject_token_file_rotated_while_8_threads_run_is_used_at_the_next_token_call_with_0_failures(
    sts: TokenExchangeEmulator, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(sts.subject_token("generation-1"))
    auth = sts.auth(subject_token=path)
    failures: List[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        with sts.api_session() as session:
            for _ in range(200):  # bounded: the test stops them well before
                if stop.is_set():
                    return
                try:
                    session.get(sts.api_url + "x", auth=auth, timeout=WAIT).raise_for_status()
                except Exception as exc:  # counted, then asserted empty
                    failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    staging = tmp_path / "token.new"
    staging.write_text(sts.subject_token("generation-2"))
    os.replace(staging, path)  # how a kubelet or a CI agent swaps a file: atomically
    clock.advance(3600)  # the token expires: the next token call must read the new file
    deadline = threading.Event()
    deadline.wait(0.5)
    stop.set()
    for thread in threads:
        thread.join(WAIT)
    assert failures == []
    subjects = [e.subject for e in sts.exchanges]
    assert subjects[0] == "generation-1"
    assert subjects[-1] == "generation-2"
    assert len(subjects) == 2  # one exchange per token lifetime, whatever the thread count


def test_a_chain_makes_one_token_call_per_link_with_32_threads_right_after_expiry(
    sts: TokenExchangeEmulator, clock: ManualClock
) -> None:
    first = sts.auth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, audience="middle")
    second = sts.auth(subject_token=first, subject_token_type=ACCESS_TOKEN_TYPE, audience="orders")
    second.get_token()
    assert sts.token_calls == 2
    assert dict(form_of(sts))["subject_token"] == first.get_token().access_token
    clock.advance(3601)
    barrier = threading.Barrier(THREADS)

    def call(_: int) -> int:
        barrier.wait(WAIT)
        with sts.api_session() as session:
            return session.get(sts.api_url + "orders", auth=second, timeout=WAIT).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(call, range(THREADS)))
    assert statuses == [200] * THREADS
    assert sts.token_calls == 4  # one more call per link
    assert [e.audience for e in sts.exchanges] == [("middle",), ("orders",), ("middle",), ("orders",)]
    assert first.cache_key != second.cache_key


def test_two_subjects_with_the_same_settings_never_share_a_token_in_one_cache(sts: TokenExchangeEmulator) -> None:
    from requests_multiauth import MemoryTokenCache

    cache = MemoryTokenCache()
    one = sts.auth(subject_token=sts.subject_token("alice"), cache=cache)
    two = sts.auth(subject_token=sts.subject_token("bob"), cache=cache)
    assert one.get_token().access_token != two.get_token().access_token
    assert [e.subject for e in sts.exchanges] == ["alice", "bob"]


def test_a_server_side_revocation_renews_each_link_of_a_chain_once_and_replays(sts: TokenExchangeEmulator) -> None:
    first = sts.auth(audience="middle")
    second = sts.auth(subject_token=first, subject_token_type=ACCESS_TOKEN_TYPE, audience="orders")
    with sts.multiauth_session(second) as session:
        assert session.get("orders").status_code == 200
        sts.revoke()  # every token issued so far: the API and the exchange refuse both
        response = session.get("orders")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    # 2 at first; then the outer exchange (refused: its subject was revoked), the inner one, the outer again.
    assert sts.token_calls == 5
    assert [e.audience for e in sts.exchanges] == [("middle",), ("orders",), ("middle",), ("orders",)]
