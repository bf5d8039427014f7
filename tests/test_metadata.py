"""Cloud metadata endpoints: the plain-HTTP exception, GoogleMetadataAuth and AzureManagedIdentityAuth.

Everything runs on loopback: the emulators' metadata servers over plain HTTP (reached,
as the vendors' SDKs allow, through the platform's own variable: ``GCE_METADATA_HOST``,
``IDENTITY_ENDPOINT``, ``AZURE_POD_IDENTITY_AUTHORITY_HOST``) and their protected APIs
over HTTPS. The peers (google-auth's ``compute_engine`` credentials, azure-identity's
``ManagedIdentityCredential``) are driven against the same emulators and their token
requests compared with ours field by field.

Documented differences from the peers, each asserted below: the peers add their own
telemetry headers (google-auth ``x-goog-api-client``; msal ``x-client-SKU``,
``x-client-Ver``, ``x-ms-client-request-id``), which carry nothing the servers need;
google-auth first reads the account's info (``.../default/?recursive=true``) and asks
for the ``default`` account's token, where we ask the account named directly.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import jwt
import pytest
import requests

from requests_multiauth import (
    AzureManagedIdentityAuth,
    ClientCredentialsAuth,
    ConfigurationError,
    GoogleMetadataAuth,
    Grant,
    GrantRequest,
    InsecureTransportError,
    RetryPolicy,
    TokenAuth,
    TokenRequestError,
    TokenResponseError,
)
from requests_multiauth.providers.azure_managed_identity import AZURE_IMDS_RETRY, AzureManagedIdentityGrant
from requests_multiauth.providers.azure_managed_identity import IMDS_RETRY_STATUSES as AZURE_STATUSES
from requests_multiauth.providers.registry import get_provider
from requests_multiauth.testing import (
    DROP_CONNECTION,
    AzureManagedIdentityEmulator,
    GoogleMetadataEmulator,
    ManualClock,
    Reply,
)
from requests_multiauth.transport.endpoint import TokenEndpoint
from requests_multiauth.transport.urls import MetadataOrigin, check_transport, metadata_origin

#: Quick retries for tests that inject faults (the presets' own wait tens of seconds, as the vendors advise).
QUICK = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, budget=5.0)


@pytest.fixture
def google() -> Iterator[GoogleMetadataEmulator]:
    with GoogleMetadataEmulator(clock=ManualClock()) as emulator:
        yield emulator


@pytest.fixture(params=["imds", "app_service"])
def azure(request: pytest.FixtureRequest) -> Iterator[AzureManagedIdentityEmulator]:
    with AzureManagedIdentityEmulator(platform=request.param, clock=ManualClock()) as emulator:
        yield emulator


# -- the rule --------------------------------------------------------------------------------


def test_metadata_rule_accepts_link_local_addresses_and_the_platforms_named_endpoint_only() -> None:
    assert metadata_origin("http://169.254.169.254/metadata/identity/oauth2/token") == "169.254.169.254:80"
    assert metadata_origin("http://metadata.google.internal/computeMetadata/v1/") is not None
    assert metadata_origin("http://[fd00:ec2::254]/latest/api/token") is not None
    named = ["127.0.0.1:8181"]  # what GCE_METADATA_HOST says, say
    assert metadata_origin("http://127.0.0.1:8181/computeMetadata/v1/", named) == "127.0.0.1:8181"
    assert metadata_origin("http://127.0.0.1:8182/computeMetadata/v1/", named) is None  # another port
    assert metadata_origin("http://127.0.0.1:8181/x") is None  # loopback alone is not a metadata endpoint
    assert metadata_origin("https://169.254.169.254/") is None  # the exception is about plain HTTP only
    assert (
        metadata_origin("http://127.0.0.1:41741/msi/token", ["http://127.0.0.1:41741/msi/token"]) == "127.0.0.1:41741"
    )
    assert metadata_origin("http://127.0.0.1:7/x", ["http://127.0.0.1:7"])
    assert metadata_origin("http://127.0.0.1:7/x", ["https://127.0.0.1:7"]) is None  # it named HTTPS, not HTTP


def test_only_the_platforms_own_variables_name_a_metadata_endpoint(google: GoogleMetadataEmulator) -> None:
    url = google.token_url
    # The same host:port in another variable (or none) does not open plain HTTP.
    with pytest.raises(InsecureTransportError):
        GoogleMetadataAuth(token_url=url, environ={"SOME_OTHER_VARIABLE": google.metadata_host})
    with pytest.raises(InsecureTransportError):
        GoogleMetadataAuth(metadata_host=google.metadata_host, environ={})  # an argument is not the platform
    assert GoogleMetadataAuth(token_url=url, environ=google.environ()).get_token().access_token


def test_an_ordinary_http_token_url_is_still_refused() -> None:
    with pytest.raises(InsecureTransportError, match="plain HTTP"):
        ClientCredentialsAuth("id", "secret", token_url="http://auth.example.com/token")


def test_a_host_listed_in_plain_http_hosts_without_the_metadata_rule_is_refused() -> None:
    class Sneaky(Grant):
        plain_http_hosts = ("auth.example.com:80", "127.0.0.1:9")

        def request(self, previous: Any, now: float) -> GrantRequest:
            return GrantRequest()

    for url in ("http://auth.example.com/token", "http://127.0.0.1:9/token"):
        with pytest.raises(InsecureTransportError, match="only to a cloud metadata endpoint"):
            TokenAuth(Sneaky(), url)
    with pytest.raises(InsecureTransportError):  # the right string, not made by the rule
        check_transport(
            "http://169.254.169.254/x", allow_insecure_loopback=False, plain_http_hosts=["169.254.169.254:80"]
        )
    check_transport(
        "http://169.254.169.254/x",
        allow_insecure_loopback=False,
        plain_http_hosts=[MetadataOrigin("169.254.169.254:80")],
    )


def test_an_explicit_http_token_url_not_named_by_the_platform_is_refused(google: GoogleMetadataEmulator) -> None:
    url = google.token_url
    with pytest.raises(InsecureTransportError):
        GoogleMetadataAuth(token_url=url, environ={})
    with pytest.raises(InsecureTransportError):
        AzureManagedIdentityAuth(resource="https://management.azure.com", token_url=url, environ={})


def test_a_metadata_token_is_refused_for_an_http_api(google: GoogleMetadataEmulator) -> None:
    auth = google.auth()
    session = requests.Session()
    session.trust_env = False
    # The metadata server's own origin is plain HTTP and allowed for the token call: not for the token.
    with pytest.raises(InsecureTransportError):
        session.get(google.metadata_url + "/api/anything", auth=auth)
    assert google.api_calls == 0
    assert google.token_calls == 0  # refused before any token was fetched


# -- Google ------------------------------------------------------------------------------------


def test_google_access_token_reaches_the_api_with_metadata_flavor_and_scopes(google: GoogleMetadataEmulator) -> None:
    auth = google.auth(scopes=["https://www.googleapis.com/auth/devstorage.read_only", "openid"])
    assert auth.token_url == google.token_url
    response = google.api_session().get(google.api_url + "buckets", auth=auth)
    assert response.status_code == 200
    assert response.json()["subject"] == google.email
    (call,) = google.token_requests()
    assert call.method == "GET"
    assert call.path == "/computeMetadata/v1/instance/service-accounts/default/token"
    assert call.query == {"scopes": ["https://www.googleapis.com/auth/devstorage.read_only,openid"]}
    assert call.headers["Metadata-Flavor"] == "Google"
    assert auth.get_token().expires_at == pytest.approx(google.clock() + google.lifetime)


def test_google_id_token_is_a_verified_jwt_for_the_audience(google: GoogleMetadataEmulator) -> None:
    auth = google.auth(target_audience="https://service-abc.a.run.app")
    token = auth.get_token()
    claims = jwt.decode(
        token.access_token,
        google.public_key,
        algorithms=["RS256"],
        audience="https://service-abc.a.run.app",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["email"] == google.email
    assert claims["google"]["compute_engine"]["project_id"] == "demo-project"  # format=full
    assert token.expires_at == claims["exp"]
    (call,) = google.token_requests()
    assert call.path.endswith("/default/identity")
    assert call.query == {"audience": ["https://service-abc.a.run.app"], "format": ["full"]}
    assert google.api_session().get(google.api_url + "x", auth=auth).status_code == 200


def test_google_answer_without_metadata_flavor_is_refused(google: GoogleMetadataEmulator) -> None:
    google.flavor_header = False
    auth = google.auth()
    with pytest.raises(TokenResponseError, match="Metadata-Flavor: Google") as caught:
        auth.get_token()
    assert "ya29." not in str(caught.value)  # the token of the impostor's answer is not shown


def test_google_not_on_google_cloud_is_a_clear_bounded_error() -> None:
    with GoogleMetadataEmulator() as google:
        environ = google.environ()
    # The emulator is stopped: nothing listens at GCE_METADATA_HOST any more.
    auth = GoogleMetadataAuth(environ=environ, retry=QUICK)
    with pytest.raises(TokenRequestError, match="not seem to run on Google Cloud") as caught:
        auth.get_token()
    assert caught.value.status_code is None
    assert caught.value.attempts == QUICK.attempts


def test_a_slow_metadata_server_is_a_bounded_error_naming_the_platform() -> None:
    slow = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, budget=5.0)
    with GoogleMetadataEmulator(latency=1.0) as google, AzureManagedIdentityEmulator(latency=1.0) as azure:
        for auth, platform in (
            (google.auth(timeout=(1.0, 0.2), retry=slow), "Google Cloud"),
            (azure.auth(timeout=(1.0, 0.2), retry=slow), "Azure"),
        ):
            with pytest.raises(TokenRequestError, match="no answer within the read timeout") as caught:
                auth.get_token()
            assert platform in str(caught.value)
            assert caught.value.attempts == 2
            assert caught.value.status_code is None


def test_google_metadata_5xx_is_retried(google: GoogleMetadataEmulator) -> None:
    google.inject(Reply(503, "unavailable"), times=2)
    auth = google.auth(retry=QUICK)
    assert auth.get_token().access_token.startswith("ya29.")
    assert google.token_calls == 3


def test_google_from_env_through_the_registry(google: GoogleMetadataEmulator) -> None:
    cls = get_provider("google-metadata").auth_class
    auth = cls.from_env(
        {**google.environ(), "GOOGLE_METADATA_AUDIENCE": "https://aud.example"},
        session=google.api_session(),
        clock=google.clock,
    )
    assert auth.target_audience == "https://aud.example"
    assert auth.get_token().access_token.count(".") == 2
    assert google.token_requests()[0].query["audience"] == ["https://aud.example"]


def _google_auth_at(monkeypatch: pytest.MonkeyPatch, google: GoogleMetadataEmulator) -> Any:
    """google-auth's metadata module, reading GCE_METADATA_HOST (at import, as it does) at the emulator."""
    for name, value in google.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GCE_METADATA_IP", google.metadata_host)  # fetch_id_token pings the server there first
    monkeypatch.setenv("GCE_METADATA_MTLS_MODE", "none")
    from google.auth.compute_engine import _metadata

    importlib.reload(_metadata)
    return _metadata


