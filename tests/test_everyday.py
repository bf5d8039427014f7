"""Everyday use without surprises: CA variables, test helpers, notebooks, static-token options.

Each test here reproduces what a new user ran into (issue 15) against real HTTPS
servers on loopback: a shell or CI machine that sets ``REQUESTS_CA_BUNDLE``, a
pytest suite using the testing helpers, a notebook cell.
"""

from __future__ import annotations

import html
import traceback
from typing import Any, List

import certifi
import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from requests_multiauth import (
    CognitoAuth,
    ConfigurationError,
    DataloyAuth,
    DiagramsAuth,
    InvalidClientError,
    MemoryTokenCache,
    MultiAuthSession,
    OpsNowAuth,
    RatedAuth,
    Token,
)
from requests_multiauth.testing import LocalProviders, LocalServer, Reply

UNRELATED_CA = certifi.where()  # a real CA bundle that did not sign the local servers' certificates


@pytest.fixture
def unrelated_ca_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The machine's CA variables point at a bundle that does not trust the local servers."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", UNRELATED_CA)
    monkeypatch.setenv("CURL_CA_BUNDLE", UNRELATED_CA)
    return UNRELATED_CA


def ok(_request: Any) -> Reply:
    return Reply(200, {"ok": True})


# -- 1. an explicit verify beats REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE ---------------------------------------


def test_plain_requests_lets_the_variables_replace_a_sessions_ca(serve: Any, unrelated_ca_in_env: str) -> None:
    # The requests behaviour the library works around (psf/requests#3829): if this ever
    # passes, requests fixed it and MultiAuthSession.merge_environment_settings can go.
    server: LocalServer = serve(ok)
    with requests.Session() as session:
        session.verify = server.verify
        with pytest.raises(requests.exceptions.SSLError):
            session.get(server.url + "/x", timeout=10)


def test_multiauth_session_verify_keyword_wins_over_the_ca_variables(serve: Any, unrelated_ca_in_env: str) -> None:
    server: LocalServer = serve(ok)
    with MultiAuthSession(verify=server.verify) as session:
        assert session.get(server.url + "/x").status_code == 200


def test_a_verify_set_on_the_session_later_wins_too_and_false_is_honoured(
    serve: Any, unrelated_ca_in_env: str
) -> None:
    server: LocalServer = serve(ok)
    with MultiAuthSession() as session:
        session.verify = server.verify
        assert session.get(server.url + "/x").status_code == 200
    # urllib3's InsecureRequestWarning: the session did not verify, as it was told
    with MultiAuthSession(verify=False) as session, pytest.warns(InsecureRequestWarning):
        assert session.get(server.url + "/x").status_code == 200


def test_a_per_request_verify_still_wins_over_the_sessions(serve: Any, unrelated_ca_in_env: str) -> None:
    server: LocalServer = serve(ok)
    with MultiAuthSession(verify=server.verify) as session, pytest.raises(requests.exceptions.SSLError):
        session.get(server.url + "/x", verify=UNRELATED_CA)


def test_a_session_left_at_verify_true_still_follows_the_variables(serve: Any, unrelated_ca_in_env: str) -> None:
    server: LocalServer = serve(ok)
    # SSLError: the unrelated CA from the environment was used
    with MultiAuthSession() as session, pytest.raises(requests.exceptions.SSLError):
        session.get(server.url + "/x")


def test_multiauth_session_with_the_provider_ca_reaches_a_local_provider(
    local_providers: LocalProviders, unrelated_ca_in_env: str
) -> None:
    cognito = local_providers.cognito
    auth = cognito.auth()  # its token session trusts the CA through its own verify
    with MultiAuthSession(auth, verify=local_providers.verify, base_url=cognito.api_url) as session:
        assert session.get("items").status_code == 200
        session.mount_auth(local_providers.dataloy.api_url, local_providers.dataloy.auth())
        assert session.get(local_providers.dataloy.api_url + "Cargo").status_code == 200  # the mounted adapter too
    assert cognito.token_calls == 1


