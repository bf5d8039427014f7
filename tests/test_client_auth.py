"""Client authentication (client_auth.py): what each RFC 8414 method puts on the wire,
the claims of the assertions, a fresh assertion for every try, assertion files that
rotate, mutual TLS with certificate-bound tokens, cache keys and secrets.

Every test talks to a real HTTPS server on loopback; assertions are verified with
PyJWT against the public key or secret, independently of how they were made.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional
from urllib.parse import quote_plus

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from requests_multiauth import (
    AudienceClientCredentialsAuth,
    AuthAdapter,
    ClientAssertion,
    ClientCredentialsAuth,
    ClientSecretBasic,
    ClientSecretJwt,
    ClientSecretPost,
    ConfigurationError,
    InvalidClientError,
    MultiAuthSession,
    PrivateKeyJwt,
    RetryPolicy,
    TlsClientAuth,
    TokenRequestError,
)
from requests_multiauth.client_auth import JWT_BEARER, MAX_ASSERTION_LIFETIME
from requests_multiauth.testing import LocalServer, Reply, Request
from tests.fixtures_client_auth import (
    BoundTokenServer,
    MtlsServer,
    TokenStub,
    assertions_of,
    issue_client_certificate,
    jwt_claims,
    jwt_header,
    self_signed_certificate,
)
from tests.fixtures_secrets import SecretWatch

CLIENT_ID = "svc-ledger"
SECRET = "cs-Wq7Yp2Lk9Xr4Tn6Vb3Mh8Jd5Gf1Zs0Ae-Nc4Rt8Ux2Py6Qv0Bw3Ez7Hk1Lj5M"  # 64 bytes: HS512 wants no less
FAST_RETRY = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=5.0)
FORM = "application/x-www-form-urlencoded"


class Endpoint:
    def __init__(self, server: LocalServer, stub: TokenStub) -> None:
        self.server = server
        self.stub = stub
        self.token_url = server.url + "/oauth2/token"

    def requests(self) -> List[Request]:
        return self.server.received("/oauth2/token")

    def auth(self, client_secret: Optional[str] = None, **options: Any) -> ClientCredentialsAuth:
        options.setdefault("session", self.server.session())
        options.setdefault("retry", FAST_RETRY)
        return ClientCredentialsAuth(CLIENT_ID, client_secret, self.token_url, **options)


@pytest.fixture
def endpoint(serve: Callable[..., LocalServer], secret_strings: SecretWatch) -> Iterator[Endpoint]:
    stub = TokenStub()
    ep = Endpoint(serve(stub), stub)
    secret_strings.add(SECRET)
    yield ep
    secret_strings.add_assertions(assertions_of(ep.requests()))


def only(items: List[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def pem(key: Any, password: Optional[bytes] = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)  # type: ignore[no-any-return]


def verify(assertion: str, key: Any, alg: str, audience: str) -> Dict[str, Any]:
    """The claims of *assertion*, verified by PyJWT with *key* (a secret or a public key)."""
    claims: Dict[str, Any] = jwt.decode(
        assertion,
        key,
        algorithms=[alg],
        audience=audience,
        options={"require": ["iss", "sub", "aud", "jti", "iat", "exp"]},
    )
    return claims


# -- shared secrets: basic and post keep their bytes --------------------------------------------------


def test_the_rfc_8414_names_and_objects_send_what_basic_and_post_send(endpoint: Endpoint) -> None:
    for spec in ("basic", "client_secret_basic", ClientSecretBasic(), "post", "client_secret_post", ClientSecretPost()):
        endpoint.auth(SECRET, client_auth=spec, scope="ledger:read").get_token()
    sent = endpoint.requests()
    assert len({(r.body, r.headers.get("Authorization")) for r in sent[:3]}) == 1
    assert len({(r.body, r.headers.get("Authorization")) for r in sent[3:]}) == 1
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert sent[0].headers["Authorization"] == f"Basic {basic}"
    assert sent[0].body == b"grant_type=client_credentials&scope=ledger%3Aread"
    assert "Authorization" not in sent[3].headers
    assert sent[3].body == (
        f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={SECRET}&scope=ledger%3Aread".encode()
    )


def test_basic_urlencoded_form_encodes_id_and_secret_first(endpoint: Endpoint) -> None:
    secret = "p@ss:w0rd/with+symbols"
    endpoint.auth(secret, client_auth=ClientSecretBasic(urlencode=True)).get_token()
    header = only(endpoint.requests()).headers["Authorization"]
    assert base64.b64decode(header.split()[1]).decode() == f"{quote_plus(CLIENT_ID)}:{quote_plus(secret)}"


def test_a_method_that_needs_the_secret_refuses_to_start_without_it() -> None:
    for spec in ("basic", "post", "client_secret_jwt"):
        with pytest.raises(ConfigurationError, match="client_secret is missing") as caught:
            ClientCredentialsAuth(CLIENT_ID, token_url="https://login.example.com/token", client_auth=spec)
        assert "PrivateKeyJwt(key)" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("private_key_jwt", "PrivateKeyJwt(key)"),
        ("tls_client_auth", "TlsClientAuth(cert, key)"),
        ("self_signed_tls_client_auth", "self_signed=True"),
    ],
)
def test_a_name_whose_method_needs_a_key_or_certificate_says_what_to_pass(name: str, advice: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientCredentialsAuth(CLIENT_ID, SECRET, "https://login.example.com/token", client_auth=name)
    assert advice in str(caught.value)


def test_an_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"'client_secret_basic'.*'private_key_jwt'"):
        ClientCredentialsAuth(CLIENT_ID, SECRET, "https://login.example.com/token", client_auth="bearer")


# -- client_secret_jwt -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_client_secret_jwt_sends_an_assertion_macd_with_the_secret(endpoint: Endpoint, alg: str) -> None:
    endpoint.auth(SECRET, client_auth=ClientSecretJwt(alg=alg)).get_token()
    sent = only(endpoint.requests())
    form = sent.form()
    assert "Authorization" not in sent.headers
    assert "client_secret" not in form
    assert SECRET.encode() not in sent.body  # the secret never leaves
    assert form["client_id"] == [CLIENT_ID]
    assert form["client_assertion_type"] == [JWT_BEARER]
    claims = verify(form["client_assertion"][0], SECRET, alg, endpoint.token_url)
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 60
    assert abs(claims["iat"] - time.time()) < 30


def test_client_secret_jwt_by_name(endpoint: Endpoint) -> None:
    endpoint.auth(SECRET, client_auth="client_secret_jwt").get_token()
    verify(only(endpoint.requests()).form()["client_assertion"][0], SECRET, "HS256", endpoint.token_url)


def test_client_secret_jwt_refuses_a_non_hmac_algorithm() -> None:
    with pytest.raises(ConfigurationError, match="not an HMAC algorithm"):
        ClientSecretJwt(alg="RS256")


# -- private_key_jwt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "alg", "expected"),
    [
        ("rsa", None, "RS256"),
        ("rsa", "PS256", "PS256"),
        ("ec", None, "ES256"),
        ("ec384", None, "ES384"),
        ("ed25519", None, "EdDSA"),
    ],
)
def test_private_key_jwt_signs_with_the_algorithm_of_its_key(
    endpoint: Endpoint,
    client_keys: Dict[str, Any],
    secret_strings: SecretWatch,
    kind: str,
    alg: Optional[str],
    expected: str,
) -> None:
    key = client_keys[kind]
    secret_strings.add_private_key(key)
    auth = endpoint.auth(client_auth=PrivateKeyJwt(pem(key), alg=alg, kid="key-2026"))
    auth.get_token()
    sent = only(endpoint.requests())
    form = sent.form()
    assert "Authorization" not in sent.headers
    assert form["client_id"] == [CLIENT_ID]
    assert form["client_assertion_type"] == [JWT_BEARER]
    assertion = form["client_assertion"][0]
    assert jwt_header(assertion)["alg"] == expected
    assert jwt_header(assertion)["kid"] == "key-2026"
    claims = verify(assertion, key.public_key(), expected, endpoint.token_url)
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 60


def test_private_key_jwt_takes_pem_bytes_text_a_path_a_jwk_an_encrypted_pem_or_a_key_object(
    client_keys: Dict[str, Any], tmp_path: Path, secret_strings: SecretWatch
) -> None:
    key = client_keys["ec"]
    secret_strings.add_private_key(key, password="pem-pass-7Hq2")
    path = tmp_path / "client.pem"
    path.write_bytes(pem(key))
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    forms = [
        PrivateKeyJwt(pem(key)),
        PrivateKeyJwt(pem(key).decode()),
        PrivateKeyJwt(str(path)),
        PrivateKeyJwt(path),
        PrivateKeyJwt(jwk),
        PrivateKeyJwt(pem(key, b"pem-pass-7Hq2"), password="pem-pass-7Hq2"),
        PrivateKeyJwt(key),
    ]
    assert len({f.thumbprint for f in forms}) == 1
    assert {f.alg for f in forms} == {"ES256"}


def test_private_key_jwt_names_its_certificate_by_thumbprint(
    endpoint: Endpoint, tmp_path: Path, secret_strings: SecretWatch
) -> None:
    import trustme

    client = issue_client_certificate(trustme.CA(), tmp_path, "ledger")
    secret_strings.add_private_key(client.key_pem)
    endpoint.auth(client_auth=PrivateKeyJwt(client.key_path, certificate=client.cert_path)).get_token()
    assertion = only(endpoint.requests()).form()["client_assertion"][0]
    assert jwt_header(assertion)["x5t#S256"] == client.thumbprint


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (
            lambda keys: (
                keys["rsa"]
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            ),
            "public key",
        ),
        (
            lambda keys: b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
            "not a readable private key",
        ),
        (lambda keys: "/nonexistent/client-key.pem", "no file at '/nonexistent/client-key.pem'"),
        (lambda keys: pem(keys["ec"], b"right-password"), "encrypted: pass its password"),
    ],
    ids=["public key", "garbage", "missing file", "encrypted without password"],
)
def test_a_bad_key_is_a_configuration_error_at_construction(
    client_keys: Dict[str, Any], make: Callable[[Dict[str, Any]], Any], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        ClientCredentialsAuth(
            CLIENT_ID, token_url="https://login.example.com/token", client_auth=PrivateKeyJwt(make(client_keys))
        )


def test_a_certificate_of_another_key_is_refused(client_keys: Dict[str, Any], tmp_path: Path) -> None:
    import trustme

    other = issue_client_certificate(trustme.CA(), tmp_path, "other")
    with pytest.raises(ConfigurationError, match="not the private key's"):
        PrivateKeyJwt(client_keys["ec"], certificate=other.cert_path)


def test_an_algorithm_the_key_cannot_sign_with_is_refused(client_keys: Dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="cannot sign with alg='ES256'"):
        PrivateKeyJwt(client_keys["rsa"], alg="ES256")


def test_the_audience_is_the_token_url_unless_told_otherwise(endpoint: Endpoint, client_keys: Dict[str, Any]) -> None:
    issuer = "https://login.example.com/tenant-7"
    method = PrivateKeyJwt(client_keys["ec"])
    endpoint.auth(client_auth=method).get_token()
    endpoint.auth(client_auth=PrivateKeyJwt(client_keys["ec"], audience=issuer)).get_token()
    endpoint.auth(client_auth=method.with_audience(issuer)).get_token()
    endpoint.auth(SECRET, client_auth=ClientSecretJwt().with_audience(issuer)).get_token()
    audiences = [jwt_claims(a)["aud"] for a in assertions_of(endpoint.requests())]
    assert audiences == [endpoint.token_url, issuer, issuer, issuer]
    assert method.audience is None  # with_audience made a copy


def test_the_json_grant_sends_the_assertion_in_its_body(endpoint: Endpoint, client_keys: Dict[str, Any]) -> None:
    auth = AudienceClientCredentialsAuth(
        CLIENT_ID,
        token_url=endpoint.token_url,
        audience="https://ledger.example",
        client_auth=PrivateKeyJwt(client_keys["ec"]),
        session=endpoint.server.session(),
    )
    auth.get_token()
    body = only(endpoint.requests()).json()
    assert list(body) == ["client_id", "audience", "grant_type", "client_assertion_type", "client_assertion"]
    verify(body["client_assertion"], client_keys["ec"].public_key(), "ES256", endpoint.token_url)


# -- a fresh assertion for every request and every try ---------------------------------------------------


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt", "client_assertion"])
def test_every_try_after_a_transient_fault_carries_a_new_assertion(
    endpoint: Endpoint, client_keys: Dict[str, Any], method: str
) -> None:
    endpoint.stub.fail_first = 2
    made: List[str] = []

    def platform_token() -> str:
        made.append(jwt.encode({"sub": CLIENT_ID, "jti": secrets.token_hex(8)}, client_keys["ec"], algorithm="ES256"))
        return made[-1]

    spec = {
        "private_key_jwt": PrivateKeyJwt(client_keys["ec"]),
        "client_secret_jwt": ClientSecretJwt(),
        "client_assertion": ClientAssertion(platform_token),
    }[method]
    endpoint.auth(SECRET if method == "client_secret_jwt" else None, client_auth=spec).get_token()
    sent = assertions_of(endpoint.requests())
    assert len(sent) == 3  # two 503s, then the token
    assert len({jwt_claims(a)["jti"] for a in sent}) == 3
    if method == "client_assertion":
        assert sent == made  # the callable is asked for each try


def test_every_token_request_carries_a_new_assertion_and_a_refresh_too(
    endpoint: Endpoint, client_keys: Dict[str, Any]
) -> None:
    endpoint.stub.refresh = True
    now = [time.time()]
    auth = endpoint.auth(client_auth=PrivateKeyJwt(client_keys["rsa"], lifetime=120), clock=lambda: now[0])
    first = auth.get_token()
    now[0] += 7200  # expired by the client's clock: renewed with the refresh token
    auth.get_token()
    auth.invalidate()
    auth.get_token()
    grants = [r.form()["grant_type"][0] for r in endpoint.requests()]
    assert grants == ["client_credentials", "refresh_token", "client_credentials"]  # invalidate() drops both
    assert endpoint.requests()[1].form()["refresh_token"] == [first.refresh_token]
    sent = assertions_of(endpoint.requests())
    assert len(sent) == 3
    assert len({jwt_claims(a)["jti"] for a in sent}) == 3
    assert {jwt_claims(a)["exp"] - jwt_claims(a)["iat"] for a in sent} == {120}


# -- lifetime ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lifetime", [1, 90, MAX_ASSERTION_LIFETIME])
def test_exp_minus_iat_is_the_configured_lifetime(
    endpoint: Endpoint, client_keys: Dict[str, Any], lifetime: int
) -> None:
    endpoint.auth(client_auth=PrivateKeyJwt(client_keys["ec"], lifetime=lifetime)).get_token()
    endpoint.auth(SECRET, client_auth=ClientSecretJwt(lifetime=lifetime)).get_token()
    for assertion in assertions_of(endpoint.requests()):
        claims = jwt_claims(assertion)
        assert claims["exp"] - claims["iat"] == lifetime


@pytest.mark.parametrize("lifetime", [0, 0.5, -60, 301, 3600, "60", True])
def test_a_lifetime_outside_one_second_to_five_minutes_is_refused(client_keys: Dict[str, Any], lifetime: Any) -> None:
    with pytest.raises(ConfigurationError, match="lifetime"):
        PrivateKeyJwt(client_keys["ec"], lifetime=lifetime)
    with pytest.raises(ConfigurationError, match="lifetime"):
        ClientSecretJwt(lifetime=lifetime)


# -- assertions made elsewhere ------------------------------------------------------------------------------


def platform_jwt(key: Any, n: int) -> str:
    return jwt.encode({"iss": "https://kubernetes.default.svc", "sub": CLIENT_ID, "n": n}, key, algorithm="ES256")


def test_a_custom_assertion_type_is_sent_as_given(endpoint: Endpoint, client_keys: Dict[str, Any]) -> None:
    saml = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    value = platform_jwt(client_keys["ec"], 1)
    endpoint.auth(client_auth=ClientAssertion(lambda: value, assertion_type=saml)).get_token()
    form = only(endpoint.requests()).form()
    assert form["client_assertion_type"] == [saml]
    assert form["client_assertion"] == [value]
    assert form["client_id"] == [CLIENT_ID]


def test_an_assertion_file_is_read_again_when_it_is_rewritten(
    endpoint: Endpoint, client_keys: Dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(platform_jwt(client_keys["ec"], 1) + "\n")
    auth = endpoint.auth(client_auth=ClientAssertion(path))
    auth.get_token()
    auth.invalidate()
    auth.get_token()  # unchanged: the same assertion
    path.write_text(platform_jwt(client_keys["ec"], 22))  # a different size
    auth.invalidate()
    auth.get_token()
    assert [jwt_claims(a)["n"] for a in assertions_of(endpoint.requests())] == [1, 1, 22]


def test_a_kubernetes_projected_token_rotated_by_a_symlink_swap_is_picked_up(
    endpoint: Endpoint, client_keys: Dict[str, Any], tmp_path: Path
) -> None:
    # The kubelet's layout: token -> ..data/token, ..data -> ..<timestamp>/; a rotation writes a
    # new timestamped directory and swaps ..data atomically. Same size, maybe the same mtime.
    mount = tmp_path / "serviceaccount"
    mount.mkdir()

    def project(generation: int) -> None:
        directory = mount / f"..2026_12_01_0{generation}"
        directory.mkdir()
        (directory / "token").write_text(platform_jwt(client_keys["ec"], generation))
        os.utime(directory / "token", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
        staging = mount / "..data_tmp"
        staging.symlink_to(directory.name)
        os.replace(staging, mount / "..data")

    project(1)
    (mount / "token").symlink_to("..data/token")
    auth = endpoint.auth(client_auth=ClientAssertion(str(mount / "token")))
    auth.get_token()
    project(2)
    auth.invalidate()
    auth.get_token()
    assert [jwt_claims(a)["n"] for a in assertions_of(endpoint.requests())] == [1, 2]


def test_a_missing_or_empty_assertion_file_is_refused_at_construction(tmp_path: Path) -> None:
    missing = tmp_path / "missing-token"
    with pytest.raises(ConfigurationError, match=f"no file at '{missing}'"):
        ClientAssertion(missing)
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    with pytest.raises(ConfigurationError, match=f"the file '{empty}' is empty"):
        ClientAssertion(empty)
    with pytest.raises(ConfigurationError, match=r"callable .* or a file path"):
        ClientAssertion(42)  # type: ignore[arg-type]


def test_an_assertion_file_that_disappears_later_is_a_token_request_error_naming_it(
    endpoint: Endpoint, client_keys: Dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(platform_jwt(client_keys["ec"], 1))
    auth = endpoint.auth(client_auth=ClientAssertion(path))
    auth.get_token()
    path.unlink()
    auth.invalidate()
    with pytest.raises(TokenRequestError, match=f"no file at '{path}'"):
        auth.get_token()
    path.write_text("")
    auth.invalidate()  # else the failure is held for a moment, and raised again without a try
    with pytest.raises(TokenRequestError, match="is empty"):
        auth.get_token()
    assert endpoint.stub.calls == 1  # nothing was sent without an assertion


def test_a_callable_that_returns_nothing_is_a_token_request_error(endpoint: Endpoint) -> None:
    def no_token() -> str:
        return ""

    with pytest.raises(TokenRequestError, match="no_token returned an empty string"):
        endpoint.auth(client_auth=ClientAssertion(no_token)).get_token()
    assert endpoint.stub.calls == 0


# -- secrets --------------------------------------------------------------------------------------------------


def test_no_repr_or_error_shows_a_key_a_secret_or_an_assertion(
    endpoint: Endpoint, client_keys: Dict[str, Any], tmp_path: Path, secret_strings: SecretWatch
) -> None:
    key = client_keys["rsa"]
    secret_strings.add_private_key(key)
    key_pem = pem(key).decode()
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
    assertion_file = tmp_path / "token"
    assertion_file.write_text(platform_jwt(client_keys["ec"], 7))
    echoed: List[str] = []

    def refuse(request: Request) -> Reply:
        assertion = assertions_of([request])[0]
        echoed.append(assertion)
        return Reply(400, {"error": "invalid_client", "error_description": f"bad assertion {assertion}"})

    endpoint.server.handler = refuse
    auths = [
        endpoint.auth(client_auth=PrivateKeyJwt(key_pem, kid="k1")),
        endpoint.auth(client_auth=PrivateKeyJwt(jwk)),
        endpoint.auth(SECRET, client_auth=ClientSecretJwt()),
        endpoint.auth(client_auth=ClientAssertion(assertion_file)),
    ]
    texts = []
    for auth in auths:
        with pytest.raises(InvalidClientError) as caught:
            auth.get_token()
        texts += [
            repr(auth),
            repr(auth.client_auth),
            str(caught.value),
            "".join(traceback.format_exception(caught.value)),
        ]
    secret_strings.add_assertions(echoed)
    private_members = [jwk[m] for m in ("d", "p", "q", "dp", "dq", "qi")]
    pem_lines = [line for line in key_pem.splitlines() if not line.startswith("-----")]
    for text in texts:
        assert SECRET not in text
        assert not any(a in text for a in echoed), text
        assert not any(m in text for m in private_members)
        assert not any(line in text for line in pem_lines)
        assert assertion_file.read_text() not in text
    assert "***" in str(texts[2])  # the echoed assertion was redacted, not dropped silently


def test_cache_keys_follow_the_method_and_the_public_key_never_the_private_one(client_keys: Dict[str, Any]) -> None:
    url = "https://login.example.com/token"

    def key_of(**options: Any) -> str:
        return ClientCredentialsAuth(CLIENT_ID, token_url=url, **options)._manager.key

    ec, rsa = client_keys["ec"], client_keys["rsa"]
    assert key_of(client_auth=PrivateKeyJwt(ec)) == key_of(client_auth=PrivateKeyJwt(pem(ec)))
    assert key_of(client_auth=PrivateKeyJwt(ec)) != key_of(client_auth=PrivateKeyJwt(rsa))
    assert key_of(client_auth=PrivateKeyJwt(ec)) != key_of(client_secret=SECRET)
    assert key_of(client_secret=SECRET) == key_of(client_secret=SECRET, client_auth="post")  # same client, same token
    grant = ClientCredentialsAuth(CLIENT_ID, token_url=url, client_auth=PrivateKeyJwt(ec))._grant
    identity = dict(grant.cache_identity)
    assert identity["client_auth"] == "private_key_jwt"
    assert identity["key_thumbprint"] == PrivateKeyJwt(ec).thumbprint
    private = jwt.algorithms.ECAlgorithm.to_jwk(ec, as_dict=True)["d"]
    assert private not in repr(grant.cache_identity)


def test_without_pyjwt_the_jwt_methods_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, client_keys: Dict[str, Any]
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    for make in (ClientSecretJwt, lambda: PrivateKeyJwt(client_keys["ec"])):
        with pytest.raises(ImportError, match=r"pip install 'requests-multiauth\[jwt\]'"):
            make()
    with pytest.raises(ImportError, match="client_secret_jwt"):
        ClientCredentialsAuth(CLIENT_ID, SECRET, "https://login.example.com/token", client_auth="client_secret_jwt")
    ClientCredentialsAuth(CLIENT_ID, SECRET, "https://login.example.com/token")  # the others need no extra


# -- mutual TLS ------------------------------------------------------------------------------------------------


@pytest.fixture
def mtls(tmp_path: Path, secret_strings: SecretWatch) -> Iterator[Dict[str, Any]]:
    import trustme

    client_ca = trustme.CA()
    client = issue_client_certificate(client_ca, tmp_path, "ledger")
    stranger = issue_client_certificate(client_ca, tmp_path, "stranger")
    secret_strings.add_private_key(client.key_pem)
    ca_path = str(tmp_path / "client-ca.pem")
    client_ca.cert_pem.write_to_path(ca_path)
    app = BoundTokenServer(clients={CLIENT_ID: client.thumbprint})
    server = MtlsServer(app, client_cas=[ca_path], directory=tmp_path).start()
    yield {"server": server, "app": app, "client": client, "stranger": stranger}
    server.stop()


def mtls_auth(mtls: Dict[str, Any], **options: Any) -> ClientCredentialsAuth:
    session = requests.Session()
    session.verify = mtls["server"].verify
    client = mtls["client"]
    return ClientCredentialsAuth(
        CLIENT_ID,
        token_url=mtls["server"].url + "/token",
        client_auth=TlsClientAuth(client.cert_path, client.key_path),
        session=session,
        retry=FAST_RETRY,
        **options,
    )


def test_tls_client_auth_presents_the_certificate_and_sends_the_client_id(mtls: Dict[str, Any]) -> None:
    auth = mtls_auth(mtls)
    auth.get_token()
    (request, thumbprint) = only(mtls["server"].received("/token"))
    assert thumbprint == mtls["client"].thumbprint
    assert request.form() == {"grant_type": ["client_credentials"], "client_id": [CLIENT_ID]}
    assert "Authorization" not in request.headers
    assert auth.cert == (mtls["client"].cert_path, mtls["client"].key_path)
    assert f"x5t#S256={mtls['client'].thumbprint!r}" in repr(auth)


def test_a_certificate_bound_token_is_refused_without_its_certificate_and_accepted_through_the_adapter(
    mtls: Dict[str, Any],
) -> None:
    server, app = mtls["server"], mtls["app"]
    api = server.url + "/api/ledger"
    auth = mtls_auth(mtls)
    token = auth.get_token().access_token

    bare = requests.get(api, headers={"Authorization": f"Bearer {token}"}, verify=server.verify, timeout=10)
    assert bare.status_code == 401  # the token alone is not enough: the binding holds
    stranger = mtls["stranger"]
    wrong = requests.get(
        api,
        headers={"Authorization": f"Bearer {token}"},
        verify=server.verify,
        cert=(stranger.cert_path, stranger.key_path),
        timeout=10,
    )
    assert wrong.status_code == 401

    with requests.Session() as shared:
        shared.verify = server.verify
        shared.mount(server.url + "/api/", AuthAdapter(auth))
        assert shared.get(api).status_code == 200
    with MultiAuthSession() as session:
        session.verify = server.verify
        session.mount_auth(server.url + "/api/", auth)
        response = session.get(api)
        assert response.status_code == 200
        assert response.json()["cnf"] == {"x5t#S256": mtls["client"].thumbprint}
    assert app.token_calls == 1
    assert app.api_statuses == [401, 401, 200, 200]


def test_with_plain_session_auth_the_session_must_present_the_certificate(mtls: Dict[str, Any]) -> None:
    server = mtls["server"]
    auth = mtls_auth(mtls)
    with requests.Session() as session:
        session.verify = server.verify
        session.auth = auth
        assert session.get(server.url + "/api/ledger").status_code == 401  # as documented
        session.cert = auth.cert
        assert session.get(server.url + "/api/ledger").status_code == 200


def test_self_signed_tls_client_auth_presents_its_own_certificate(tmp_path: Path, secret_strings: SecretWatch) -> None:
    own = self_signed_certificate(tmp_path, "ledger-self")
    secret_strings.add_private_key(own.key_pem)
    app = BoundTokenServer(clients={CLIENT_ID: own.thumbprint})
    server = MtlsServer(app, client_cas=[own.cert_path], directory=tmp_path).start()
    try:
        session = requests.Session()
        session.verify = server.verify
        method = TlsClientAuth(own.cert_path, own.key_path, self_signed=True)
        assert method.method == "self_signed_tls_client_auth"
        auth = ClientCredentialsAuth(CLIENT_ID, token_url=server.url + "/token", client_auth=method, session=session)
        with MultiAuthSession() as api:
            api.verify = server.verify
            api.mount_auth(server.url + "/api/", auth)
            assert api.get(server.url + "/api/ledger").status_code == 200
        assert only(server.received("/token"))[1] == own.thumbprint
    finally:
        server.stop()


def test_a_certificate_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"no file at '{tmp_path / 'nope.pem'}'"):
        TlsClientAuth(tmp_path / "nope.pem")
    not_a_cert = tmp_path / "notes.pem"
    not_a_cert.write_text("hello")
    with pytest.raises(ConfigurationError, match="holds no PEM certificate"):
        TlsClientAuth(not_a_cert)
    with pytest.raises(ConfigurationError, match="must be a file path, not PEM text"):
        TlsClientAuth("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")
