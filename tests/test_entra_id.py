"""EntraIdAuth against the local Entra ID emulator, and against azure-identity and msal on it.

The peers (azure-identity 1.27's ClientSecretCredential, CertificateCredential and
WorkloadIdentityCredential, and msal 1.39's ConfidentialClientApplication with a
.pfx) are pointed at the emulator by ``authority=`` with instance discovery off; msal
reads the tenant's openid-configuration from the emulator first. Each test compares
their token request with ours, field by field and claim by claim. Documented
differences: both peers add ``client_info=1`` (an msal field that client-credentials
answers ignore); both pad the thumbprint's base64url with ``=`` (Entra ID reads both);
their assertions live 600 s, ours 60 s (a shorter replay window; Entra ID takes any).
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import jwt
import pytest
import requests

from requests_multiauth import ConfigurationError, EntraIdAuth, InvalidClientError, get_provider
from requests_multiauth.testing import EntraIdEmulator, ManualClock, Request

from .fixtures_secrets import SecretWatch
from .fixtures_vendors import BURST_THREADS, PROCESSES, burst_after_expiry, processes_share_a_file_cache

GRAPH = "https://graph.microsoft.com/.default"


@pytest.fixture
def entra() -> Iterator[EntraIdEmulator]:
    with EntraIdEmulator() as emulator:
        yield emulator


def me(session: requests.Session, auth: Any, entra: EntraIdEmulator) -> requests.Response:
    return session.get(entra.api_url + "me", auth=auth)


def fields(request: Any) -> Dict[str, str]:
    return {name: values[0] for name, values in request.form().items()}


def assertion_of(request: Any) -> Dict[str, Any]:
    value = fields(request)["client_assertion"]
    return {
        "header": jwt.get_unverified_header(value),
        "claims": jwt.decode(value, options={"verify_signature": False}),
    }


# -- what is sent ---------------------------------------------------------------------------


def test_a_secret_goes_in_the_body_with_the_default_scope_as_microsofts_page_shows(entra: EntraIdEmulator) -> None:
    assert me(entra.api_session(), entra.auth(), entra).status_code == 200
    (sent,) = entra.token_requests()
    assert sent.path == f"/{entra.tenant_id}/oauth2/v2.0/token"
    assert fields(sent) == {
        "grant_type": "client_credentials",
        "client_id": entra.client_id,
        "client_secret": entra.client_secret,
        "scope": GRAPH,
    }
    assert "Authorization" not in sent.headers


def test_a_certificate_signs_ps256_with_its_sha256_thumbprint_by_default(entra: EntraIdEmulator) -> None:
    auth = entra.auth(certificate=entra.certificate_path)
    auth.get_token()
    seen = assertion_of(entra.token_requests()[0])
    assert seen["header"] == {"alg": "PS256", "typ": "JWT", "x5t#S256": entra.sha256_thumbprint}
    claims = seen["claims"]
    assert claims["aud"] == entra.token_url
    assert claims["iss"] == claims["sub"] == entra.client_id
    assert claims["exp"] > claims["iat"]
    assert len(claims["jti"]) >= 16
    assert fields(entra.token_requests()[0])["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert len(entra.assertions()) == 1  # verified against the certificate's public key


def test_thumbprint_sha1_signs_rs256_with_the_legacy_x5t(entra: EntraIdEmulator) -> None:
    entra.auth(certificate=entra.certificate_path, thumbprint="sha1").get_token()
    header = assertion_of(entra.token_requests()[0])["header"]
    assert header == {"alg": "RS256", "typ": "JWT", "x5t": entra.sha1_thumbprint}


def test_a_pfx_opens_with_its_password_and_a_wrong_one_is_a_configuration_error(entra: EntraIdEmulator) -> None:
    entra.auth(certificate=entra.pfx_path, password=entra.pfx_password).get_token()
    assert entra.token_calls == 1
    with pytest.raises(ConfigurationError, match="password"):
        entra.auth(certificate=entra.pfx_path, password="not-the-password")


def test_x5c_sends_the_certificate_for_subject_name_and_issuer_authentication(entra: EntraIdEmulator) -> None:
    entra.subject_name_issuer = True
    with pytest.raises(InvalidClientError, match="AADSTS700027"):
        entra.auth(certificate=entra.certificate_path).get_token()
    entra.auth(certificate=entra.certificate_path, x5c=True).get_token()
    header = assertion_of(entra.token_requests()[-1])["header"]
    assert header["x5c"] == [base64.b64encode(entra.certificate_der).decode()]


def test_a_federated_token_file_is_read_again_after_kubernetes_rotates_it(entra: EntraIdEmulator) -> None:
    clock = ManualClock()
    entra.clock = clock
    auth = entra.auth(federated_token=Path(entra.federated_token_file))
    first = Path(entra.federated_token_file).read_text()
    auth.get_token()
    rotated = entra.rotate_federated_token()
    assert rotated != first
    clock.advance(entra.lifetime + 1)
    auth.get_token()
    sent = [fields(request)["client_assertion"] for request in entra.token_requests()]
    assert sent == [first, rotated]


def test_an_expired_federated_token_names_aadsts700024_and_what_to_check(entra: EntraIdEmulator) -> None:
    entra.rotate_federated_token(lifetime=-600)
    with pytest.raises(InvalidClientError, match="AADSTS700024") as raised:
        entra.auth(federated_token=Path(entra.federated_token_file)).get_token()
    assert "not within its valid time range" in str(raised.value)
    assert "re-read" in str(raised.value)


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        ({"client_secret": "wrong-secret-value-1"}, "AADSTS7000215", "not its Secret ID"),
    ],
)
def test_refusals_carry_the_aadsts_code_with_its_documented_meaning(
    entra: EntraIdEmulator, options: Dict[str, str], code: str, words: str, secret_strings: SecretWatch
) -> None:
    secret_strings.add("wrong-secret-value-1")
    with pytest.raises(InvalidClientError) as raised:
        entra.auth(**options).get_token()
    assert code in str(raised.value)
    assert words in str(raised.value)
    assert entra.token_calls == 1  # invalid_client is never retried


def test_an_unknown_client_id_names_aadsts700016(entra: EntraIdEmulator) -> None:
    auth = EntraIdAuth(
        entra.tenant_id,
        "00000000-0000-0000-0000-000000000000",
        client_secret=entra.client_secret,
        scope=GRAPH,
        authority=entra.authority,
        session=entra.api_session(),
    )
    with pytest.raises(Exception, match="AADSTS700016") as raised:
        auth.get_token()
    assert "not found in the tenant" in str(raised.value)


# -- configuration ----------------------------------------------------------------------------


def test_national_clouds_by_authority_and_the_token_url_follows_it() -> None:
    auth = EntraIdAuth(
        "contoso.onmicrosoft.us",
        "client-0001",
        client_secret="s3cret-value",
        scope=GRAPH,
        authority="login.microsoftonline.us",
    )
    assert auth.token_url == "https://login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token"
    public = EntraIdAuth("tenant-0001", "client-0001", client_secret="s3cret-value", scope=GRAPH)
    assert public.token_url == "https://login.microsoftonline.com/tenant-0001/oauth2/v2.0/token"


@pytest.mark.parametrize("scope", [None, "https://graph.microsoft.com/User.Read", ""])
def test_a_scope_without_default_is_refused_at_construction(scope: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"\.default"):
        EntraIdAuth("tenant-0001", "client-0001", client_secret="s3cret-value", scope=scope)


def test_exactly_one_credential_is_required(entra: EntraIdEmulator) -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        EntraIdAuth("tenant-0001", "client-0001", scope=GRAPH)
    with pytest.raises(ConfigurationError, match="client_secret, certificate"):
        EntraIdAuth(
            "tenant-0001", "client-0001", client_secret="x" * 10, certificate=entra.certificate_path, scope=GRAPH
        )


def test_from_env_follows_azure_identitys_precedence_secret_then_certificate_then_workload(
    entra: EntraIdEmulator,
) -> None:
    provider = get_provider("entra-id")
    everything = {
        **entra.environ(),
        "AZURE_CLIENT_CERTIFICATE_PATH": entra.certificate_path,
        "AZURE_FEDERATED_TOKEN_FILE": entra.federated_token_file,
    }
    assert provider.auth_class.from_env(everything).credential == "secret"
    del everything["AZURE_CLIENT_SECRET"]
    assert EntraIdAuth.from_env(everything).credential == "certificate"
    del everything["AZURE_CLIENT_CERTIFICATE_PATH"]
    workload = EntraIdAuth.from_env(everything)
    assert workload.credential == "federated_token"
    assert workload.get_token().access_token
    assert workload.token_url == entra.token_url  # AZURE_AUTHORITY_HOST


# -- the guarantees ------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["secret", "certificate", "federated_token"])
def test_32_threads_right_after_expiry_make_one_token_call_and_no_failure(
    entra: EntraIdEmulator, credential: str
) -> None:
    clock = ManualClock()
    entra.clock = clock
    options = {
        "secret": {},
        "certificate": {"certificate": entra.certificate_path},
        "federated_token": {"federated_token": Path(entra.federated_token_file)},
    }[credential]
    auth = entra.auth(**options)
    statuses = burst_after_expiry(entra, auth, clock, lambda session, a: me(session, a, entra))
    assert statuses == [200] * BURST_THREADS
    assert entra.token_calls == 2


def test_8_processes_sharing_a_file_cache_make_one_token_call_in_all(entra: EntraIdEmulator, tmp_path: Path) -> None:
    results = processes_share_a_file_cache("entra-id", entra.environ(), tmp_path)
    assert len(results) == PROCESSES
    assert len({result["expires_at"] for result in results}) == 1
    assert entra.token_calls == 1


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(entra: EntraIdEmulator) -> None:
    auth = entra.auth(certificate=entra.certificate_path)
    session = entra.api_session()
    assert me(session, auth, entra).status_code == 200
    entra.revoke()
    response = me(session, auth, entra)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert entra.token_calls == 2


def test_no_key_password_assertion_secret_or_token_in_reprs_errors_or_logs(
    entra: EntraIdEmulator, secret_strings: SecretWatch
) -> None:
    secret_strings.add_private_key(entra.key_pem, password=entra.pfx_password)
    secret_strings.add(entra.client_secret)
    auths = [
        entra.auth(),
        entra.auth(certificate=entra.pfx_path, password=entra.pfx_password),
        entra.auth(federated_token=Path(entra.federated_token_file)),
    ]
    tokens = [auth.get_token().access_token for auth in auths]
    secret_strings.add(*tokens)
    assertions = [fields(request).get("client_assertion") for request in entra.token_requests()]
    secret_strings.add_assertions(value for value in assertions if value)
    entra.revoke()
    for auth in auths:
        me(entra.api_session(), auth, entra)
        text = repr(auth) + repr(auth.client_auth) + str(auth.telemetry.snapshot())
        assert entra.client_secret not in text
        assert entra.pfx_password not in text
        assert all(token not in text for token in tokens)
    entra.rotate_federated_token(lifetime=-600)
    with pytest.raises(InvalidClientError) as raised:
        EntraIdAuth.from_env(
            {**entra.environ(), "AZURE_CLIENT_SECRET": "", "AZURE_CLIENT_CERTIFICATE_PATH": ""}
        ).get_token()
    assert Path(entra.federated_token_file).read_text() not in str(raised.value)


# -- the peers ------------------------------------------------------------------------------------------


def _peer_options(entra: EntraIdEmulator) -> Dict[str, Any]:
    return {"authority": entra.authority, "disable_instance_discovery": True, "connection_verify": entra.verify}


def _without_client_info(sent: Dict[str, str]) -> Dict[str, str]:
    assert sent.pop("client_info") == "1"  # msal's field; documented difference
    return sent


def _same_assertion(theirs: Dict[str, Any], ours: Dict[str, Any], header: str) -> None:
    assert theirs["header"]["alg"] == ours["header"]["alg"]
    assert theirs["header"]["typ"] == ours["header"]["typ"] == "JWT"
    assert theirs["header"][header].rstrip("=") == ours["header"][header]  # they pad; Entra ID reads both
    assert set(theirs["header"]) == set(ours["header"])
    assert set(theirs["claims"]) == set(ours["claims"]) == {"aud", "iss", "sub", "jti", "iat", "exp"}
    for claim in ("aud", "iss", "sub"):
        assert theirs["claims"][claim] == ours["claims"][claim]
    assert abs(theirs["claims"]["iat"] - ours["claims"]["iat"]) < 30  # made moments apart
    assert theirs["claims"]["jti"] != ours["claims"]["jti"]
    assert theirs["claims"]["exp"] - theirs["claims"]["iat"] == 600  # theirs: 10 minutes
    assert 0 < ours["claims"]["exp"] - ours["claims"]["iat"] <= 300  # ours: short (documented)


def _same_certificate_form(theirs: Request, ours: Request, thumbprint: str) -> None:
    """The peer's certificate token request (*theirs*) and ours carry the same form (but for
    msal's ``client_info``) and assertions alike but for what must differ; *thumbprint* names
    the header that carries the certificate's thumbprint."""
    their_fields, our_fields = fields(theirs), fields(ours)
    _without_client_info(their_fields)
    assert their_fields.keys() == our_fields.keys()
    for name in ("grant_type", "client_id", "scope", "client_assertion_type"):
        assert their_fields[name] == our_fields[name]
    _same_assertion(assertion_of(theirs), assertion_of(ours), thumbprint)


