"""DPoP (RFC 9449): keys, proofs, nonces, and the auths that present DPoP-bound tokens.

The unit tests check the proofs with PyJWT against the key embedded in them. The end-to-end
tests run against oidc-provider and its protected API (tests/oidc, ``oidc`` fixture), which
check every proof field and refuse a reused ``jti``; the corner cases that server cannot be
made to produce (a Bearer answer to a DPoP request, a redirect, a server that demands the
nonce it was sent, refresh tokens) run against small handlers on a ``LocalServer``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import requests

from requests_multiauth import (
    AuthAdapter,
    ClientCredentialsAuth,
    ConfigurationError,
    DPoPKey,
    FileTokenCache,
    MultiAuthSession,
    TokenRequestError,
    TokenResponseError,
)
from requests_multiauth.auth import MAX_NONCE_REPLAYS
from requests_multiauth.dpop import DPoPProofs, demands_nonce, htu, proof_nonce
from requests_multiauth.testing import LocalServer, Reply, Request
from requests_multiauth.token import Token

from .fixtures_oidc import OidcProvider
from .fixtures_secrets import MIN_SECRET_LENGTH, SecretWatch

jwt = pytest.importorskip("jwt")

ALGS = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ath_of(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def check_proof(proof: str, *, method: str, url: str, token: Optional[str] = None) -> Dict[str, Any]:
    """Verify *proof* as a resource server does (signature with the embedded jwk, typ, htm,
    htu, iat, ath); return its header's jwk thumbprint and its claims."""
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt"
    assert "d" not in header["jwk"]
    assert "p" not in header["jwk"]
    key = jwt.PyJWK(header["jwk"], algorithm=header["alg"]).key
    claims: Dict[str, Any] = jwt.decode(proof, key, algorithms=[header["alg"]])
    assert claims["htm"] == method
    assert claims["htu"] == htu(url)
    assert abs(claims["iat"] - time.time()) < 60
    assert len(claims["jti"]) >= 16
    if token is None:
        assert "ath" not in claims
    else:
        assert claims["ath"] == ath_of(token)
    return {"claims": claims, "jkt": jwt_thumbprint(header["jwk"])}


def jwt_thumbprint(jwk: Dict[str, str]) -> str:
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def register(secret_strings: SecretWatch, key: DPoPKey) -> None:
    secret_strings.add_private_key(key._signing)


