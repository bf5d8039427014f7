"""MultiAuthSession: base_url, default timeout, retries, one session for several APIs, reprs."""

from __future__ import annotations

import pickle
import time
import types
from typing import List

import pytest
import requests
import urllib3.util.retry
from requests.adapters import HTTPAdapter

from requests_multiauth import AuthAdapter, ConfigurationError, MultiAuthSession, StaticTokenAuth
from requests_multiauth.testing import DROP_CONNECTION, LocalProviders, Reply
from requests_multiauth.transport.session import DEFAULT_TIMEOUT, RETRY_AFTER_MAX, join_url, retry_policy
from tests.fixtures_apis import CLIENTS, Api, ca_bundle, open_route, redirect_to, tokens_carried


@pytest.fixture
def sleeps(monkeypatch) -> List[float]:
    """What urllib3's Retry waited, recorded instead of slept: asserts stay fast and exact."""
    recorded: List[float] = []
    clock = types.SimpleNamespace(time=time.time, sleep=recorded.append)
    monkeypatch.setattr(urllib3.util.retry, "time", clock)
    return recorded


def sequence(*replies):
    """A handler answering each reply in turn, then repeating the last."""
    remaining = list(replies)
    return lambda _request: remaining.pop(0) if len(remaining) > 1 else remaining[0]


# -- base_url ------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://h/api/v2", "https://h/api/v2/"])
@pytest.mark.parametrize("path", ["items/7", "/items/7"])
def test_relative_url_goes_under_base_url_whatever_the_slashes(base, path):
    assert join_url(base, path) == "https://h/api/v2/items/7"


@pytest.mark.parametrize(
    ("url", "joined"),
    [
        ("https://other.example/x?y=1", "https://other.example/x?y=1"),
        ("HTTP://other.example/x", "HTTP://other.example/x"),
        ("//other.example/x", "https://other.example/x"),
        ("", "https://h/api/v2/"),
        ("items?page=2", "https://h/api/v2/items?page=2"),
    ],
)
def test_absolute_urls_pass_unchanged_and_others_are_joined(url, joined):
    assert join_url("https://h/api/v2", url) == joined


@pytest.mark.parametrize("base", ["/api/v2", "https://h/api/v2", "https://h/api/v2/"])
@pytest.mark.parametrize("path", ["items", "/items"])
def test_session_sends_relative_urls_under_base_url(serve, base, path):
    server = serve(open_route)
    base_url = server.url + base if base.startswith("/") else base.replace("https://h", server.url)
    with MultiAuthSession(base_url=base_url) as session:
        session.verify = server.verify
        response = session.get(path, params={"q": "1"})
        absolute = session.get(server.url + "/elsewhere")

    assert response.json()["path"] == "/api/v2/items"
    assert server.received()[0].query == {"q": ["1"]}
    assert absolute.json()["path"] == "/elsewhere"


def test_the_callers_request_object_is_not_rewritten(serve):
    server = serve(open_route)
    request = requests.Request("GET", "items")
    with MultiAuthSession(base_url=server.url + "/api/") as session:
        prepared = session.prepare_request(request)
    assert prepared.url == server.url + "/api/items"
    assert request.url == "items"


def test_a_relative_url_without_base_url_says_what_to_do():
    with pytest.raises(requests.exceptions.MissingSchema, match="base_url") as raised:
        MultiAuthSession().get("items?api_key=secret-in-query")
    assert "secret-in-query" not in str(raised.value)


@pytest.mark.parametrize("base_url", ["api.example.com/v1", "/v1", "https://h/v1?key=secret", "ftp://h/"])
def test_base_url_must_be_an_absolute_http_url_without_query(base_url):
    with pytest.raises(ConfigurationError, match="base_url") as raised:
        MultiAuthSession(base_url=base_url)
    assert "secret" not in str(raised.value)


# -- two APIs on one session ------------------------------------------------------------------


def test_two_apis_on_one_session_each_get_only_their_own_token(tokens, api_a, api_b, bundle):
    with MultiAuthSession() as session:
        session.verify = bundle
        session.mount_auth(api_a.url, tokens.auth("alpha"))
        session.mount_auth(api_b.url + "/", tokens.auth("beta"))
        answers = []
        for i in range(5):
            answers.append(session.get(f"{api_a.url}/a/{i}"))
            answers.append(session.post(f"{api_b.url}/b/{i}", json={"i": i}))

    assert [r.status_code for r in answers] == [200] * 10
    assert [r.json()["client"] for r in answers] == ["alpha", "beta"] * 5
    beta_tokens = set(tokens.issued["beta"])
    alpha_tokens = set(tokens.issued["alpha"])
    assert all(tokens_carried(r, beta_tokens) == set() for r in api_a.received())
    assert all(tokens_carried(r, alpha_tokens) == set() for r in api_b.received())
    assert (tokens.calls("alpha"), tokens.calls("beta")) == (1, 1)