@pytest.fixture
def google_peer_env(monkeypatch: pytest.MonkeyPatch, google: GoogleMetadataEmulator) -> Iterator[None]:
    _google_auth_at(monkeypatch, google)
    yield
    monkeypatch.undo()
    from google.auth.compute_engine import _metadata

    importlib.reload(_metadata)


def test_google_access_token_request_equals_google_auths_field_by_field(
    google: GoogleMetadataEmulator, google_peer_env: None
) -> None:
    from google.auth import compute_engine
    from google.auth.transport.requests import Request as GoogleRequest

    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    peer = compute_engine.Credentials(scopes=scopes)
    peer.refresh(GoogleRequest())
    peer_calls = google.token_requests()
    GoogleMetadataAuth(scopes=scopes, environ=google.environ()).get_token()
    ours = google.token_requests()[len(peer_calls) :]
    assert len(peer_calls) == len(ours) == 1
    (theirs,), (mine,) = peer_calls, ours
    assert (mine.method, mine.path, mine.query) == (theirs.method, theirs.path, theirs.query)
    assert mine.headers["Metadata-Flavor"] == theirs.headers["Metadata-Flavor"] == "Google"
    assert mine.body == theirs.body == b""
    # Documented difference: google-auth's telemetry header, which we do not send.
    assert "x-goog-api-client" in theirs.headers
    assert "x-goog-api-client" not in mine.headers
    assert peer.token
    assert google.api_session().get(google.api_url + "x", headers={"Authorization": f"Bearer {peer.token}"}).ok


