"""Two (or more) APIs and their token endpoint on loopback HTTPS, for the session and adapter tests.

:class:`TokenService` is an OAuth 2.0 client-credentials endpoint that knows
several clients and records every token it issues; :class:`Api` is an API that
accepts only the tokens issued to *its* client, in *its* header, and answers
401 otherwise. Tests then read what each server received.
"""

from __future__ import annotations

import base64
import itertools
import threading
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Set

import pytest
import requests

from requests_multiauth import ClientCredentialsAuth, RetryPolicy
from requests_multiauth.testing import LocalServer, Reply, Request

FAST_RETRY = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, max_retry_after=0.05, budget=2.0)


class TokenService:
    """A client-credentials token endpoint (``POST /token``, HTTP Basic client auth)."""

    def __init__(self, serve: Callable[..., LocalServer], clients: Dict[str, str]) -> None:
        self.clients = clients
        self.issued: Dict[str, List[str]] = {client_id: [] for client_id in clients}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.server = serve(self.handle)
        self.token_url = self.server.url + "/token"

    def handle(self, request: Request) -> Reply:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(encoded or "").decode().partition(":")
        if scheme != "Basic" or self.clients.get(client_id) != secret:
            return Reply(401, {"error": "invalid_client"})
        with self._lock:
            token = f"tok-{client_id}-{next(self._counter)}"
            self.issued[client_id].append(token)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def calls(self, client_id: str) -> int:
        return len(self.issued[client_id])

    def all_tokens(self) -> Set[str]:
        with self._lock:
            return {token for tokens in self.issued.values() for token in tokens}

    def auth(self, client_id: str, **options: object) -> ClientCredentialsAuth:
        """An auth for *client_id* whose token calls trust this server's certificate."""
        settings: Dict[str, object] = {"session": self.server.session(), "retry": FAST_RETRY, **options}
        return ClientCredentialsAuth(client_id, self.clients[client_id], self.token_url, **settings)  # type: ignore[arg-type]


class Api:
    """An API that accepts only the tokens issued to *client_id*, sent in *header_name*.

    ``routes`` maps a path to a handler that answers instead (redirects, faults);
    ``revoked`` tokens get a 401 as if they had expired early.
    """

    def __init__(
        self,
        serve: Callable[..., LocalServer],
        tokens: TokenService,
        client_id: str,
        *,
        header_name: str = "Authorization",
    ) -> None:
        self.tokens = tokens
        self.client_id = client_id
        self.header_name = header_name
        self.routes: Dict[str, Callable[[Request], Reply]] = {}
        self.revoked: Set[str] = set()
        self.server = serve(self.handle)
        self.url = self.server.url

    def token_of(self, request: Request) -> Optional[str]:
        value = request.headers.get(self.header_name)
        if value is None:
            return None
        return value[len("Bearer ") :] if self.header_name == "Authorization" else value

    def handle(self, request: Request) -> Reply:
        route = self.routes.get(request.path)
        if route is not None:
            return route(request)
        token = self.token_of(request)
        if token is None or token not in self.tokens.issued[self.client_id] or token in self.revoked:
            return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Reply(200, {"client": self.client_id, "path": request.path, "body": request.body.decode()})

    def received(self, path: Optional[str] = None) -> List[Request]:
        return self.server.received(path)


def tokens_carried(request: Request, tokens: Iterable[str]) -> Set[str]:
    """Which of *tokens* appear anywhere in the request's headers."""
    values = " ".join(request.headers.values())
    return {token for token in tokens if token in values}


def ca_bundle(tmp_path: Path, *servers: LocalServer) -> str:
    """One CA file trusting every server given (each LocalServer has its own CA)."""
    path = tmp_path / "bundle.pem"
    path.write_text("".join(Path(str(server.verify)).read_text() for server in servers))
    return str(path)


def redirect_to(url: str, status: int = 302) -> Callable[[Request], Reply]:
    return lambda _request: Reply(status, None, {"Location": url})


def open_route(request: Request) -> Reply:
    """A route that answers 200 to anyone (a redirect target that needs no token)."""
    return Reply(200, {"path": request.path})


def always_401(_request: Request) -> Reply:
    """A route that refuses every token, renewed or not."""
    return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def plain_session(bundle: str) -> requests.Session:
    session = requests.Session()
    session.verify = bundle
    return session


# -- fixtures (registered for every test module through conftest's pytest_plugins) --------------

#: Two clients of one token service, each with its own API.
CLIENTS = {"alpha": "alpha-secret-1f3a", "beta": "beta-secret-9c2e"}


@pytest.fixture
def tokens(serve: Callable[..., LocalServer]) -> TokenService:
    return TokenService(serve, CLIENTS)


@pytest.fixture
def api_a(serve: Callable[..., LocalServer], tokens: TokenService) -> Api:
    return Api(serve, tokens, "alpha")


@pytest.fixture
def api_b(serve: Callable[..., LocalServer], tokens: TokenService) -> Api:
    return Api(serve, tokens, "beta")


@pytest.fixture
def bundle(tmp_path: Path, tokens: TokenService, api_a: Api, api_b: Api) -> str:
    return ca_bundle(tmp_path, tokens.server, api_a.server, api_b.server)
