"""The plain-Python telemetry (requests_multiauth/telemetry.py): counts and events of what a
renewing auth does, against the local provider emulations, counted by the server too; the
event fields of every log record; the CLI's -v; and the package without OpenTelemetry."""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Iterator, List, Type, TypeVar

import pytest
import requests

from requests_multiauth import CognitoAuth, FileTokenCache, InvalidClientError, MemoryTokenCache, RetryPolicy
from requests_multiauth.telemetry import (
    EVENT_ATTRIBUTE,
    AuthTelemetry,
    CacheRead,
    Event,
    FailureHeld,
    RenewalAhead,
    Replay,
    TokenRequest,
)
from requests_multiauth.testing import (
    DROP_CONNECTION,
    CognitoEmulator,
    DiagramsEmulator,
    LocalProviders,
    ManualClock,
    Reply,
)

from .fixtures_secrets import SecretWatch

E = TypeVar("E", bound=Event)

PACKAGE = Path(__file__).resolve().parent.parent / "requests_multiauth"

#: The longest a test waits for a background renewal or a child process.
WAIT = 30.0

#: No waiting between retries: the tests count tries, they do not time them.
NO_BACKOFF = RetryPolicy(attempts=3, backoff=0.0, max_backoff=0.0)


#: How the endpoint words a connection closed without an answer.
NETWORK_REASONS = (
    "the connection was reset",
    "the connection failed",
    "the connection broke while the answer was read",
)


class Events:
    """A callback that keeps every event it receives. Thread-safe."""

    def __init__(self) -> None:
        self.events: List[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: Type[E]) -> List[E]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]


def issued(emulator: CognitoEmulator | DiagramsEmulator) -> List[str]:
    return list(emulator._tokens) + list(getattr(emulator, "_refresh_tokens", {}))


def get(emulator: CognitoEmulator | DiagramsEmulator, auth: requests.auth.AuthBase, path: str = "items", **kw: object):
    return emulator.api_session().get(emulator.api_url + path, auth=auth, timeout=WAIT, **kw)


# -- token calls ------------------------------------------------------------------------------------


def test_twenty_requests_over_two_lifetimes_count_every_token_call_the_server_saw(
    cognito_provider: CognitoEmulator, clock: ManualClock, secret_strings: SecretWatch
) -> None:
    auth = cognito_provider.auth()
    events = Events()
    auth.telemetry.subscribe(events)

    for _ in range(20):
        assert get(cognito_provider, auth).status_code == 200
        auth._manager.join(WAIT)  # a renewal ahead of expiry, if one started
        clock.advance(cognito_provider.lifetime / 10)  # 20 steps: two lifetimes

    snapshot = auth.telemetry.snapshot()
    assert cognito_provider.token_calls >= 2
    assert snapshot.token_calls() == cognito_provider.token_calls
    assert snapshot.token_calls(grant="client_credentials", outcome="success") == cognito_provider.token_calls
    calls = events.of(TokenRequest)
    assert len(calls) == cognito_provider.token_calls
    assert {(e.grant, e.outcome, e.auth, e.server_address) for e in calls} == {
        ("client_credentials", "success", "CognitoAuth", "127.0.0.1")
    }
    assert snapshot.token_request_seconds == pytest.approx(sum(e.duration for e in calls))
    assert snapshot.cache_hits == snapshot.cache_misses == 0  # its private cache is not a shared one
    secret_strings.add(cognito_provider.client_secret, *issued(cognito_provider))


def test_a_refused_call_counts_as_refused_with_its_oauth_error(cognito_provider: CognitoEmulator) -> None:
    auth = CognitoAuth(
        cognito_provider.client_id,
        "not-the-secret-at-all",
        cognito_provider.token_url,
        session=cognito_provider.api_session(),
    )
    events = Events()
    auth.telemetry.subscribe(events)

    with pytest.raises(InvalidClientError):
        get(cognito_provider, auth)

    assert cognito_provider.token_calls == 1
    assert auth.telemetry.snapshot().token_calls(outcome="refused") == 1
    (call,) = events.of(TokenRequest)
    assert (call.outcome, call.status_code, call.error) == ("refused", 400, "invalid_client")


