"""Secrets stay secret: across a whole flow (token fetch, API call, 401 replay, refused refresh,
failed renewal ahead of expiry, refused credentials, malformed answers) no client secret, API key,
access token or refresh token appears in any log record (DEBUG, every logger: requests_multiauth,
urllib3, root), exception text, traceback, warning, repr or str -- even when the server echoes
them back in its error answers."""

from __future__ import annotations

import base64
import collections
import itertools
import secrets as random_secrets
import threading
import traceback
import warnings
from typing import Any, Callable, Deque, Dict, Iterator, List, Set

import pytest
import requests

from requests_multiauth import (
    ApiKeyTokenAuth,
    AudienceClientCredentialsAuth,
    ClientCredentialsAuth,
    MultiAuthError,
    RetryPolicy,
    StaticTokenAuth,
    TokenAuth,
    TokenExpiredError,
    TokenExpiryWarning,
)
from requests_multiauth.testing import LocalServer, Reply, Request
from tests.wire import basic_credentials

from .fixtures_secrets import SecretWatch

CLIENT_ID = "client-redaction"
FAST_RETRY = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=2.0)
LIFETIME = 3600
WAIT = 10.0


class EchoingProvider:
    """A token endpoint and an API that quote everything they were sent in their errors.

    Each token request takes the next answer from :attr:`plan` ("ok" when it is empty):

    * ``ok``: a fresh access and refresh token;
    * ``refuse``: 401 ``invalid_client`` whose description quotes the body and the
      Authorization header, as a careless server might;
    * ``refuse_grant``: 400 ``invalid_grant``, quoting likewise;
    * ``error_200``: 200 carrying ``error`` and the quote;
    * ``malformed``: 200 with a new access token but an expiry that is no time;
    * ``not_json``: 200 with a text body quoting the request;
    * ``form_malformed``: 200, form-encoded, with a new access token and an expiry that is no time;
    * ``fail``: 500 with an HTML page quoting the request.
    """

    def __init__(self, serve: Callable[..., LocalServer]) -> None:
        self.plan: Deque[str] = collections.deque()
        self.issued: List[str] = []
        self.valid: Set[str] = set()
        self._salt = random_secrets.token_hex(6)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.server = serve(self.handle)
        self.token_url = self.server.url + "/token"
        self.api_url = self.server.url + "/api/items"

    def _new(self, kind: str) -> str:
        with self._lock:
            value = f"{kind}-{self._salt}-{next(self._counter)}"
            self.issued.append(value)
            return value

    def handle(self, request: Request) -> Reply:
        if request.path != "/token":
            token = request.bearer or request.headers.get("X-Api-Token")
            if token not in self.valid:
                return Reply(401, {"error": "invalid_token", "error_description": f"token {token} is not valid"})
            return Reply(200, {"items": [], "seen_token": token})
        answer = self.plan.popleft() if self.plan else "ok"
        quote = f"you sent {request.body.decode(errors='replace')} with {request.headers.get('Authorization')}"
        if answer == "ok":
            access = self._new("at")
            self.valid.add(access)
            return Reply(
                200,
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": LIFETIME,
                    "refresh_token": self._new("rt"),
                },
            )
        if answer == "refuse":
            return Reply(401, {"error": "invalid_client", "error_description": quote})
        if answer == "refuse_grant":
            return Reply(400, {"error": "invalid_grant", "error_description": quote})
        if answer == "error_200":
            return Reply(200, {"error": "invalid_request", "error_description": quote})
        if answer == "malformed":
            return Reply(200, {"access_token": self._new("at"), "expires_in": f"soon ({quote})"})
        if answer == "not_json":
            return Reply(200, f"<html>Welcome! {quote}</html>", {"Content-Type": "text/html"})
        if answer == "form_malformed":
            body = f"access_token={self._new('at')}&expires_in=soon"
            return Reply(200, body, {"Content-Type": "application/x-www-form-urlencoded"})
        if answer == "fail":
            return Reply(500, f"<html><pre>Internal error handling: {quote}</pre></html>")
        raise AssertionError(f"unknown answer {answer}")

    def revoke_all(self) -> None:
        self.valid.clear()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Evidence:
    """Every text the flow produced besides the logs: error texts, tracebacks, reprs, warnings."""

    def __init__(self) -> None:
        self.texts: List[str] = []

    def error(self, exc: BaseException) -> None:
        self.texts += [str(exc), repr(exc), repr(exc.args)]
        self.texts.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        for name in ("error", "error_description"):
            self.texts.append(repr(getattr(exc, name, None)))

    def expect_error(self, call: Callable[[], Any], kind: type = MultiAuthError) -> BaseException:
        with pytest.raises(kind) as caught:  # type: ignore[var-annotated]
            call()
        self.error(caught.value)
        return caught.value

    def describe(self, *objects: object) -> None:
        for obj in objects:
            self.texts += [repr(obj), str(obj), f"{obj!r:>10}"]


AUTH_KINDS = ["client credentials basic", "client credentials post", "audience json", "api key"]


def make_auth(kind: str, secret: str, provider: EchoingProvider, clock: FakeClock) -> TokenAuth:
    options: Dict[str, Any] = {"session": provider.server.session(), "retry": FAST_RETRY, "clock": clock}
    if kind.startswith("client credentials"):
        return ClientCredentialsAuth(CLIENT_ID, secret, provider.token_url, client_auth=kind.split()[-1], **options)
    if kind == "audience json":
        return AudienceClientCredentialsAuth(CLIENT_ID, secret, provider.token_url, audience="https://api", **options)
    return ApiKeyTokenAuth(secret, provider.token_url, header_name="X-Api-Token", **options)


