"""The DPoP nonce race (dpop.py DPoPProofs, auth.py replay_once): a replay answers the
nonce its challenge named, and the per-origin store never goes back to a nonce the
origin gave before, whatever order concurrent answers arrive in."""

from __future__ import annotations

import logging
from typing import Callable, List, Optional

import requests

from requests_multiauth import ClientCredentialsAuth, DPoPKey, RetryPolicy
from requests_multiauth.dpop import NONCE_HISTORY, DPoPProofs, proof_nonce
from requests_multiauth.testing import LocalServer, Reply, Request

API = "https://api.example.com/v1/items"


def _answer(url: str, nonce: str, status: int = 200) -> requests.Response:
    """A response as requests builds it, carrying *nonce*."""
    response = requests.Response()
    response.status_code = status
    response.url = url
    response.headers["DPoP-Nonce"] = nonce
    return response


def test_a_late_answer_with_an_older_nonce_never_replaces_the_newer_one() -> None:
    proofs = DPoPProofs(DPoPKey.generate())
    proofs.remember(_answer(API, "n-1"))
    proofs.remember(_answer(API, "n-2"))  # a fast answer brought the next nonce
    proofs.remember(_answer(API, "n-1"))  # a slow one, sent before it, arrives now
    assert proofs.nonce(API) == "n-2"
    assert proof_nonce(proofs.proof("GET", API)) == "n-2"
    proofs.remember(_answer(API, "n-3"))  # a new nonce still replaces it
    assert proofs.nonce(API) == "n-3"


def test_the_history_is_per_origin_and_bounded() -> None:
    proofs = DPoPProofs(DPoPKey.generate())
    other = "https://other.example.com/x"
    proofs.remember(_answer(API, "shared-value"))
    proofs.remember(_answer(other, "o-1"))
    proofs.remember(_answer(other, "shared-value"))  # new to this origin: taken
    assert proofs.nonce(other) == "shared-value"
    for n in range(NONCE_HISTORY + 1):
        proofs.remember(_answer(API, f"rot-{n}"))
    proofs.remember(_answer(API, "shared-value"))  # forgotten after NONCE_HISTORY newer ones: new again
    assert proofs.nonce(API) == "shared-value"


def test_a_proof_carries_the_nonce_asked_for_over_the_stores() -> None:
    proofs = DPoPProofs(DPoPKey.generate())
    proofs.remember(_answer(API, "n-latest"))
    assert proof_nonce(proofs.proof("GET", API, nonce="n-challenge")) == "n-challenge"


class _RotatingApi:
    """A token endpoint and an API on one origin. The API's first request gets a
    ``use_dpop_nonce`` challenge naming ``n-2``; only ``n-2`` is accepted."""

    def __init__(self) -> None:
        self.sent: List[Optional[str]] = []

    def __call__(self, request: Request) -> Reply:
        if request.path == "/token":
            return Reply(200, {"access_token": "dpop-tok", "token_type": "DPoP", "expires_in": 3600})
        nonce = proof_nonce(request.headers.get("DPoP"))
        self.sent.append(nonce)
        if nonce == "n-2":
            return Reply(200, {"ok": True})
        return Reply(
            401,
            {"error": "use_dpop_nonce"},
            {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n-2"},
        )


class _AnotherThreadsAnswer(logging.Handler):
    """When the auth decides to answer a nonce challenge, another thread's answer from
    the same origin arrives with a newer nonce (``n-3``), as it does under load."""

    def __init__(self, auth: ClientCredentialsAuth, url: str) -> None:
        super().__init__(logging.DEBUG)
        self.auth, self.url = auth, url

    def emit(self, record: logging.LogRecord) -> None:
        if "asked for a new DPoP nonce" in record.getMessage():
            self.auth.response_observer(_answer(self.url, "n-3"))  # type: ignore[misc]


def test_a_replay_answers_the_nonce_its_challenge_named(serve: Callable[..., LocalServer]) -> None:
    api = _RotatingApi()
    server = serve(api)
    auth = ClientCredentialsAuth(
        "client-a",
        "secret-a",
        server.url + "/token",
        session=server.session(),
        dpop=True,
        retry=RetryPolicy(attempts=1),
    )
    logger = logging.getLogger("requests_multiauth")
    meanwhile = _AnotherThreadsAnswer(auth, server.url + "/api/other")
    logger.addHandler(meanwhile)
    try:
        response = requests.get(server.url + "/api/items", auth=auth, verify=server.verify, timeout=10)
    finally:
        logger.removeHandler(meanwhile)
    assert response.status_code == 200
    assert api.sent == [None, "n-2"]  # one challenge, one replay with the nonce it named
    assert auth._presenter.proofs.nonce(server.url + "/api/other") == "n-3"  # type: ignore[attr-defined]