def test_an_auths_verify_keyword_makes_its_token_calls_trust_that_ca(
    local_providers: LocalProviders, unrelated_ca_in_env: str
) -> None:
    cognito = local_providers.cognito
    auth = CognitoAuth(cognito.client_id, cognito.client_secret, cognito.token_url, verify=local_providers.verify)
    try:
        assert auth.get_token().access_token
    finally:
        auth.close()
    assert cognito.token_calls == 1


def test_an_auth_without_verify_follows_the_variables_for_its_token_calls(
    local_providers: LocalProviders, unrelated_ca_in_env: str
) -> None:
    cognito = local_providers.cognito
    auth = CognitoAuth(cognito.client_id, cognito.client_secret, cognito.token_url)
    with pytest.raises(Exception, match="failed TLS verification"):
        auth.get_token()


def test_verify_and_session_together_are_a_configuration_error(local_providers: LocalProviders) -> None:
    cognito = local_providers.cognito
    with pytest.raises(ConfigurationError, match="verify= or session="):
        CognitoAuth(
            cognito.client_id, cognito.client_secret, cognito.token_url, verify=False, session=requests.Session()
        )


# -- 2. test helpers over TLS, whatever the environment ---------------------------------------------------


@pytest.mark.parametrize("preset", [OpsNowAuth, CognitoAuth, DataloyAuth, DiagramsAuth])
def test_from_env_of_the_providers_environ_works_over_tls(
    local_providers: LocalProviders, unrelated_ca_in_env: str, preset: Any
) -> None:
    name = preset.__name__[: -len("Auth")].lower()
    provider = local_providers[name]
    auth = preset.from_env(provider.environ(), allow_insecure_loopback=False)
    try:
        assert provider.api_session().get(provider.api_url + "x", auth=auth).status_code == 200
    finally:
        auth.close()
    assert provider.token_calls == 1


def test_environ_names_the_ca_bundle_of_each_renewing_preset(local_providers: LocalProviders) -> None:
    env = local_providers.environ()
    assert isinstance(local_providers.verify, str)
    with open(local_providers.verify) as file:
        ca = file.read()
    for name in ("OPSNOW", "COGNITO", "DATALOY", "DIAGRAMS"):
        with open(env[f"{name}_CA_BUNDLE"]) as file:
            assert file.read() == ca  # the one CA that all five certificates chain to
    assert "RATED_CA_BUNDLE" not in env  # Rated's token is made in a browser: no token call to trust