def private_key_strings(private_key: Any) -> List[str]:
    """What gives a private key away, to look for in a text: the base64 lines of its PEM
    (PKCS#8) and its JWK private members. *private_key* is a ``cryptography`` private key."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")
    found = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(private_key))
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk = json.loads(ECAlgorithm.to_jwk(private_key))
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        jwk = json.loads(OKPAlgorithm.to_jwk(private_key))
    else:
        raise TypeError(type(private_key).__name__)
    found += [jwk[name] for name in ("d", "p", "q", "dp", "dq", "qi") if name in jwk]
    return [item for item in found if len(item) >= MIN_SECRET_LENGTH]


# -- keys ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_a_generated_key_signs_proofs_a_server_verifies(alg: str, secret_strings: SecretWatch) -> None:
    key = DPoPKey.generate(alg)
    register(secret_strings, key)
    url = "https://api.example/v1/things?page=2#top"
    checked = check_proof(
        key.proof("GET", url, access_token="tok-12345678"), method="GET", url=url, token="tok-12345678"
    )
    assert checked["jkt"] == key.thumbprint
    assert checked["claims"]["htu"] == "https://api.example/v1/things"
    assert key.alg == alg


def test_es256_is_the_default() -> None:
    assert DPoPKey.generate().alg == "ES256"


def test_a_key_loads_from_pem_path_jwk_and_key_object(tmp_path: Path, secret_strings: SecretWatch) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    from jwt.algorithms import ECAlgorithm

    private = ec.generate_private_key(ec.SECP256R1())
    secret_strings.add_private_key(private)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path = tmp_path / "dpop.pem"
    path.write_bytes(pem)
    jwk = json.loads(ECAlgorithm.to_jwk(private))
    loaded = [DPoPKey(pem), DPoPKey(pem.decode()), DPoPKey(str(path)), DPoPKey(path), DPoPKey(jwk), DPoPKey(private)]
    assert {key.thumbprint for key in loaded} == {loaded[0].thumbprint}
    assert all(key.alg == "ES256" for key in loaded)


def test_an_rsa_key_signs_ps256_when_asked(secret_strings: SecretWatch) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    secret_strings.add_private_key(private)
    assert DPoPKey(private).alg == "RS256"
    key = DPoPKey(private, alg="PS256")
    assert jwt.get_unverified_header(key.proof("POST", "https://as.example/token"))["alg"] == "PS256"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("/no/such/key.pem", "no file"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "public key"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "public JWK"),
        ({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}, "RSA, EC or OKP"),
    ],
)
def test_an_unusable_key_is_a_configuration_error(value: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        DPoPKey(value)


def test_an_alg_the_key_cannot_sign_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="RS256"):
        DPoPKey(DPoPKey.generate("ES256")._signing.private_key, alg="RS256")


def test_the_key_shows_only_its_public_thumbprint(secret_strings: SecretWatch) -> None:
    key = DPoPKey.generate()
    register(secret_strings, key)
    private = private_key_strings(key._signing.private_key)
    auth = ClientCredentialsAuth("client-1", "secret-abcdefgh", "https://as.example/token", dpop=key)
    for text in (repr(key), str(key), repr(auth), repr(DPoPProofs(key)), repr(auth.dpop_key)):
        assert not any(part in text for part in private)
    assert repr(key) == f"DPoPKey(alg='ES256', thumbprint={key.thumbprint!r})"
    assert f"dpop=DPoPKey(alg='ES256', thumbprint={key.thumbprint!r})" in repr(auth)
    assert "d" not in key.public_jwk
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(key)


def test_dpop_takes_none_true_or_a_key_only() -> None:
    url = "https://as.example/token"
    assert ClientCredentialsAuth("c", "s", url).dpop_key is None
    key = ClientCredentialsAuth("c", "s", url, dpop=True).dpop_key
    assert key is not None
    assert key.alg == "ES256"
    assert ClientCredentialsAuth("c", "s", url, dpop=True).dpop_key.thumbprint != key.thumbprint  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="DPoPKey"):
        ClientCredentialsAuth("c", "s", url, dpop="-----BEGIN PRIVATE KEY-----")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Authorization header"):
        ClientCredentialsAuth("c", "s", url, dpop=True, header_name="X-Token")


# -- proofs and nonces -----------------------------------------------------------------------------------


def test_each_proof_has_its_own_jti_and_the_origins_nonce() -> None:
    proofs = DPoPProofs(DPoPKey.generate())
    made = [proofs.proof("GET", "https://api.example/x") for _ in range(200)]
    assert len({jwt.decode(p, options={"verify_signature": False})["jti"] for p in made}) == 200
    assert proof_nonce(made[0]) is None
    proofs.remember(answer(200, {"DPoP-Nonce": "nonce-one"}, url="https://api.example/other?q=1"))
    assert proof_nonce(proofs.proof("GET", "https://api.example/x")) == "nonce-one"
    assert proof_nonce(proofs.proof("GET", "https://API.example:443/y")) == "nonce-one"
    assert proof_nonce(proofs.proof("GET", "https://as.example/token")) is None  # another origin


def answer(
    status: int, headers: Dict[str, str], *, url: str = "https://api.example/x", body: Any = None, sent: str = ""
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response.url = url
    response._content = json.dumps(body).encode() if body is not None else b""
    request = requests.Request("GET", url, headers={"DPoP": sent} if sent else {}).prepare()
    response.request = request
    return response


CHALLENGE = 'DPoP error="use_dpop_nonce", error_description="nonce required", algs="ES256 RS256"'


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (401, {"WWW-Authenticate": CHALLENGE, "DPoP-Nonce": "n-2"}, None, True),
        (401, {"WWW-Authenticate": 'Bearer realm="api", ' + CHALLENGE, "DPoP-Nonce": "n-2"}, None, True),
        (401, {"WWW-Authenticate": CHALLENGE}, None, False),  # no nonce to answer with
        (401, {"WWW-Authenticate": 'DPoP error="invalid_token"', "DPoP-Nonce": "n-2"}, None, False),
        (401, {"WWW-Authenticate": 'Bearer error="use_dpop_nonce"', "DPoP-Nonce": "n-2"}, None, False),
        (400, {"DPoP-Nonce": "n-2"}, {"error": "use_dpop_nonce"}, True),
        (400, {"DPoP-Nonce": "n-2"}, {"error": "invalid_dpop_proof"}, False),
        (200, {"DPoP-Nonce": "n-2"}, {"ok": True}, False),
    ],
)
def test_what_counts_as_a_nonce_challenge(status: int, headers: Dict[str, str], body: Any, expected: bool) -> None:
    assert demands_nonce(answer(status, headers, body=body)) is expected


def test_a_challenge_is_answered_when_the_nonce_sent_differs_from_the_one_demanded() -> None:
    proofs = DPoPProofs(DPoPKey.generate())
    old = proofs.proof("GET", "https://api.example/x")
    challenge = {"WWW-Authenticate": CHALLENGE, "DPoP-Nonce": "n-2"}
    # Two threads sent no nonce and both got the same new one: both replay.
    assert proofs.new_nonce_demanded(answer(401, challenge, sent=old)) == "n-2"
    assert proofs.new_nonce_demanded(answer(401, challenge, sent=old)) == "n-2"
    # A server that demands the very nonce it was sent is not answered again.
    with_nonce = proofs.proof("GET", "https://api.example/x")
    assert proof_nonce(with_nonce) == "n-2"
    assert proofs.new_nonce_demanded(answer(401, challenge, sent=with_nonce)) is None


def test_nonces_are_updated_from_many_threads_without_loss() -> None:
    proofs = DPoPProofs(DPoPKey.generate())

    def work(number: int) -> None:
        for i in range(50):
            proofs.remember(answer(200, {"DPoP-Nonce": f"n-{number}-{i}"}, url=f"https://api{number}.example/"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert all(proofs.nonce(f"https://api{n}.example/x") == f"n-{n}-49" for n in range(8))


def test_a_token_type_survives_the_file_cache(tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path / "tokens")
    cache.set("k", Token(access_token="tok-abcdefgh", token_type="DPoP", expires_at=time.time() + 60))
    again = cache.get("k")
    assert again is not None
    assert again.token_type == "DPoP"


# -- against oidc-provider and its protected API -----------------------------------------------------------


def dpop_auth(oidc: OidcProvider, secret_strings: SecretWatch, **options: Any) -> ClientCredentialsAuth:
    client = oidc.client(options.pop("client", "dpop-basic"))
    secret_strings.add(client.secret)
    options.setdefault("dpop", True)
    auth = ClientCredentialsAuth(
        client.client_id,
        client.secret or "",
        oidc.token_endpoint,
        params={"resource": oidc.resource},
        session=options.pop("session", None) or oidc.session(),
        **options,
    )
    if auth.dpop_key is not None:
        register(secret_strings, auth.dpop_key)
    return auth


def wire_token(response: requests.Response) -> str:
    scheme, _, token = response.request.headers["Authorization"].partition(" ")
    assert scheme == "DPoP"
    return token


def test_a_dpop_token_and_a_proof_per_request(oidc: OidcProvider, secret_strings: SecretWatch) -> None:
    # One token for the three requests, however slow a loaded machine makes them: not the harness's 2 s token.
    oidc.control(access_token_ttl=300)
    auth = dpop_auth(oidc, secret_strings)
    session = oidc.session()
    responses = [session.get(oidc.api_url + f"things/{i}?page={i}", auth=auth, timeout=10) for i in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    for number, response in enumerate(responses):
        secret_strings.add(wire_token(response))
        body = response.json()
        assert body["scheme"] == "DPoP"
        assert body["cnf"] == {"jkt": auth.dpop_key.thumbprint}
        check_proof(response.request.headers["DPoP"], method="GET", url=response.url, token=wire_token(response))
        assert response.request.url.endswith(f"?page={number}")
    assert auth.get_token().token_type == "DPoP"
    assert oidc.token_calls() == 1
    assert oidc.counters()["token_dpop"] == {"with_proof": 1, "without_proof": 0, "use_dpop_nonce": 0}


def test_a_stolen_token_without_the_key_is_refused(oidc: OidcProvider, secret_strings: SecretWatch) -> None:
    auth = dpop_auth(oidc, secret_strings)
    session = oidc.session()
    response = session.get(oidc.api_url + "things", auth=auth, timeout=10)
    assert response.status_code == 200
    stolen = wire_token(response)  # from the wire ...
    assert stolen == auth.get_token().access_token  # ... or the cache: the same token
    url = oidc.api_url + "things"
    as_bearer = session.get(url, headers={"Authorization": f"Bearer {stolen}"}, timeout=10)
    thief = DPoPKey.generate()
    register(secret_strings, thief)
    headers = {"Authorization": f"DPoP {stolen}", "DPoP": thief.proof("GET", url, access_token=stolen)}
    with_another_key = session.get(url, headers=headers, timeout=10)
    replayed = session.get(url, headers=dict(response.request.headers), timeout=10)  # the proof seen on the wire
    assert (as_bearer.status_code, with_another_key.status_code, replayed.status_code) == (401, 401, 401)
    assert oidc.counters()["api_dpop_replays_refused"] == 1


def test_token_endpoint_nonce_costs_one_round_trip_per_nonce(oidc: OidcProvider, secret_strings: SecretWatch) -> None:
    oidc.control(token_dpop_nonce=True, access_token_ttl=1)
    seen: List[Tuple[int, Optional[str], Optional[str]]] = []  # status, nonce sent, nonce answered
    session = oidc.session()
    session.hooks["response"].append(
        lambda r, **_: seen.append(
            (r.status_code, proof_nonce(r.request.headers.get("DPoP")), r.headers.get("DPoP-Nonce"))
        )
    )
    auth = dpop_auth(oidc, secret_strings, session=session)
    for _ in range(4):
        auth.invalidate()
        assert auth.get_token().token_type == "DPoP"
    challenges = [entry for entry in seen if entry[0] == 400]
    nonces = {entry[2] for entry in seen if entry[2]}
    assert oidc.token_calls(outcome="ok") == 4
    assert len(challenges) == len(nonces) >= 1  # one extra round trip per nonce the server handed out
    assert all(sent != answered for _, sent, answered in challenges)
    assert oidc.counters()["dpop_replays_refused"] == 0


def test_a_nonce_challenge_from_the_api_is_replayed_once_with_the_same_token(
    oidc: OidcProvider, secret_strings: SecretWatch
) -> None:
    oidc.control(api_dpop_nonce=True, api_nonce_rotation=3600)
    auth = dpop_auth(oidc, secret_strings)
    session = oidc.session()
    first = session.post(oidc.api_url + "things", data=b"payload", auth=auth, timeout=10)
    second = session.get(oidc.api_url + "things", auth=auth, timeout=10)
    assert (first.status_code, second.status_code) == (200, 200)
    assert [r.status_code for r in first.history] == [401]
    assert first.history[0].headers["DPoP-Nonce"] == proof_nonce(first.request.headers["DPoP"])
    assert first.request.body == b"payload"
    assert second.history == []  # the nonce of the 200 is used from then on
    assert oidc.token_calls() == 1  # a nonce challenge does not cost the token
    counters = oidc.counters()
    assert counters["api"]["DPoP"] == {"use_dpop_nonce": 1, "ok": 2}


@pytest.mark.parametrize("transport", ["session.auth", "AuthAdapter", "mount_auth"])
def test_every_transport_answers_the_nonce_the_same_way(
    oidc: OidcProvider, secret_strings: SecretWatch, transport: str
) -> None:
    oidc.control(api_dpop_nonce=True, api_nonce_rotation=3600)
    auth = dpop_auth(oidc, secret_strings)
    if transport == "session.auth":
        session: requests.Session = oidc.session()
        session.auth = auth
    elif transport == "AuthAdapter":
        session = oidc.session()
        session.mount(oidc.api_origin + "/", AuthAdapter(auth))
    else:
        session = MultiAuthSession()
        session.verify = oidc.ca_path
        session.trust_env = False
        session.mount_auth(oidc.api_origin + "/", auth)
    responses = [session.get(oidc.api_url + "things", timeout=10) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [len(r.history) for r in responses] == [1, 0, 0]
    assert oidc.counters()["api"]["DPoP"] == {"use_dpop_nonce": 1, "ok": 3}


@pytest.mark.slow
def test_sixteen_threads_with_rotating_nonces_and_short_tokens(oidc: OidcProvider, secret_strings: SecretWatch) -> None:
    """The acceptance run: 16 threads for 6 s, tokens living 2 s, the API's nonce rotating every 2 s."""
    threads, duration, lifetime = 16, 6.0, 2
    oidc.control(access_token_ttl=lifetime, api_dpop_nonce=True, api_nonce_rotation=2)
    auth = dpop_auth(oidc, secret_strings)
    session = oidc.session()
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=threads))
    results: List[requests.Response] = []
    lock = threading.Lock()
    start = time.monotonic()

    raised: List[str] = []

    def work() -> None:
        mine = []
        try:
            for _ in range(5000):  # bounded in count and in time
                if time.monotonic() - start > duration:
                    break
                mine.append(session.get(oidc.api_url + "things", auth=auth, timeout=30))
        except Exception as exc:  # a failed request, counted as such
            raised.append(repr(exc))
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=duration + 60)
    assert not any(worker.is_alive() for worker in workers)
    assert raised == []
    counters = oidc.counters()
    failed = [r for r in results if r.status_code != 200]
    assert failed == [], [(r.status_code, r.text[:120], [h.json()["error"] for h in r.history]) for r in failed[:3]]
    assert set(counters["api"]) == {"DPoP"}  # none sent as Bearer
    outcomes = counters["api"]["DPoP"]
    assert outcomes["ok"] == len(results), (outcomes, len(results))
    replayed = [r for r in results if r.history]
    errors = [[h.json()["error"] for h in r.history] for r in replayed]
    # Each 401 was either a nonce challenge (replayed with the same token and the new nonce) or,
    # because oidc-provider's exp is floor(iat) + ttl, a token that expired up to 1 s before its
    # expires_in said (renewed, then replayed). A request gets at most one replay for each, in
    # either order (on a loaded machine a nonce rotates, or a token expires, while a request is
    # on its way): nothing more, no loop.
    # A nonce may also rotate again while the first replay is out: a second, different nonce is a
    # new challenge, answered once too (at most MAX_NONCE_REPLAYS per request).
    assert all(e.count("use_dpop_nonce") <= MAX_NONCE_REPLAYS and e.count("invalid_token") <= 1 for e in errors), errors
    assert all(h.status_code == 401 for r in replayed for h in r.history)
    assert set(outcomes) <= {"ok", "use_dpop_nonce", "invalid_token"}
    assert outcomes.get("use_dpop_nonce", 0) + outcomes.get("invalid_token", 0) == sum(map(len, errors))
    assert sum(e.count("use_dpop_nonce") for e in errors) == outcomes.get("use_dpop_nonce", 0) >= 1
    # The answer to each nonce challenge: the same token, and not the nonce that was refused. It is
    # the nonce the challenge named, or a newer one another thread's answer brought in the meantime
    # (nonces are kept per origin and the newest is always used).
    issued_nonces = {h.headers.get("DPoP-Nonce") for r in results for h in [*r.history, r]} - {None}
    for response in replayed:
        sends = [*response.history, response]
        for challenged, answer in zip(sends, sends[1:]):
            if challenged.json()["error"] == "use_dpop_nonce":
                assert answer.request.headers["Authorization"] == challenged.request.headers["Authorization"]
                sent_again = proof_nonce(answer.request.headers["DPoP"])
                assert sent_again != proof_nonce(challenged.request.headers["DPoP"])
                assert sent_again in issued_nonces
    assert counters["api_dpop_replays_refused"] == 0
    assert counters["dpop_replays_refused"] == 0
    sent = [r.request.headers["DPoP"] for r in results]
    sent += [h.request.headers["DPoP"] for r in replayed for h in r.history]  # every proof sent, once each
    jtis = [jwt.decode(p, options={"verify_signature": False})["jti"] for p in sent]
    assert len(set(jtis)) == len(jtis)
    # Tokens needed: one per lifetime in the run, plus the first (4); renewal ahead of expiry
    # may cost one more. requests-oauth2client made 70 in this run (issue 12).
    needed = int(duration / lifetime) + 1
    assert abs(oidc.token_calls() - needed) <= 1, oidc.token_calls()
    assert len(results) > threads * 10