def test_every_try_of_a_retried_call_is_counted_as_the_server_counts_it(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.inject(Reply(503, "busy"))
    cognito_provider.inject(DROP_CONNECTION)
    auth = cognito_provider.auth(retry=NO_BACKOFF)
    events = Events()
    auth.telemetry.subscribe(events)

    assert get(cognito_provider, auth).status_code == 200

    assert cognito_provider.token_calls == 3
    calls = events.of(TokenRequest)
    assert [(e.attempt, e.outcome, e.status_code) for e in calls] == [
        (1, "failed", 503),
        (2, "failed", None),
        (3, "success", None),
    ]
    assert calls[1].error in (
        "the connection was reset",
        "the connection failed",
        "the connection broke while the answer was read",
    )
    assert auth.telemetry.snapshot().token_calls() == cognito_provider.token_calls


def test_an_unusable_answer_counts_as_bad_answer(cognito_provider: CognitoEmulator) -> None:
    cognito_provider.inject(Reply(200, "<html>maintenance</html>", {"Content-Type": "text/html"}))
    auth = cognito_provider.auth()

    with pytest.raises(requests.RequestException):
        auth.get_token()

    assert auth.telemetry.snapshot().token_requests == {("client_credentials", "bad_answer"): 1}


def test_a_renewal_by_refresh_token_counts_as_refresh_token(
    diagrams_provider: DiagramsEmulator, clock: ManualClock, secret_strings: SecretWatch
) -> None:
    auth = diagrams_provider.auth()
    assert get(diagrams_provider, auth, "items").status_code == 200
    clock.advance(diagrams_provider.lifetime)  # expired: the next request renews, by refresh token

    assert get(diagrams_provider, auth, "items").status_code == 200

    snapshot = auth.telemetry.snapshot()
    assert diagrams_provider.refresh_calls == 1
    assert snapshot.token_requests == {("client_credentials", "success"): 1, ("refresh_token", "success"): 1}
    secret_strings.add(diagrams_provider.application_secret, *issued(diagrams_provider))


# -- shared caches, renewals, held failures ---------------------------------------------------------------


def test_a_token_from_a_shared_cache_counts_a_hit_and_no_token_call(cognito_provider: CognitoEmulator) -> None:
    cache = MemoryTokenCache()
    first, second = cognito_provider.auth(cache=cache), cognito_provider.auth(cache=cache)

    first.get_token()
    second.get_token()

    assert cognito_provider.token_calls == 1
    assert first.telemetry.snapshot().cache_misses == 1
    assert (second.telemetry.snapshot().cache_hits, second.telemetry.snapshot().token_calls()) == (1, 0)


def test_a_second_process_reading_a_shared_file_cache_counts_a_hit(
    cognito_provider: CognitoEmulator, tmp_path: Path
) -> None:
    first = cognito_provider.auth(cache=FileTokenCache(tmp_path))
    first.get_token()
    script = textwrap.dedent(
        """
        import json, sys, requests
        from requests_multiauth import CognitoAuth, FileTokenCache
        client_id, secret, token_url, scope, api_url, verify, directory = sys.argv[1:]
        session = requests.Session()
        session.verify, session.trust_env = verify, False
        auth = CognitoAuth(client_id, secret, token_url, scope=scope, session=session, cache=FileTokenCache(directory))
        status = session.get(api_url, auth=auth, timeout=30).status_code
        snapshot = auth.telemetry.snapshot()
        print(json.dumps({"status": status, "hits": snapshot.cache_hits, "calls": snapshot.token_calls()}))
        """
    )
    c = cognito_provider
    args = [
        c.client_id,
        c.client_secret,
        c.token_url,
        str(first.scope),
        c.api_url + "items",
        str(c.verify),
        str(tmp_path),
    ]

    child = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=WAIT, check=False
    )

    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"status": 200, "hits": 1, "calls": 0}
    assert cognito_provider.token_calls == 1