def test_google_id_token_request_equals_google_auths_fetch_id_token(
    google: GoogleMetadataEmulator, google_peer_env: None
) -> None:
    from google.auth.transport.requests import Request as GoogleRequest
    from google.oauth2.id_token import fetch_id_token

    audience = "https://service-abc.a.run.app"
    peer_token = fetch_id_token(GoogleRequest(), audience)
    theirs = google.token_requests()[-1]
    ours_token = GoogleMetadataAuth(target_audience=audience, environ=google.environ()).get_token().access_token
    mine = google.token_requests()[-1]
    assert (mine.method, mine.path, mine.query) == (theirs.method, theirs.path, theirs.query)
    assert mine.headers["Metadata-Flavor"] == theirs.headers["Metadata-Flavor"] == "Google"
    options = {"verify_exp": False, "verify_iat": False}
    peer_claims = jwt.decode(peer_token, google.public_key, algorithms=["RS256"], audience=audience, options=options)
    our_claims = jwt.decode(ours_token, google.public_key, algorithms=["RS256"], audience=audience, options=options)
    assert set(peer_claims) == set(our_claims)
    assert {k: v for k, v in peer_claims.items() if k not in ("iat", "exp")} == {
        k: v for k, v in our_claims.items() if k not in ("iat", "exp")
    }