def test_five_emulated_providers_on_one_session_each_get_only_their_own_tokens():
    with LocalProviders(names=("rated", "opsnow", "cognito", "dataloy", "diagrams")) as providers:
        dataloy, cognito = providers.dataloy, providers.cognito
        with MultiAuthSession(dataloy.auth(), base_url=dataloy.api_url) as session:
            session.verify = providers.verify
            for other in (providers.rated, providers.opsnow, cognito, providers.diagrams):
                session.mount_auth(other.api_url, other.auth())
            answers = []
            for round_ in range(3):
                if round_ == 2:
                    cognito.revoke()  # a key rotation: Cognito's API now refuses the token it issued
                answers.append(session.get("Cargo"))
                answers.extend(session.get(e.api_url + "items") for e in providers if e is not dataloy)

        assert [r.status_code for r in answers] == [200] * 15
        assert [len(r.history) for r in answers[10:]] == [0, 0, 0, 1, 0]  # Cognito's 401 renewed and replayed
        seen = {e.name: {r.headers.get("Authorization") for r in e.api_requests()} for e in providers}
        assert all(len(values) == (2 if name == "cognito" else 1) for name, values in seen.items())
        for e in providers:
            others = set().union(*(values for name, values in seen.items() if name != e.name))
            for request in e.api_requests():
                carried = " ".join(request.headers.values())
                assert not any(value.split()[-1] in carried for value in others), (e.name, request.path)
        assert (dataloy.token_calls, cognito.token_calls, providers.opsnow.token_calls) == (1, 2, 1)


def test_session_auth_is_not_added_to_an_api_with_its_own_credentials(serve, tokens, api_b, tmp_path):
    api_a = Api(serve, tokens, "alpha", header_name="X-Api-Token")
    bundle = ca_bundle(tmp_path, tokens.server, api_a.server, api_b.server)
    with MultiAuthSession(tokens.auth("alpha", header_name="X-Api-Token"), base_url=api_a.url) as session:
        session.verify = bundle
        session.mount_auth(api_b.url, tokens.auth("beta"))
        assert session.get("items").status_code == 200
        assert session.get(api_b.url + "/items").status_code == 200

    (to_b,) = api_b.received()
    assert "X-Api-Token" not in to_b.headers
    assert tokens_carried(to_b, tokens.issued["alpha"]) == set()


def test_longest_mounted_prefix_wins(tokens, api_a, bundle):
    api_a.routes["/admin/users"] = open_route  # answers whatever token; we look at which one came
    with MultiAuthSession(base_url=api_a.url) as session:
        session.verify = bundle
        session.mount_auth("/", tokens.auth("alpha"))
        session.mount_auth("/admin/", tokens.auth("beta"))
        session.get("/items")
        session.get("/admin/users")

    (items,) = api_a.received("/items")
    (users,) = api_a.received("/admin/users")
    assert api_a.token_of(items) in tokens.issued["alpha"]
    assert api_a.token_of(users) in tokens.issued["beta"]


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("header_name", ["Authorization", "X-Api-Token"])
def test_redirect_from_one_api_to_the_other_carries_no_token(serve, tokens, tmp_path, status, header_name):
    api_a = Api(serve, tokens, "alpha", header_name=header_name)
    api_b = Api(serve, tokens, "beta", header_name=header_name)
    api_a.routes["/moved"] = redirect_to(api_b.url + "/landing", status)
    with MultiAuthSession() as session:
        session.verify = ca_bundle(tmp_path, tokens.server, api_a.server, api_b.server)
        session.mount_auth(api_a.url, tokens.auth("alpha", header_name=header_name))
        session.mount_auth(api_b.url, tokens.auth("beta", header_name=header_name))
        response = session.post(api_a.url + "/moved", data=b"order")

    assert response.status_code == 401  # B's API wants B's token, which a redirect from A does not get
    (moved,) = api_a.received("/moved")
    assert api_a.token_of(moved) in tokens.issued["alpha"]
    (landing,) = api_b.received("/landing")
    assert header_name not in landing.headers
    assert tokens_carried(landing, tokens.all_tokens()) == set()
    assert tokens.calls("beta") == 0


@pytest.mark.parametrize("header_name", ["Authorization", "X-Api-Token"])
def test_redirect_off_the_session_auth_api_carries_no_token(serve, tokens, api_b, tmp_path, header_name):
    api_a = Api(serve, tokens, "alpha", header_name=header_name)
    api_a.routes["/moved"] = redirect_to(api_b.url + "/landing", 307)
    api_b.routes["/landing"] = open_route
    with MultiAuthSession(tokens.auth("alpha", header_name=header_name), base_url=api_a.url) as session:
        session.verify = ca_bundle(tmp_path, tokens.server, api_a.server, api_b.server)
        assert session.post("moved", data=b"x").status_code == 200

    (landing,) = api_b.received("/landing")
    assert tokens_carried(landing, tokens.all_tokens()) == set()