def test_a_renewal_ahead_and_its_failure_are_counted(cognito_provider: CognitoEmulator, clock: ManualClock) -> None:
    auth = cognito_provider.auth(retry=RetryPolicy(attempts=1))
    events = Events()
    auth.telemetry.subscribe(events)
    auth.get_token()
    clock.advance(cognito_provider.lifetime - 100)  # stale: renewed ahead, in the background
    cognito_provider.inject(Reply(500, "down"))

    auth.get_token()  # the renewal fails; the current token stays in use
    auth._manager.join(WAIT)

    snapshot = auth.telemetry.snapshot()
    assert (snapshot.renewals_ahead, snapshot.renewal_failures) == (1, 1)
    (renewal,) = events.of(RenewalAhead)
    assert (renewal.outcome, renewal.error) == ("failed", "HTTP 500")
    assert renewal.retry_in is not None
    assert renewal.retry_in > 0

    clock.advance(60)  # past the retry delay: the next request renews again, and it works
    auth.get_token()
    auth._manager.join(WAIT)

    assert (auth.telemetry.snapshot().renewals_ahead, auth.telemetry.snapshot().renewal_failures) == (2, 1)
    assert cognito_provider.token_calls == auth.telemetry.snapshot().token_calls() == 3


def test_a_failure_held_back_from_the_endpoint_is_counted(cognito_provider: CognitoEmulator) -> None:
    auth = CognitoAuth(
        cognito_provider.client_id,
        "wrong-secret-wrong",
        cognito_provider.token_url,
        session=cognito_provider.api_session(),
    )
    events = Events()
    auth.telemetry.subscribe(events)

    for _ in range(3):
        with pytest.raises(InvalidClientError):
            auth.get_token()

    assert cognito_provider.token_calls == 1
    assert auth.telemetry.snapshot().failures_held == 2
    assert [e.error for e in events.of(FailureHeld)] == ["invalid_client", "invalid_client"]


# -- replays -----------------------------------------------------------------------------------------------


def test_a_revoked_tokens_replay_counts_as_replayed(cognito_provider: CognitoEmulator) -> None:
    auth = cognito_provider.auth()
    assert get(cognito_provider, auth).status_code == 200
    cognito_provider.revoke()

    assert get(cognito_provider, auth).status_code == 200

    snapshot = auth.telemetry.snapshot()
    assert (snapshot.replayed, snapshot.not_replayed) == (1, {})
    assert snapshot.token_calls() == cognito_provider.token_calls == 2


def test_a_401_that_cannot_be_replayed_counts_with_its_reason(cognito_provider: CognitoEmulator) -> None:
    auth = cognito_provider.auth()
    events = Events()
    auth.telemetry.subscribe(events)
    auth.get_token()
    cognito_provider.revoke()

    response = cognito_provider.api_session().post(
        cognito_provider.api_url + "items", data=iter([b"a stream"]), auth=auth, timeout=WAIT
    )

    assert response.status_code == 401
    (decision,) = events.of(Replay)
    assert decision.outcome == "not_replayed"
    assert auth.telemetry.snapshot().not_replayed == {decision.reason: 1}
    assert "rewound" in decision.reason


# -- what records nothing, callbacks, threads ----------------------------------------------------------


def test_a_request_with_a_valid_token_records_nothing(cognito_provider: CognitoEmulator) -> None:
    auth = cognito_provider.auth()
    session = cognito_provider.api_session()
    session.get(cognito_provider.api_url + "items", auth=auth, timeout=WAIT)
    before = auth.telemetry.snapshot()
    events = Events()
    auth.telemetry.subscribe(events)

    for _ in range(10):
        assert session.get(cognito_provider.api_url + "items", auth=auth, timeout=WAIT).status_code == 200

    assert events.events == []
    assert auth.telemetry.snapshot() == before