# -- Azure -------------------------------------------------------------------------------------


def test_azure_system_assigned_token_reaches_the_api(azure: AzureManagedIdentityEmulator) -> None:
    auth = azure.auth()
    assert auth.token_url == azure.token_url
    response = azure.api_session().get(azure.api_url + "subscriptions", auth=auth)
    assert response.status_code == 200
    assert response.json()["subject"] == azure.system.object_id
    (call,) = azure.token_requests()
    assert call.method == "GET"
    if azure.platform == "imds":
        assert call.query == {"api-version": ["2018-02-01"], "resource": ["https://management.azure.com"]}
        assert call.headers["Metadata"] == "true"
        assert "X-IDENTITY-HEADER" not in call.headers
    else:
        assert call.query == {"api-version": ["2019-08-01"], "resource": ["https://management.azure.com"]}
        assert call.headers["X-IDENTITY-HEADER"] == azure.identity_header
    # The string expires_in / expires_on became the expiry.
    assert auth.get_token().expires_at == pytest.approx(azure.clock() + azure.lifetime, abs=1)


@pytest.mark.parametrize("kind", ["client_id", "object_id", "resource_id"])
def test_azure_user_assigned_identity_by_each_id(azure: AzureManagedIdentityEmulator, kind: str) -> None:
    auth = azure.auth(**{kind: getattr(azure.user, kind)})
    assert azure.api_session().get(azure.api_url + "x", auth=auth).json()["subject"] == azure.user.object_id
    names = {
        "imds": {"client_id": "client_id", "object_id": "object_id", "resource_id": "msi_res_id"},
        "app_service": {"client_id": "client_id", "object_id": "object_id", "resource_id": "mi_res_id"},
    }
    assert azure.token_requests()[0].query[names[azure.platform][kind]] == [getattr(azure.user, kind)]