def test_mount_auth_needs_a_host_and_says_how_to_authenticate_everything():
    with pytest.raises(ConfigurationError, match=r"MultiAuthSession\(auth\)"):
        MultiAuthSession().mount_auth("https://", _static())


def test_mount_auth_without_a_path_does_not_cover_a_lookalike_host():
    session = MultiAuthSession()
    adapter = session.mount_auth("https://api.example.com", _static())
    assert session.get_adapter("https://api.example.com/x") is adapter
    assert session.get_adapter("https://api.example.com.evil.example/x") is not adapter
    assert not adapter.serves("https://api.example.com.evil.example/x")


# -- retries -----------------------------------------------------------------------------------


def test_503_with_retry_after_is_retried_until_it_succeeds(serve, sleeps):
    busy = Reply(503, "busy", {"Retry-After": "0"})
    server = serve(sequence(busy, busy, Reply(200, {"ok": True})))
    with MultiAuthSession(base_url=server.url) as session:
        session.verify = server.verify
        response = session.get("report")

    assert response.status_code == 200
    assert len(server.received()) == 3
    assert len(response.history) == 0  # retries are the transport's, not redirects


@pytest.mark.parametrize(("asked", "waited"), [("1", 1.0), ("3600", RETRY_AFTER_MAX)])
def test_429_waits_as_retry_after_asks_up_to_a_cap(serve, sleeps, asked, waited):
    server = serve(sequence(Reply(429, "slow down", {"Retry-After": asked}), Reply(200, {"ok": True})))
    with MultiAuthSession(base_url=server.url) as session:
        session.verify = server.verify
        response = session.get("report")

    assert response.status_code == 200
    assert len(server.received()) == 2
    assert sleeps == [waited]


def test_without_retry_after_the_backoff_grows_exponentially(serve, sleeps):
    server = serve(lambda _request: Reply(502, "bad gateway"))
    with MultiAuthSession(base_url=server.url, retries=retry_policy(3, backoff=0.01)) as session:
        session.verify = server.verify
        response = session.get("report")

    assert response.status_code == 502  # retries ran out: the last answer, for raise_for_status()
    assert len(server.received()) == 4
    # urllib3 retries the first time at once, then waits 2x, 4x the factor; jitter keeps 50-100%.
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.02
    assert 0.02 <= sleeps[1] <= 0.04


@pytest.mark.parametrize("status", [401, 403, 500])
def test_statuses_that_a_retry_cannot_fix_are_not_retried(serve, sleeps, status):
    server = serve(lambda _request: Reply(status, "no", {"Retry-After": "0"}))
    with MultiAuthSession(base_url=server.url) as session:
        session.verify = server.verify
        assert session.get("report").status_code == status

    assert len(server.received()) == 1


def test_post_is_not_retried_by_default(serve, sleeps):
    server = serve(sequence(Reply(503, "busy", {"Retry-After": "0"}), Reply(200, {})))
    with MultiAuthSession(base_url=server.url) as session:
        session.verify = server.verify
        assert session.post("orders", json={"n": 1}).status_code == 503

    assert len(server.received()) == 1


def test_a_dropped_connection_is_retried_for_get_not_for_post(serve, sleeps):
    answers = {"GET": [DROP_CONNECTION], "POST": [DROP_CONNECTION]}
    server = serve(lambda request: answers[request.method].pop() if answers[request.method] else Reply(200, {}))
    with MultiAuthSession(base_url=server.url) as session:
        session.verify = server.verify
        assert session.get("report").status_code == 200
        with pytest.raises(requests.ConnectionError):
            session.post("orders", data=b"once")

    assert [r.method for r in server.received()] == ["GET", "GET", "POST"]


def test_retries_zero_sends_once(serve, sleeps):
    server = serve(lambda _request: Reply(503, "busy", {"Retry-After": "0"}))
    with MultiAuthSession(base_url=server.url, retries=0) as session:
        session.verify = server.verify
        assert session.get("report").status_code == 503
    assert len(server.received()) == 1


def test_mounted_apis_share_the_session_retries(tokens, api_a, bundle, sleeps):
    busy = {"left": 1}

    def flaky(request):
        if busy["left"]:
            busy["left"] -= 1
            return Reply(503, "busy", {"Retry-After": "0"})
        return api_a.handle(request)

    api_a.server.handler = flaky
    with MultiAuthSession(base_url=api_a.url) as session:
        session.verify = bundle
        session.mount_auth("/", tokens.auth("alpha"))
        assert session.get("items").status_code == 200
    assert len(api_a.received("/items")) == 2