def test_a_callback_that_raises_is_logged_once_and_breaks_nothing(
    cognito_provider: CognitoEmulator, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    auth = cognito_provider.auth()

    def broken(event: Event) -> None:
        raise RuntimeError("monitoring is down")

    auth.telemetry.subscribe(broken)
    later = Events()
    auth.telemetry.subscribe(later)

    for _ in range(3):
        assert get(cognito_provider, auth).status_code == 200
        clock.advance(cognito_provider.lifetime)

    failures = [r for r in caplog.records if getattr(r, EVENT_ATTRIBUTE, None) == "telemetry.callback_failed"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert len(later.of(TokenRequest)) == 3  # the callbacks after the broken one still run


def test_unsubscribe_stops_the_events() -> None:
    telemetry = AuthTelemetry("TestAuth")
    events = Events()
    stop = telemetry.subscribe(events)
    telemetry.record_replay(None)
    stop()
    telemetry.record_replay(None)

    assert len(events.events) == 1
    assert telemetry.snapshot().replayed == 2


def test_counts_stay_exact_under_concurrent_recording() -> None:
    telemetry = AuthTelemetry("TestAuth", shared_cache=True)
    threads_count, each = 8, 500
    barrier = threading.Barrier(threads_count, timeout=WAIT)

    def record() -> None:
        barrier.wait()
        for i in range(each):
            telemetry.record_cache_read(hit=i % 2 == 0)
            telemetry.record_replay(None if i % 2 else "it came from another origin")

    threads = [threading.Thread(target=record) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    snapshot = telemetry.snapshot()
    total = threads_count * each
    assert (snapshot.cache_hits, snapshot.cache_misses) == (total // 2, total // 2)
    assert (snapshot.replayed, snapshot.not_replayed) == (total // 2, {"it came from another origin": total // 2})


def test_cache_reads_are_events_only_for_shared_caches() -> None:
    private, shared = AuthTelemetry("A"), AuthTelemetry("B", shared_cache=True)
    events = Events()
    private.subscribe(events)
    shared.subscribe(events)

    private.record_cache_read(hit=True)
    shared.record_cache_read(hit=True)

    assert [(e.auth, e.result) for e in events.of(CacheRead)] == [("B", "hit")]


# -- structured logs ---------------------------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("requests_multiauth")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_every_log_record_of_a_representative_run_carries_its_event_and_fields(
    local_providers: LocalProviders, clock: ManualClock, records: Records, tmp_path: Path, secret_strings: SecretWatch
) -> None:
    cognito, diagrams = local_providers.cognito, local_providers.diagrams
    auth = cognito.auth(retry=NO_BACKOFF, cache=FileTokenCache(tmp_path))
    (tmp_path / f"{auth._manager.key}.json").write_text("{not json")
    cognito.inject(Reply(503, "busy"))
    assert get(cognito, auth).status_code == 200  # a damaged cache entry, a retry
    cognito.revoke()
    assert get(cognito, auth).status_code == 200  # a replay
    cognito.revoke()
    cognito.api_session().post(cognito.api_url + "items", data=iter([b"x"]), auth=auth, timeout=WAIT)  # no replay
    auth.get_token()  # a new token: the one the unreplayed 401 rejected was dropped
    clock.advance(cognito.lifetime - 100)
    cognito.inject(Reply(500, "down"), times=3)
    auth.get_token()
    auth._manager.join(WAIT)  # a failed renewal ahead
    wrong = CognitoAuth(cognito.client_id, "a-wrong-secret", cognito.token_url, session=cognito.api_session())
    for _ in range(2):
        with pytest.raises(InvalidClientError):
            wrong.get_token()  # a refusal, then a held failure
    diagrams_auth = diagrams.auth()
    get(diagrams, diagrams_auth)
    clock.advance(diagrams.lifetime)
    get(diagrams, diagrams_auth)  # a refresh
    rated = local_providers.rated
    static = rated.auth()
    rated.revoke()
    rated.api_session().get(rated.api_url + "slos", auth=static, timeout=WAIT)  # a static token's 401

    events = {getattr(r, EVENT_ATTRIBUTE, None) for r in records.records}
    unnamed = [r.getMessage() for r in records.records if getattr(r, EVENT_ATTRIBUTE, None) is None]
    assert unnamed == []
    expected = {
        "token.request",
        "token.retry",
        "token.obtained",
        "cache.damaged",
        "replay",
        "renewal.ahead",
        "failure.held",
        "refresh_token.used",
        "static_token.rejected",
    }
    assert expected - events == set()
    request = next(r for r in records.records if getattr(r, EVENT_ATTRIBUTE) == "token.request")
    assert (request.grant, request.outcome, request.server_address) == ("client_credentials", "failed", "127.0.0.1")
    secret_strings.add(cognito.client_secret, diagrams.application_secret, *issued(cognito), *issued(diagrams))
    secret_strings.add(*rated._tokens)


def test_every_log_call_of_the_package_passes_its_event_fields() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "log"
                and node.func.attr in ("debug", "info", "warning", "error", "exception", "critical", "log")
                and not any(keyword.arg == "extra" for keyword in node.keywords)
            ):
                missing.append(f"{path.name}:{node.lineno}")
    assert missing == []


# -- the command line --------------------------------------------------------------------------------------


def test_the_cli_verbose_says_where_the_token_came_from_and_how_long_the_call_took(
    local_providers: LocalProviders,
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "REQUESTS_CA", "CURL_CA"))}
    env.update(local_providers.cognito.environ())
    env["REQUESTS_CA_BUNDLE"] = str(local_providers.verify)

    child = subprocess.run(
        [sys.executable, "-m", "requests_multiauth", "-v", "token", "cognito", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT,
        check=False,
    )

    assert child.returncode == 0, child.stderr
    line = next(line for line in child.stderr.splitlines() if line.startswith("multiauth: token call to"))
    assert "(client_credentials, attempt 1): success in " in line
    assert line.endswith(" ms")
    assert local_providers.cognito.client_secret not in child.stderr


# -- without OpenTelemetry ----------------------------------------------------------------------------------

BLOCK_OPENTELEMETRY = textwrap.dedent(
    """
    import sys

    class NoOpenTelemetry:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())
    """
)


def test_importing_the_package_does_not_import_opentelemetry() -> None:
    script = (
        "import sys, requests_multiauth, requests_multiauth.telemetry\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )

    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT, check=False)

    assert (child.returncode, child.stdout.strip()) == (0, "[]"), child.stderr


def test_without_opentelemetry_the_package_imports_and_counts_a_request(cognito_provider: CognitoEmulator) -> None:
    script = BLOCK_OPENTELEMETRY + textwrap.dedent(
        """
        import json, requests
        from requests_multiauth import CognitoAuth
        client_id, secret, token_url, api_url, verify = sys.argv[1:]
        session = requests.Session()
        session.verify, session.trust_env = verify, False
        auth = CognitoAuth(client_id, secret, token_url, session=session)
        status = session.get(api_url, auth=auth, timeout=30).status_code
        otel = [m for m in sys.modules if m.startswith("opentelemetry")]
        print(json.dumps({"status": status, "calls": auth.telemetry.snapshot().token_calls(), "otel": otel}))
        """
    )
    c = cognito_provider
    args = [c.client_id, c.client_secret, c.token_url, c.api_url + "items", str(c.verify)]

    child = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=WAIT, check=False
    )

    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"status": 200, "calls": 1, "otel": []}