def test_azure_scope_and_identity_are_checked_at_construction(azure: AzureManagedIdentityEmulator) -> None:
    environ = azure.environ()
    with pytest.raises(ConfigurationError, match=r"/\.default"):
        AzureManagedIdentityAuth(scope="https://management.azure.com/user_impersonation", environ=environ)
    with pytest.raises(ConfigurationError, match="exactly one"):
        AzureManagedIdentityAuth(environ=environ)
    with pytest.raises(ConfigurationError, match="not several"):
        AzureManagedIdentityAuth(resource="https://x", client_id="a", object_id="b", environ=environ)
    with pytest.raises(ConfigurationError, match="Azure Arc"):
        AzureManagedIdentityAuth(
            resource="https://x",
            environ={"IDENTITY_ENDPOINT": "http://localhost:40342/x", "IMDS_ENDPOINT": "http://localhost:40342"},
        )


def test_azure_unknown_identity_is_refused_with_imds_words_and_advice(azure: AzureManagedIdentityEmulator) -> None:
    with pytest.raises(TokenRequestError, match="Identity not found") as caught:
        azure.auth(client_id="00000000-0000-0000-0000-000000000000").get_token()
    assert azure.token_calls == 1  # a 400 is not retried
    assert "is not assigned to this resource" in str(caught.value)


def test_azure_unknown_resource_is_refused_with_its_aadsts_code_and_advice() -> None:
    with AzureManagedIdentityEmulator() as azure, pytest.raises(TokenRequestError, match="AADSTS500011") as caught:
        azure.auth(resource="https://no-such-api.example.com").get_token()
    assert caught.value.error == "invalid_resource"
    assert "check scope= / resource=" in str(caught.value)


def test_google_unknown_service_account_is_refused_with_advice(google: GoogleMetadataEmulator) -> None:
    with pytest.raises(TokenRequestError, match="is not attached here") as caught:
        google.auth(service_account="other@demo-project.iam.gserviceaccount.com").get_token()
    assert caught.value.status_code == 404
    assert google.token_calls == 1


@pytest.mark.parametrize("name", ["google-metadata", "azure-managed-identity"])
def test_the_registry_record_builds_a_working_preset_from_its_emulators_environment(name: str) -> None:
    provider = get_provider(name)
    with provider.emulator() as emulator:
        environ = emulator.environ()
        if name == "azure-managed-identity":
            environ["AZURE_MANAGED_IDENTITY_SCOPE"] = emulator.resource + "/.default"
        auth = provider.auth_class.from_env(environ, session=emulator.api_session())
        assert emulator.api_session().get(emulator.api_url + "x", auth=auth).status_code == 200
        assert emulator.token_calls == 1


def test_azure_imds_updating_410_is_retried_then_succeeds(azure: AzureManagedIdentityEmulator) -> None:
    azure.inject(Reply(410, {"error": "gone"}), times=2)
    auth = azure.auth(
        retry=RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, budget=5.0, statuses=AZURE_STATUSES)
    )
    assert auth.get_token().access_token
    assert azure.token_calls == 3


def test_azure_imds_that_keeps_updating_is_a_bounded_error_that_says_so(azure: AzureManagedIdentityEmulator) -> None:
    azure.inject(Reply(410, {"error": "gone"}), times=10)
    auth = azure.auth(
        retry=RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, budget=5.0, statuses=AZURE_STATUSES)
    )
    with pytest.raises(TokenRequestError, match="back within 70 s") as caught:
        auth.get_token()
    assert caught.value.status_code == 410
    assert caught.value.attempts == 3