# -- corner cases on a local server -----------------------------------------------------------------------


class DPoPServer:
    """A token endpoint and an API that check proofs like a real server, and can be told to misbehave."""

    def __init__(self) -> None:
        self.token_type = "DPoP"
        self.token_nonce: Optional[str] = None  # demanded at the token endpoint, if set
        self.api_nonce: Optional[str] = None
        self.refresh = False
        self.issued = 0
        self.proofs: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""
        self.away = ""

    def __call__(self, request: Request) -> Reply:
        url = self.url + request.path
        proof = request.headers.get("DPoP")
        if request.path == "/token":
            if proof is not None:  # (a server that binds without a proof is wrong, and tested as such)
                checked = check_proof(proof, method="POST", url=url)
                self.proofs.append({"path": request.path, **checked})
                if self.token_nonce is not None and checked["claims"].get("nonce") != self.token_nonce:
                    return Reply(400, {"error": "use_dpop_nonce"}, {"DPoP-Nonce": self.token_nonce})
            with self.lock:
                self.issued += 1
                number = self.issued
            form = request.form()
            body = {"access_token": f"dpop-tok-{number:04d}", "token_type": self.token_type, "expires_in": 3600}
            body["grant"] = form["grant_type"][0]
            if self.refresh:
                body["refresh_token"] = f"refresh-{number:04d}"
            return Reply(200, body)
        if request.path == "/away":
            return Reply(302, headers={"Location": self.away})
        if request.path.startswith("/redirect/"):
            return Reply(int(request.path.rsplit("/", 1)[1]), headers={"Location": "/landed?after=redirect"})
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "DPoP":
            return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'DPoP algs="ES256"'})
        checked = check_proof(proof or "", method=request.method, url=url, token=token)
        self.proofs.append({"path": request.path, **checked})
        if self.api_nonce is not None and checked["claims"].get("nonce") != self.api_nonce:
            challenge = 'DPoP error="use_dpop_nonce", error_description="nonce required"'
            return Reply(
                401, {"error": "use_dpop_nonce"}, {"WWW-Authenticate": challenge, "DPoP-Nonce": self.api_nonce}
            )
        return Reply(200, {"ok": True, "path": request.path, "method": request.method})