@pytest.fixture
def provider(serve: Callable[..., LocalServer]) -> EchoingProvider:
    return EchoingProvider(serve)


@pytest.fixture
def session(provider: EchoingProvider) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.verify = provider.server.verify
        yield session


@pytest.mark.parametrize("kind", AUTH_KINDS)
def test_no_secret_or_token_appears_in_logs_errors_or_reprs_across_a_full_flow(
    kind: str, provider: EchoingProvider, session: requests.Session, secret_strings: SecretWatch
) -> None:
    secret = "sk-" + random_secrets.token_urlsafe(18)
    wrong_secret = "sk-" + random_secrets.token_urlsafe(18)
    clock = FakeClock()
    evidence = Evidence()
    auth = make_auth(kind, secret, provider, clock)
    session.auth = auth
    refreshes = kind.startswith("client credentials")

    # 1. the first token, and an API call with it
    assert session.get(provider.api_url).status_code == 200
    evidence.describe(auth, auth.get_token(), session.auth)

    # 2. the API rejects the token: renewal (a refresh token refused, quoting it, when the
    #    grant has one, then the credentials) and one replay
    provider.revoke_all()
    provider.plan.extend(["refuse_grant", "ok"] if refreshes else ["ok"])
    response = session.post(provider.api_url, json={"name": "x"})
    assert response.status_code == 200
    assert response.history[0].status_code == 401
    evidence.describe(response.history[0], response, auth.get_token())

    # 3. renewal ahead of expiry fails in the background; the warning quotes the error
    provider.plan.extend(["refuse_grant", "error_200"] if refreshes else ["error_200"])
    clock.now += LIFETIME - 100
    assert session.get(provider.api_url).status_code == 200
    auth._manager.join(WAIT)  # the background renewal
    assert "renewing the token ahead of expiry failed" in secret_strings.text

    # 4. expired, and every kind of bad answer in turn
    for answer in ("malformed", "form_malformed", "not_json", "error_200", "refuse", "fail"):
        auth.invalidate()  # also ends the failure hold, so each answer is asked for
        provider.plan.extend([answer] * (FAST_RETRY.attempts if answer == "fail" else 1))
        evidence.expect_error(lambda: session.get(provider.api_url))
    evidence.describe(auth)
    assert not provider.plan  # every planned answer was asked for
    auth.close()

    # 5. wrong credentials from the start
    wrong = make_auth(kind, wrong_secret, provider, clock)
    provider.plan.append("refuse")
    evidence.expect_error(lambda: session.get(provider.api_url, auth=wrong))
    evidence.expect_error(wrong.get_token)  # the held failure, copied
    evidence.describe(wrong)
    wrong.close()

    secrets = [secret, wrong_secret, basic_credentials(CLIENT_ID, secret), basic_credentials(CLIENT_ID, wrong_secret)]
    secrets += provider.issued
    assert len(provider.issued) >= 6
    secret_strings.add(*secrets)  # the suite-wide watch also fails the test at teardown

    logged = secret_strings.text
    assert "urllib3" in logged  # DEBUG records of every logger were captured
    assert "requests_multiauth" in logged
    assert [s for s in secrets if s in logged] == []
    assert "***" in logged  # the server's quotes of the secret did reach the log, redacted
    assert sum("***" in text for text in evidence.texts) >= 4  # and the error messages
    leaked = [(s[:6], text[:300]) for text in evidence.texts for s in secrets if s in text]
    assert leaked == []


def test_a_static_token_never_shows_in_reprs_logs_warnings_or_errors(
    serve: Callable[..., LocalServer], secret_strings: SecretWatch
) -> None:
    server = serve(lambda request: Reply(401, {"error": "invalid_token"}))
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(b'{"exp": 1800000000, "sub": "rated"}').rstrip(b"=").decode()
    token = f"{header}.{claims}.{random_secrets.token_urlsafe(32)}"
    secret_strings.add(token)
    clock = FakeClock()
    clock.now = 1_800_000_000 - 10 * 86400  # ten days left: warns
    auth = StaticTokenAuth(token, clock=clock)
    texts = [repr(auth), str(auth)]

    with pytest.warns(TokenExpiryWarning) as caught:
        response = requests.get(server.url + "/api", auth=auth, verify=server.verify, timeout=WAIT)
    assert response.status_code == 401  # returned, with a logged hint
    texts += [str(w.message) for w in caught]
    texts.append(repr(auth.get_token()))

    clock.now = 1_800_000_001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TokenExpiredError) as expired:
            requests.get(server.url + "/api", auth=auth, verify=server.verify, timeout=WAIT)
    texts += [str(expired.value), repr(expired.value)]

    assert "401" in secret_strings.text
    assert token not in secret_strings.text
    assert [text for text in texts if token in text] == []


def test_cache_keys_hold_no_secret(provider: EchoingProvider) -> None:
    secret = "sk-" + random_secrets.token_urlsafe(18)
    for kind in AUTH_KINDS:
        auth = make_auth(kind, secret, provider, FakeClock())
        key = auth._manager.key
        assert secret not in key
        assert CLIENT_ID not in key
        assert basic_credentials(CLIENT_ID, secret) not in key
        auth.close()