def test_azure_no_managed_identity_reachable_is_a_clear_error() -> None:
    with AzureManagedIdentityEmulator() as azure:
        environ = azure.environ()
    auth = AzureManagedIdentityAuth(resource="https://management.azure.com", environ=environ, retry=QUICK)
    with pytest.raises(TokenRequestError, match="no managed identity endpoint answered") as caught:
        auth.get_token()
    assert caught.value.status_code is None


def _probing_grant(url: str, environ: Any) -> Tuple[AzureManagedIdentityGrant, TokenEndpoint]:
    """The grant as the preset builds it for IMDS at its default address (which tests cannot reach)."""
    found = metadata_origin(url, list(environ.values()))
    assert found is not None
    grant = AzureManagedIdentityGrant(
        url,
        platform="imds",
        resource="https://management.azure.com",
        user_assigned=None,
        identity_header=None,
        plain_http_hosts=(found,),
        budget=AZURE_IMDS_RETRY.budget,
        probe=True,
    )
    endpoint = TokenEndpoint(url, retry=AZURE_IMDS_RETRY, timeout=(1.0, 5.0), plain_http_hosts=(found,))
    return grant, endpoint


def test_azure_imds_probe_says_not_on_azure_after_one_try_not_after_every_retry() -> None:
    with AzureManagedIdentityEmulator() as azure:
        url, environ = azure.token_url, azure.environ()
    grant, endpoint = _probing_grant(url, environ)  # nothing listens there any more
    with pytest.raises(TokenRequestError, match=r"does not\s+seem to run where Azure") as caught:
        grant.fetch(endpoint, None, 0.0)
    assert caught.value.attempts == 1  # AZURE_IMDS_RETRY would have tried five times, over a minute


def test_azure_imds_probe_answered_with_410_goes_on_to_retry_as_microsoft_advises() -> None:
    with AzureManagedIdentityEmulator() as azure:
        grant, endpoint = _probing_grant(azure.token_url, azure.environ())
        endpoint.retry = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, statuses=AZURE_STATUSES)
        azure.inject(Reply(410, {"error": "gone"}), times=2)
        token = grant.fetch(endpoint, None, azure.clock())
        assert token.access_token
        assert azure.token_calls == 3  # the probe (410), then 410 and the token in the retried call
        grant.fetch(endpoint, token, azure.clock())
        assert azure.token_calls == 4  # probed once per grant, not again


def test_azure_dropped_connection_is_retried(azure: AzureManagedIdentityEmulator) -> None:
    azure.inject(DROP_CONNECTION)
    assert azure.auth(retry=QUICK).get_token().access_token
    assert azure.token_calls == 2