@pytest.fixture
def ca() -> Any:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture
def local_dpop(serve: Callable[..., LocalServer], ca: Any) -> Tuple[DPoPServer, LocalServer]:
    handler = DPoPServer()
    server = serve(handler, ca=ca)
    handler.url = server.url
    return handler, server


def local_auth(server: LocalServer, secret_strings: SecretWatch, **options: Any) -> ClientCredentialsAuth:
    session = requests.Session()
    session.verify = server.verify
    secret_strings.add("local-secret-abcdef")
    options.setdefault("dpop", True)
    auth = ClientCredentialsAuth(
        "local-client", "local-secret-abcdef", server.url + "/token", session=session, **options
    )
    if auth.dpop_key is not None:
        register(secret_strings, auth.dpop_key)
    return auth


def test_a_bearer_answer_to_a_dpop_request_is_refused(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    handler.token_type = "Bearer"
    secret_strings.add("dpop-tok-0001")
    with pytest.raises(TokenResponseError, match="not bound to the key") as caught:
        local_auth(server, secret_strings).get_token()
    assert "dpop-tok-0001" not in str(caught.value)


def test_a_dpop_answer_to_a_bearer_auth_is_never_sent_as_bearer(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    _, server = local_dpop
    session = requests.Session()
    session.verify = server.verify
    auth = ClientCredentialsAuth("local-client", "local-secret-abcdef", server.url + "/token", session=session)
    with pytest.raises(TokenResponseError, match="dpop="):
        session.get(server.url + "/api", auth=auth, timeout=10, headers={"DPoP": "x"})
    assert [r.path for r in server.requests] == ["/token"]


def test_a_token_endpoint_demanding_the_nonce_it_was_sent_is_not_a_loop(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    handler.token_nonce = "as-nonce-1"
    auth = local_auth(server, secret_strings)
    assert auth.get_token().token_type == "DPoP"
    assert [p["claims"].get("nonce") for p in handler.proofs] == [None, "as-nonce-1"]
    handler.token_nonce = "as-nonce-2"  # rotated: the next token call pays one round trip
    auth.invalidate()
    auth.get_token()
    assert [p["claims"].get("nonce") for p in handler.proofs[2:]] == ["as-nonce-1", "as-nonce-2"]
    # A server that keeps asking for a nonce it already got: one retry, then its refusal.
    handler.proofs.clear()
    handler.token_nonce = "as-nonce-3"
    original = handler.__call__
    handler_calls: List[str] = []

    def stubborn(request: Request) -> Reply:
        handler_calls.append(request.path)
        return Reply(400, {"error": "use_dpop_nonce"}, {"DPoP-Nonce": "as-nonce-3"})

    server.handler = stubborn
    auth.invalidate()
    with pytest.raises(TokenRequestError, match="use_dpop_nonce"):
        auth.get_token()
    assert handler_calls == ["/token", "/token"]
    server.handler = original


def test_a_refresh_token_request_carries_a_proof(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    handler.refresh = True
    secret_strings.add("refresh-0001", "dpop-tok-0001", "dpop-tok-0002")
    auth = local_auth(server, secret_strings)
    first = auth.get_token()
    # As after a 401: the engine renews with the refresh token the first answer carried.
    assert auth._manager.token_after_rejection(first).access_token == "dpop-tok-0002"
    grants = [r.form()["grant_type"][0] for r in server.requests]
    assert grants == ["client_credentials", "refresh_token"]
    assert [p["path"] for p in handler.proofs] == ["/token", "/token"]
    assert len({p["claims"]["jti"] for p in handler.proofs}) == 2


@pytest.mark.parametrize("kind", ["requests.Session", "MultiAuthSession"])
@pytest.mark.parametrize(("status", "method"), [(302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")])
def test_a_redirect_within_the_origin_gets_a_proof_for_its_url(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch, status: int, method: str, kind: str
) -> None:
    handler, server = local_dpop
    secret_strings.add("dpop-tok-0001")
    auth = local_auth(server, secret_strings)
    session = requests.Session() if kind == "requests.Session" else MultiAuthSession(retries=0)
    session.verify = server.verify
    response = session.post(server.url + f"/redirect/{status}", data=b"body", auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "path": "/landed", "method": method}
    landed = [p for p in handler.proofs if p["path"] == "/landed"]
    assert len(landed) == 1
    assert landed[0]["claims"]["htu"] == server.url + "/landed"


def test_a_redirect_to_another_origin_carries_neither_token_nor_proof(
    serve: Callable[..., LocalServer], ca: Any, local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    other = serve(lambda request: Reply(200, {"ok": True}), ca=ca)
    handler.away = other.url + "/elsewhere"
    secret_strings.add("dpop-tok-0001")
    auth = local_auth(server, secret_strings)
    session = requests.Session()
    session.verify = server.verify  # one CA for both servers
    response = session.get(server.url + "/away", auth=auth, timeout=10)
    assert response.status_code == 200
    assert response.history[0].status_code == 302
    arrived = other.requests[-1].headers
    assert "DPoP" not in arrived
    assert "Authorization" not in arrived
    assert "DPoP" in server.requests[-1].headers


def test_an_api_demanding_the_nonce_it_was_sent_gets_one_replay_only(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    secret_strings.add("dpop-tok-0001")
    handler.api_nonce = "rs-nonce-1"
    auth = local_auth(server, secret_strings)
    session = requests.Session()
    session.verify = server.verify
    assert session.get(server.url + "/api", auth=auth, timeout=10).status_code == 200
    api_requests = len([r for r in server.requests if r.path == "/api"])
    assert api_requests == 2

    def stubborn(request: Request) -> Reply:
        challenge = 'DPoP error="use_dpop_nonce"'
        return Reply(401, {"error": "use_dpop_nonce"}, {"WWW-Authenticate": challenge, "DPoP-Nonce": "rs-nonce-1"})

    server.handler = stubborn
    before = len(server.requests)
    response = session.get(server.url + "/api", auth=auth, timeout=10)
    assert response.status_code == 401
    assert response.history == []
    assert len(server.requests) == before + 1
    assert auth._manager.current is not None  # a nonce challenge does not give the token up


def test_a_nonce_that_rotates_again_during_the_replay_is_answered_a_bounded_number_of_times(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    secret_strings.add("dpop-tok-0001")
    auth = local_auth(server, secret_strings)
    session = requests.Session()
    session.verify = server.verify
    auth.get_token()
    rotations = {"count": 0, "accept_after": 2}

    def rotating(request: Request) -> Reply:
        if request.path == "/token":
            return handler(request)
        # Every answer names a new nonce until accept_after challenges were made: the nonce the
        # client just learned is stale again by the time its replay arrives.
        if rotations["count"] < rotations["accept_after"]:
            rotations["count"] += 1
            challenge = 'DPoP error="use_dpop_nonce"'
            nonce = f"rs-nonce-r{rotations['count']}"
            return Reply(401, {"error": "use_dpop_nonce"}, {"WWW-Authenticate": challenge, "DPoP-Nonce": nonce})
        return Reply(200, {"ok": True})

    server.handler = rotating
    response = session.get(server.url + "/api", auth=auth, timeout=10)
    assert response.status_code == 200
    assert len(response.history) == MAX_NONCE_REPLAYS == 2
    assert proof_nonce(response.request.headers["DPoP"]) == "rs-nonce-r2"
    # A server that rotates on every answer: MAX_NONCE_REPLAYS replays, then its 401 is returned.
    rotations.update(count=0, accept_after=100)
    before = len(server.requests)
    response = session.get(server.url + "/api", auth=auth, timeout=10)
    assert response.status_code == 401
    assert len(response.history) == MAX_NONCE_REPLAYS
    assert len(server.requests) == before + 1 + MAX_NONCE_REPLAYS
    assert handler.issued == 1  # nonce challenges never cost the token


def test_a_nonce_replay_and_a_renewal_are_each_made_once_per_request(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    secret_strings.add("dpop-tok-0001", "dpop-tok-0002")
    auth = local_auth(server, secret_strings)
    session = requests.Session()
    session.verify = server.verify
    auth.get_token()
    answers: List[str] = []
    expired = {"dpop-tok-0001"}

    def nonce_then_expired(request: Request) -> Reply:
        if request.path == "/token":
            return handler(request)
        token = request.headers["Authorization"].partition(" ")[2]
        nonce = proof_nonce(request.headers.get("DPoP"))
        if nonce != "rs-nonce-9":
            answers.append("nonce")
            challenge = 'DPoP error="use_dpop_nonce"'
            return Reply(401, {"error": "use_dpop_nonce"}, {"WWW-Authenticate": challenge, "DPoP-Nonce": "rs-nonce-9"})
        if token in expired:
            answers.append("expired")
            return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'DPoP error="invalid_token"'})
        answers.append("ok")
        return Reply(200, {"ok": True, "body": request.body.decode()})

    server.handler = nonce_then_expired
    response = session.put(server.url + "/api", data=b"payload", auth=auth, timeout=10)
    assert response.status_code == 200
    assert response.json()["body"] == "payload"  # rewound for each send
    assert answers == ["nonce", "expired", "ok"]
    assert [r.json()["error"] for r in response.history] == ["use_dpop_nonce", "invalid_token"]
    assert handler.issued == 2
    # A server that refuses every token after the nonce: the renewal is tried once, then its 401 returned.
    expired.add("dpop-tok-0002")
    expired.add("dpop-tok-0003")
    answers.clear()
    auth._presenter.proofs._nonces.clear()  # type: ignore[attr-defined]
    response = session.get(server.url + "/api", auth=auth, timeout=10)
    assert response.status_code == 401
    assert answers == ["nonce", "expired", "expired"]
    assert len(response.history) == 2
    assert handler.issued == 3


# -- shared caches ---------------------------------------------------------------------------------------------


def test_auths_share_a_cached_token_only_with_the_same_key(
    tmp_path: Path, local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    _, server = local_dpop
    secret_strings.add("dpop-tok-0001", "dpop-tok-0002")
    key_file = tmp_path / "dpop-key.pem"
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private = ec.generate_private_key(ec.SECP256R1())
    secret_strings.add_private_key(private)
    key_file.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key_file.chmod(0o600)
    cache = tmp_path / "tokens"
    # Two "processes" loading the same key file, one with its own key, one without DPoP.
    first = local_auth(server, secret_strings, dpop=DPoPKey(key_file), cache=FileTokenCache(cache))
    second = local_auth(server, secret_strings, dpop=DPoPKey(str(key_file)), cache=FileTokenCache(cache))
    other = local_auth(server, secret_strings, dpop=True, cache=FileTokenCache(cache))
    assert first._manager.key == second._manager.key != other._manager.key
    bearer = ClientCredentialsAuth("local-client", "local-secret-abcdef", server.url + "/token")
    assert bearer._manager.key not in (first._manager.key, other._manager.key)
    assert first.get_token() == second.get_token()
    assert other.get_token().access_token != first.get_token().access_token
    assert len([r for r in server.requests if r.path == "/token"]) == 2
    assert not any(part in first._manager.key for part in private_key_strings(private))


def test_a_nonce_retry_makes_a_new_client_assertion_too(oidc: OidcProvider, secret_strings: SecretWatch) -> None:
    from requests_multiauth import PrivateKeyJwt

    oidc.control(token_dpop_nonce=True)
    client = oidc.client("dpop-jwt")
    secret_strings.add_private_key(client.private_key_pem().decode())
    key = DPoPKey.generate()
    register(secret_strings, key)
    auth = ClientCredentialsAuth(
        client.client_id,
        token_url=oidc.token_endpoint,
        client_auth=PrivateKeyJwt(client.key_path, kid=client.kid, alg=client.alg),
        params={"resource": oidc.resource},
        session=oidc.session(),
        dpop=key,
    )
    response = oidc.session().get(oidc.api_url + "things", auth=auth, timeout=10)
    assert response.status_code == 200
    assert response.json()["cnf"] == {"jkt": key.thumbprint}
    counters = oidc.counters()
    assert counters["token"]["dpop-jwt"]["client_credentials"] == {"use_dpop_nonce": 1, "ok": 1}
    assert counters["assertion_replays_refused"] == 0
    assert counters["dpop_replays_refused"] == 0
    jtis = [event["jti"] for event in oidc.events("assertion")]
    assert len(jtis) == len(set(jtis)) >= 1


def test_a_damaged_key_is_refused_without_quoting_it(secret_strings: SecretWatch) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private = ec.generate_private_key(ec.SECP256R1())
    parts = private_key_strings(private)
    secret_strings.add(*parts)
    lines = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode().splitlines()
    damaged = "\n".join([*lines[:2], lines[2][::-1], *lines[3:]])
    with pytest.raises(ConfigurationError) as caught:
        DPoPKey(damaged)
    assert not any(part in str(caught.value) for part in parts)


def test_an_auth_adapter_signs_each_redirect_hop_for_its_own_url(
    local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    handler, server = local_dpop
    secret_strings.add("dpop-tok-0001")
    auth = local_auth(server, secret_strings)
    session = requests.Session()
    session.verify = server.verify
    session.mount(server.url + "/", AuthAdapter(auth))
    response = session.post(server.url + "/redirect/303", data=b"body", timeout=10)
    assert response.json() == {"ok": True, "path": "/landed", "method": "GET"}
    landed = [p for p in handler.proofs if p["path"] == "/landed"]
    assert [p["claims"]["htu"] for p in landed] == [server.url + "/landed"]


WORKER = """
import json, sys
import requests
from requests_multiauth import ClientCredentialsAuth, DPoPKey, FileTokenCache
url, verify, key_path, cache = sys.argv[1:5]
session = requests.Session()
session.verify = verify
auth = ClientCredentialsAuth("local-client", "local-secret-abcdef", url + "/token", session=session,
                             dpop=DPoPKey(key_path), cache=FileTokenCache(cache))
response = session.get(url + "/api", auth=auth, timeout=10)
print(json.dumps({"status": response.status_code, "jkt": auth.dpop_key.thumbprint}))
"""


def test_processes_with_one_key_file_share_one_token(
    tmp_path: Path, local_dpop: Tuple[DPoPServer, LocalServer], secret_strings: SecretWatch
) -> None:
    import subprocess
    import sys

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    handler, server = local_dpop
    keys = []
    for name in ("shared", "own"):
        private = ec.generate_private_key(ec.SECP256R1())
        secret_strings.add_private_key(private)
        path = tmp_path / f"{name}.pem"
        path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        path.chmod(0o600)
        keys.append(path)
    cache = tmp_path / "tokens"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    results = []
    for key in (keys[0], keys[0], keys[1]):  # one after another: the later ones find the cached token
        done = subprocess.run(
            [sys.executable, str(script), server.url, str(server.verify), str(key), str(cache)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert not any(part in done.stdout + done.stderr for part in secret_strings._secrets)
        results.append(json.loads(done.stdout))
    assert [r["status"] for r in results] == [200, 200, 200]
    assert results[0]["jkt"] == results[1]["jkt"] != results[2]["jkt"]
    assert handler.issued == 2  # one token for the two processes with the shared key, one for the other
    bound = {p["jkt"] for p in handler.proofs if p["path"] == "/api"}
    assert bound == {results[0]["jkt"], results[2]["jkt"]}


# -- against the OAuth2Emulator of requests_multiauth.testing (what users test their clients with) -----


def test_the_testing_emulator_with_nonces_everywhere_and_a_redirect(
    oauth2_server: Any, secret_strings: SecretWatch
) -> None:
    oauth2_server.token_dpop_nonce = True
    oauth2_server.api_dpop_nonce = True
    client = oauth2_server.register_client("client_secret_basic", dpop_bound=True)
    secret_strings.add(client.client_secret)
    key = DPoPKey.generate("EdDSA")
    register(secret_strings, key)
    auth = oauth2_server.auth(client, dpop=key)
    session = oauth2_server.api_session()
    first = session.post(oauth2_server.api_url + "things", data=b"payload", auth=auth, timeout=10)
    moved = session.post(
        oauth2_server.url + oauth2_server.redirect_path + "moved", data=b"again", auth=auth, timeout=10
    )
    assert (first.status_code, moved.status_code) == (200, 200)
    assert [r.status_code for r in first.history] == [401]  # the API's nonce, answered once
    assert [r.status_code for r in moved.history] == [307]  # the nonce is known now; the hop has its own proof
    assert moved.request.url == oauth2_server.api_url + "moved"
    assert oauth2_server.nonce_challenges == {"token": 1, "api": 1}
    assert oauth2_server.count_token_calls(outcome="ok") == 1
    assert oauth2_server.count_api_calls(scheme="Bearer") == 0
    assert oauth2_server.dpop_replays == 0


@pytest.mark.parametrize("stated", ["DPoP", "dpop", "DPOP"])
def test_a_dpop_token_type_is_read_case_insensitively(stated: str) -> None:
    from requests_multiauth.token import parse_token_response

    token = parse_token_response({"access_token": "tok-abcdefgh", "token_type": stated, "expires_in": 60}, now=0.0)
    assert token.token_type == "DPoP"
    with pytest.raises(TokenResponseError, match="token_type"):
        Token.from_dict({**token.to_dict(), "token_type": "mac"})