# -- the secret check sees telemetry ---------------------------------------------------------------------


def test_the_secret_check_finds_a_secret_in_an_event_or_a_log_field() -> None:
    secret = "s3cr3t-value-for-the-watch"
    with SecretWatch() as watch:
        watch.add(secret)
        AuthTelemetry("TestAuth").record_replay(f"a reason that quotes {secret}")
        logging.getLogger("requests_multiauth").debug("nothing here", extra={"field": secret})

    leaks = watch.leaks()
    assert len(leaks) == 2  # the event, and the record's fields (its message is clean)
    assert any(line.startswith("EVENT Replay(") for line in leaks)
    assert any(line.startswith("FIELDS ") for line in leaks)
    assert all(secret not in line for line in leaks)


# -- the benchmark harness ---------------------------------------------------------------------------------


def test_the_telemetry_benchmark_runs_and_counts_nothing_during_the_measurement(tmp_path: Path) -> None:
    from benchmarks import telemetry as bench

    bench.main(["--rounds", "1", "--requests", "20", "--block", "10", "--output", str(tmp_path)])  # speed not judged

    text = (tmp_path / "RESULTS-telemetry.md").read_text(encoding="utf-8")
    assert "During the measurement: 0 token calls, 0 telemetry events, 0 failed requests." in text
    assert "opentelemetry imported: False" in text
    assert "so telemetry was live" in text
    assert "put 0 metric points" not in text