def test_azure_identity_client_secret_credential_sends_the_same_form_as_ours(entra: EntraIdEmulator) -> None:
    from azure.identity import ClientSecretCredential

    ClientSecretCredential(entra.tenant_id, entra.client_id, entra.client_secret, **_peer_options(entra)).get_token(
        GRAPH
    )
    entra.auth().get_token()
    theirs, ours = (fields(request) for request in entra.token_requests())
    assert _without_client_info(theirs) == ours


def test_azure_identity_certificate_credential_sends_the_same_rs256_x5t_assertion_as_thumbprint_sha1(
    entra: EntraIdEmulator,
) -> None:
    from azure.identity import CertificateCredential

    CertificateCredential(
        entra.tenant_id, entra.client_id, certificate_path=entra.certificate_path, **_peer_options(entra)
    ).get_token(GRAPH)
    entra.auth(certificate=entra.certificate_path, thumbprint="sha1").get_token()
    theirs, ours = entra.token_requests()
    _same_certificate_form(theirs, ours, "x5t")


def test_msal_with_a_pfx_sends_the_same_ps256_x5t_s256_assertion_as_ours(entra: EntraIdEmulator) -> None:
    import msal

    session = entra.api_session()
    app = msal.ConfidentialClientApplication(
        entra.client_id,
        client_credential={"private_key_pfx_path": entra.pfx_path, "passphrase": entra.pfx_password},
        authority=f"{entra.authority}/{entra.tenant_id}",
        http_client=session,
        instance_discovery=False,
    )
    answer = app.acquire_token_for_client(scopes=[GRAPH])
    assert "access_token" in answer, answer.get("error_description")
    entra.auth(certificate=entra.pfx_path, password=entra.pfx_password).get_token()
    theirs, ours = entra.token_requests()
    _same_certificate_form(theirs, ours, "x5t#S256")