# -- timeout -------------------------------------------------------------------------------------


class RecordingAdapter(HTTPAdapter):
    """Passes requests on, noting the timeout each one was given."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: List[object] = []

    def send(self, request, **kwargs):
        self.timeouts.append(kwargs.get("timeout"))
        return super().send(request, **kwargs)


@pytest.mark.parametrize(
    ("session_timeout", "request_timeout", "sent"),
    [(DEFAULT_TIMEOUT, None, DEFAULT_TIMEOUT), (DEFAULT_TIMEOUT, 5, 5), (7.5, None, 7.5), (None, None, None)],
)
def test_a_request_without_timeout_gets_the_session_timeout(serve, session_timeout, request_timeout, sent):
    server = serve(open_route)
    adapter = RecordingAdapter()
    with MultiAuthSession(base_url=server.url, timeout=session_timeout) as session:
        session.verify = server.verify
        session.mount(server.url, adapter)
        session.get("x", timeout=request_timeout)
    assert adapter.timeouts == [sent]


def test_default_timeout_is_applied_when_the_caller_gives_none():
    assert MultiAuthSession().timeout == DEFAULT_TIMEOUT


def test_a_server_that_stalls_past_the_timeout_raises_read_timeout_after_the_retries(serve, sleeps):
    server = serve(open_route, latency=2.0)
    # a generous connect timeout (a busy machine may take a while to shake hands), a short read one
    with MultiAuthSession(base_url=server.url, timeout=(10.0, 0.2), retries=1) as session:
        session.verify = server.verify
        with pytest.raises(requests.exceptions.ReadTimeout):  # what requests' callers catch, not ConnectionError
            session.get("slow")
    assert len(server.received()) == 2


# -- lifecycle and reprs --------------------------------------------------------------------------


def test_context_manager_closes_its_connections_and_leaves_the_shared_token_session(
    tokens, api_a, api_b, bundle, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)  # the auths use the shared token session; let it trust us
    alpha, beta = tokens.auth("alpha", session=None), tokens.auth("beta", session=None)
    with MultiAuthSession(alpha) as session:
        session.verify = bundle
        session.mount_auth(api_b.url, beta)
        session.get(api_a.url + "/items")
        session.get(api_b.url + "/items")
        pools = [adapter.poolmanager.pools for adapter in session.adapters.values()]
        assert sum(len(p) for p in pools) == 2
        assert alpha._endpoint._session is beta._endpoint._session  # one token session for the process

    assert sum(len(p) for p in pools) == 0
    alpha.invalidate()
    assert alpha.get_token().access_token  # the shared token session still works for everyone


def test_repr_is_readable_and_shows_no_secret(tokens, api_a, api_b, bundle):
    session = MultiAuthSession(tokens.auth("alpha"), base_url=api_a.url + "/v1/")
    session.verify = bundle
    session.mount_auth(api_b.url, tokens.auth("beta"))
    session.get("items")
    session.get(api_b.url + "/items")

    shown = repr(session)

    assert shown.startswith(
        f"MultiAuthSession(base_url='{api_a.url}/v1/', auth=ClientCredentialsAuth(client_id='alpha'"
    )
    assert f"mounted={{'{api_b.url}/': ClientCredentialsAuth(client_id='beta'" in shown
    assert "timeout=(3.05, 30.0), retries=3)" in shown
    for secret in (*CLIENTS.values(), *tokens.all_tokens()):
        assert secret not in shown
    session.close()


def test_repr_hides_the_password_of_a_basic_auth_tuple():
    shown = repr(MultiAuthSession(("user", "hunter2-password")))
    assert "'user'" in shown
    assert "hunter2-password" not in shown


def test_a_pickled_session_keeps_base_url_timeout_retries_and_mounted_auths(api_a, bundle):
    session = MultiAuthSession(base_url=api_a.url + "/v1/", timeout=4.0, retries=2)
    session.verify = bundle
    session.mount_auth("/", StaticTokenAuth("static-token-for-a"))

    copy = pickle.loads(pickle.dumps(session))  # noqa: S301 - our own object

    assert (copy.base_url, copy.timeout, copy.retries.total) == (api_a.url + "/v1/", 4.0, 2)
    copy.get("items")
    (sent,) = api_a.received("/v1/items")
    assert api_a.token_of(sent) == "static-token-for-a"
    copy.close()
    session.close()


def test_mount_auth_returns_the_adapter_it_mounted():
    session = MultiAuthSession(base_url="https://api.example.com/v1/")
    adapter = session.mount_auth("reports/", _static())
    assert isinstance(adapter, AuthAdapter)
    assert adapter.origins == ("https://api.example.com/v1/reports/",)
    assert session.get_adapter("https://api.example.com/v1/reports/7") is adapter


def _static():
    return StaticTokenAuth("static-token")