def test_a_ca_bundle_variable_naming_no_file_is_a_configuration_error(local_providers: LocalProviders) -> None:
    env = dict(local_providers.dataloy.environ(), DATALOY_CA_BUNDLE="/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match=r"DATALOY_CA_BUNDLE names '/nonexistent/ca\.pem'"):
        DataloyAuth.from_env(env)


def test_the_providers_multiauth_session_is_ready_to_use(
    local_providers: LocalProviders, unrelated_ca_in_env: str
) -> None:
    dataloy = local_providers.dataloy
    session = dataloy.multiauth_session()
    assert isinstance(session, MultiAuthSession)
    for _ in range(3):
        assert session.get("Cargo").json()["path"] == "/ws/rest/Cargo"
    assert dataloy.token_calls == 1
    rated = local_providers.rated
    assert rated.multiauth_session().get("slos/").status_code == 200


def test_the_providers_multiauth_session_takes_an_auth_from_env(
    local_providers: LocalProviders, unrelated_ca_in_env: str
) -> None:
    cognito = local_providers.cognito
    with cognito.multiauth_session(CognitoAuth.from_env(cognito.environ())) as session:
        assert session.get("items").status_code == 200
    assert cognito.token_calls == 1


# -- 6. what the README promises: the static token's options ------------------------------------------------


def test_rated_auth_takes_header_name_clock_and_loopback(local_providers: LocalProviders) -> None:
    rated = local_providers.rated
    token = rated.mint()
    auth = RatedAuth(token, header_name="X-Token", clock=rated.clock, allow_insecure_loopback=True)
    prepared = requests.Request("GET", rated.api_url + "slos/", auth=auth).prepare()
    assert prepared.headers["X-Token"] == token  # a custom header carries the bare token
    assert "Authorization" not in prepared.headers


def test_rated_auth_from_env_passes_the_static_options(local_providers: LocalProviders) -> None:
    auth = RatedAuth.from_env(local_providers.rated.environ(), header_name="X-Api-Token", warn_before=0.0)
    prepared = requests.Request("GET", local_providers.rated.api_url, auth=auth).prepare()
    assert "X-Api-Token" in prepared.headers


# -- 4. notebooks: errors that read well in a cell -------------------------------------------------------


def test_a_missing_variable_says_how_to_set_it_from_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATALOY_CLIENT_ID", raising=False)
    with pytest.raises(ConfigurationError) as raised:
        DataloyAuth.from_env({"DATALOY_CLIENT_SECRET": "s" * 12, "DATALOY_TOKEN_URL": "https://h/t"})
    message = str(raised.value)
    assert "DATALOY_CLIENT_ID is not set" in message
    assert "os.environ['DATALOY_CLIENT_ID'] = ..." in message
    assert "DataloyAuth.from_env(environ=" in message
    assert "ssssssssssss" not in message


def user_code_calls(session: requests.Session, url: str, auth: Any) -> requests.Response:
    """Stands for the user's own function in a notebook cell."""
    return session.get(url, auth=auth)


def test_a_refused_credential_renders_in_a_notebook_as_the_users_frames_and_the_message(
    local_providers: LocalProviders,
) -> None:
    cognito = local_providers.cognito
    auth = CognitoAuth(cognito.client_id, "not-the-secret", cognito.token_url, session=cognito.api_session())
    with pytest.raises(InvalidClientError) as raised:
        user_code_calls(cognito.api_session(), cognito.api_url + "items", auth)
    error = raised.value

    lines: List[str] = error._render_traceback_()  # what IPython and Jupyter show instead of the full traceback

    text = "\n".join(lines)
    assert lines[-1].startswith("(")
    assert "traceback.print_last()" in lines[-1]
    assert lines[-2] == f"requests_multiauth.errors.InvalidClientError: {error}"
    assert "user_code_calls" in text
    assert "sessions.py" not in text
    assert "manager.py" not in text  # the engine (engine/manager.py)
    assert "not-the-secret" not in text
    full = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert "manager.py" in full
    assert "sessions.py" in full


def test_the_notebook_rendering_is_used_by_ipython(local_providers: LocalProviders) -> None:
    interactive = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactive.InteractiveShell.instance()
    cognito = local_providers.cognito
    auth = CognitoAuth(cognito.client_id, "not-the-secret", cognito.token_url, verify=cognito.verify)
    shell.user_ns.update(auth=auth)
    shell.user_ns["url"] = cognito.api_url + "items"
    shown: List[Any] = []
    shell._showtraceback = lambda etype, evalue, stb: shown.append(stb)
    shell.run_cell("import requests; requests.get(url, auth=auth)")
    assert shown
    assert "InvalidClientError" in shown[0][-2]
    assert not any("sessions.py" in line for line in shown[0])


# -- 4. notebooks: rich reprs ---------------------------------------------------------------------------


def test_token_reprs_for_jupyter_show_expiry_but_never_the_token() -> None:
    token = Token(access_token="tok-" + "x" * 20, expires_at=4102444800.0, scope="<api/read>", refresh_token="r" * 20)
    page = token._repr_html_()
    assert "2100-01-01" in page
    assert "&lt;api/read&gt;" in page
    assert "<api/read>" not in page
    assert "tok-" not in page
    assert "rrrr" not in page
    assert "refresh token" in page
    pretty = _pretty(token)
    assert "2100-01-01" in pretty
    assert "tok-" not in pretty


def _pretty(value: Any) -> str:
    """What IPython's plain-text display shows (its pretty printer calls ``_repr_pretty_``)."""
    lines: List[str] = []

    class Printer:
        def text(self, text: str) -> None:
            lines.append(text)

    value._repr_pretty_(Printer(), False)
    return "".join(lines)


def test_auth_reprs_for_jupyter_show_state_expiry_and_token_calls(
    local_providers: LocalProviders, secret_strings: Any
) -> None:
    cognito = local_providers.cognito
    secret_strings.add(cognito.client_secret)
    auth = cognito.auth()
    before = auth._repr_html_()
    assert "no token yet" in before
    assert ">0<" in before  # token calls so far

    token = auth.get_token()
    after, pretty = auth._repr_html_(), _pretty(auth)

    for shown in (after, pretty):
        assert "CognitoAuth" in shown
        assert cognito.client_id in shown
        assert "valid" in shown
        assert token.access_token not in shown
        assert cognito.client_secret not in shown
    assert ">1<" in after
    assert "token calls so far: 1" in pretty
    assert html.escape(cognito.token_url) in after


def test_auth_html_repr_escapes_what_it_shows(local_providers: LocalProviders) -> None:
    cognito = local_providers.cognito
    auth = CognitoAuth("<b>client</b>", "s" * 16, cognito.token_url, scope="a&b", verify=cognito.verify)
    page = auth._repr_html_()
    assert "<b>client</b>" not in page
    assert "&lt;b&gt;client&lt;/b&gt;" in page
    assert "a&amp;b" in page


def test_a_failing_auth_says_so_in_its_repr(local_providers: LocalProviders) -> None:
    cognito = local_providers.cognito
    auth = CognitoAuth(cognito.client_id, "not-the-secret", cognito.token_url, verify=cognito.verify)
    with pytest.raises(InvalidClientError):
        auth.get_token()
    assert "InvalidClientError" in _pretty(auth)
    assert "not-the-secret" not in auth._repr_html_()


def test_a_static_tokens_reprs_show_its_expiry_not_the_token(local_providers: LocalProviders) -> None:
    token = local_providers.rated.mint()
    auth = RatedAuth(token)
    for shown in (auth._repr_html_(), _pretty(auth)):
        assert "RatedAuth" in shown
        assert "cannot be renewed" in shown
        assert token not in shown
        assert token[:20] not in shown



def test_a_refused_api_key_says_to_check_the_key_not_a_client_id(local_providers: LocalProviders) -> None:
    opsnow = local_providers.opsnow
    auth = OpsNowAuth("wrong-" + "k" * 20, token_url=opsnow.token_url, verify=opsnow.verify)
    with pytest.raises(InvalidClientError) as raised:
        auth.get_token()
    message = str(raised.value)
    assert "What to do: check the API key" in message
    assert "client id" not in message
    assert "client_auth" not in message
    assert raised.value.status_code == 401
    assert raised.value.hint is not None
    assert raised.value.hint.startswith("check the API key")


def test_rebuilding_the_auth_on_a_cache_from_an_earlier_cell_costs_no_token_call(
    local_providers: LocalProviders,
) -> None:
    cognito = local_providers.cognito
    cache = MemoryTokenCache()  # "cell 1", run once
    for _ in range(3):  # "cell 2", run three times
        auth = CognitoAuth.from_env(cognito.environ(), cache=cache)
        assert cognito.multiauth_session(auth).get("items").status_code == 200
    assert cognito.token_calls == 1
    CognitoAuth.from_env(cognito.environ()).get_token()  # without the shared cache: a token call per build
    assert cognito.token_calls == 2