def test_azure_request_equals_azure_identitys_field_by_field(
    azure: AzureManagedIdentityEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ManagedIdentityCredential

    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "MSI_ENDPOINT",
        "IMDS_ENDPOINT",
        "IDENTITY_SERVER_THUMBPRINT",
        "AZURE_FEDERATED_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in azure.environ().items():
        monkeypatch.setenv(name, value)
    scope = azure.resource + "/.default"
    for identity in (
        {},
        {"client_id": azure.user.client_id},
        {"object_id": azure.user.object_id},
        {"resource_id": azure.user.resource_id},
    ):
        azure.server.clear()
        azure.metadata_server.clear()
        if "client_id" in identity or not identity:
            peer = ManagedIdentityCredential(**identity)
        else:
            peer = ManagedIdentityCredential(identity_config=identity)
        peer_token = peer.get_token(scope)
        theirs = azure.token_requests()[-1]
        AzureManagedIdentityAuth(scope=scope, **identity).get_token()
        mine = azure.token_requests()[-1]
        assert (mine.method, mine.path, mine.query) == (theirs.method, theirs.path, theirs.query), identity
        for header in ("Metadata", "X-IDENTITY-HEADER"):
            assert mine.headers.get(header) == theirs.headers.get(header), header
        assert mine.body == theirs.body == b""
        # Documented difference: msal's telemetry headers (on IMDS calls), which we do not send.
        assert not any(h.lower().startswith("x-client-") or h.lower() == "x-ms-client-request-id" for h in mine.headers)
        assert azure.api_session().get(azure.api_url + "x", headers={"Authorization": f"Bearer {peer_token.token}"}).ok


# -- the engine's guarantees on these presets ---------------------------------------------------


def _presets(google: GoogleMetadataEmulator, azure: AzureManagedIdentityEmulator) -> List[Tuple[Any, Any]]:
    return [(google, google.auth()), (google, google.auth(target_audience="https://a.example")), (azure, azure.auth())]


def _after_expiry(emulator: Any, auth: Any, threads: int = 32) -> List[int]:
    """*threads* requests at once, right after every token expired; their statuses."""
    session = emulator.api_session()
    assert session.get(emulator.api_url + "warm", auth=auth).ok
    emulator.clock.advance(4 * 24 * 3600)  # every token has expired
    barrier = threading.Barrier(threads, timeout=30)
    statuses: List[int] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        status = session.get(emulator.api_url + "x", auth=auth, timeout=30).status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return statuses


def test_32_threads_right_after_expiry_make_one_token_call(
    google: GoogleMetadataEmulator, azure: AzureManagedIdentityEmulator
) -> None:
    for emulator, auth in _presets(google, azure):
        before = emulator.token_calls + 1  # the warm-up call
        assert _after_expiry(emulator, auth) == [200] * 32
        assert emulator.token_calls - before == 1, auth


def test_revocation_renews_once_and_replays(
    google: GoogleMetadataEmulator, azure: AzureManagedIdentityEmulator
) -> None:
    for emulator, auth in _presets(google, azure):
        session = emulator.api_session()
        assert session.get(emulator.api_url + "a", auth=auth).ok
        before = emulator.token_calls
        emulator.revoke()
        response = session.get(emulator.api_url + "b", auth=auth)
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]
        assert emulator.token_calls - before == 1


def test_tokens_and_identity_header_are_in_no_repr_or_error(azure: AzureManagedIdentityEmulator) -> None:
    auth = azure.auth()
    token = auth.get_token().access_token
    shown = repr(auth) + str(auth.display_rows()) + repr(auth.get_token())
    assert token not in shown
    assert azure.identity_header not in shown
    azure.inject(Reply(400, {"error": "invalid_request", "error_description": f"bad {azure.identity_header}"}))
    auth.invalidate()
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    if azure.platform == "app_service":
        assert azure.identity_header not in str(caught.value)


#: What each of the processes runs: build the preset with a FileTokenCache, wait for the start, get the token.
_PROCESS = """
import json, sys, time
from pathlib import Path
from requests_multiauth import AzureManagedIdentityAuth, FileTokenCache, GoogleMetadataAuth
kind, directory, start, environ = sys.argv[1], sys.argv[2], Path(sys.argv[3]), json.loads(sys.argv[4])
cache = FileTokenCache(directory)
if kind == "google":
    auth = GoogleMetadataAuth(environ=environ, cache=cache)
else:
    auth = AzureManagedIdentityAuth(resource="https://management.azure.com", environ=environ, cache=cache)
print("ready", flush=True)
deadline = time.monotonic() + 30
while not start.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print(auth.get_token().access_token[-16:], flush=True)
"""


@pytest.mark.parametrize("kind", ["google", "azure"])
def test_eight_processes_sharing_a_file_cache_make_one_metadata_call(kind: str, tmp_path: Path) -> None:
    emulator: Any = GoogleMetadataEmulator() if kind == "google" else AzureManagedIdentityEmulator()
    start = tmp_path / "start"
    with emulator:
        arguments = [kind, str(tmp_path / "tokens"), str(start), json.dumps(emulator.environ())]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _PROCESS, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(8)
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready"
            start.touch()
            outputs = [process.communicate(timeout=60) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
        assert [process.returncode for process in processes] == [0] * 8, [err for _, err in outputs]
        assert len({out.strip() for out, _ in outputs}) == 1  # one token for all
        assert emulator.token_calls == 1