def test_azure_identity_workload_identity_credential_sends_the_same_form_and_federated_token(
    entra: EntraIdEmulator,
) -> None:
    from azure.identity import WorkloadIdentityCredential

    WorkloadIdentityCredential(
        tenant_id=entra.tenant_id,
        client_id=entra.client_id,
        token_file_path=entra.federated_token_file,
        **_peer_options(entra),
    ).get_token(GRAPH)
    entra.auth(federated_token=Path(entra.federated_token_file)).get_token()
    theirs, ours = (fields(request) for request in entra.token_requests())
    assert theirs == ours  # the same federated token, verbatim, and the same fields


def test_our_assertion_verifies_with_the_certificate_public_key_alone(entra: EntraIdEmulator) -> None:
    """The emulator's check is not a tautology: our assertion verifies with the registered
    certificate's public key and fails with another key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    entra.auth(certificate=entra.certificate_path).get_token()
    value = fields(entra.token_requests()[0])["client_assertion"]
    public = x509.load_der_x509_certificate(entra.certificate_der).public_key()
    jwt.decode(value, public, algorithms=["PS256"], audience=entra.token_url)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(value, other, algorithms=["PS256"], audience=entra.token_url)
    assert hashlib.sha256(entra.certificate_der).digest() == base64.urlsafe_b64decode(
        entra.sha256_thumbprint + "=" * (-len(entra.sha256_thumbprint) % 4)
    )
    assert time.time() < jwt.decode(value, options={"verify_signature": False})["exp"]


def test_a_federated_token_file_rotated_while_8_threads_run_is_used_at_the_next_token_call_with_no_failure(
    entra: EntraIdEmulator,
) -> None:
    import threading

    clock = ManualClock()
    entra.clock = clock
    auth = entra.auth(federated_token=Path(entra.federated_token_file))
    session = entra.api_session()
    statuses: List[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        for _ in range(200):  # bounded; stops earlier when the rotations are done
            if stop.is_set():
                return
            status = me(session, auth, entra).status_code
            with lock:
                statuses.append(status)

    written = [Path(entra.federated_token_file).read_text()]
    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        time.sleep(0.2)
        written.append(entra.rotate_federated_token())
        clock.advance(entra.lifetime + 1)  # the access token expires: the next token call reads the file
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert statuses
    assert set(statuses) == {200}
    sent = [fields(request)["client_assertion"] for request in entra.token_requests()]
    assert set(sent) <= set(written)
    assert sent[-1] == written[-1]  # the newest content was used once the file changed


def test_the_registry_record_builds_with_azure_identitys_precedence_as_the_command_line_does(
    entra: EntraIdEmulator,
) -> None:
    auth = get_provider("entra-id").build(entra.environ())  # what `multiauth token entra-id` calls
    assert auth.credential == "secret"
    assert auth.get_token().access_token
