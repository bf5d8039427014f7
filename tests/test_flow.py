"""The one request flow (requests_multiauth/flow.py): a static token goes the same way as a renewing one,
presentation is asked, not special-cased, and each shared decision (jitter, verify rule, the DPoP header)
is written in one place (issue 19, deliverable 3)."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path
from typing import Callable, List

import pytest

from requests_multiauth import AuthAdapter, StaticTokenAuth, TokenAuth
from requests_multiauth.flow import RequestFlow
from requests_multiauth.testing import LocalServer, Reply, Request
from requests_multiauth.transport.replay import CANNOT_RENEW

PACKAGE = Path(__file__).resolve().parent.parent / "requests_multiauth"
STATIC = "static-token-4c7d"


@pytest.fixture
def api(serve: Callable[..., LocalServer]) -> LocalServer:
    """An API that accepts no token at all: every request is a 401."""

    def refuse(_request: Request) -> Reply:
        return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    return serve(refuse)


def test_static_and_renewing_auths_share_one_request_flow() -> None:
    assert issubclass(StaticTokenAuth, RequestFlow)
    assert issubclass(TokenAuth, RequestFlow)
    for name in ("__call__", "authorize", "replay_once", "_on_response"):
        assert name not in vars(StaticTokenAuth), name  # inherited, not re-implemented
        assert name not in vars(TokenAuth), name


@pytest.mark.parametrize("through", ["hook", "adapter"])
def test_a_static_tokens_401_is_returned_once_counted_and_logged_with_the_hint(
    api: LocalServer, caplog: pytest.LogCaptureFixture, through: str
) -> None:
    auth = StaticTokenAuth(STATIC, renew_hint="make a new one in the console", allow_insecure_loopback=True)
    session = api.session()
    if through == "adapter":
        session.mount(api.url + "/", AuthAdapter(auth, origins=api.url))
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        response = session.get(api.url + "/items", auth=auth if through == "hook" else None, timeout=10)

    assert response.status_code == 401
    assert response.history == []
    received = api.received("/items")
    assert len(received) == 1  # no replay: nothing to renew
    assert received[0].headers["Authorization"] == f"Bearer {STATIC}"
    assert "make a new one in the console" in caplog.text
    assert STATIC not in caplog.text
    assert auth.telemetry.snapshot().not_replayed == {CANNOT_RENEW: 1}


def test_the_token_endpoint_does_not_import_dpop() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, requests_multiauth.transport.endpoint\n"
            "print('requests_multiauth.dpop' in sys.modules, 'requests_multiauth.presentation' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert loaded == "False False"


def sources() -> List[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.parts and "cli" not in p.parts)


def calls_to(module: str, attribute: str, path: Path) -> List[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == module
    ]


def test_jitter_is_written_once() -> None:
    users = {p.relative_to(PACKAGE).as_posix() for p in sources() if calls_to("random", "uniform", p)}
    assert users == {"transport/retry.py"}


def test_only_the_retry_module_sleeps_between_tries_of_an_http_call() -> None:
    # The caches' lock waits sleep too (bounded, with the shared jitter); no HTTP call sleeps elsewhere.
    sleepers = {p.relative_to(PACKAGE).as_posix() for p in sources() if calls_to("time", "sleep", p)}
    assert sleepers <= {"transport/retry.py", "transport/endpoint.py", "caches/file.py", "caches/redis.py"}
    assert "discovery.py" not in sleepers


def test_the_dpop_header_is_named_only_where_dpop_is_presented() -> None:
    for name in ("transport/adapter.py", "transport/session.py", "transport/endpoint.py", "flow.py", "auth.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "DPoP"]
        assert literals == [], name


def test_no_method_is_reassigned_at_runtime_and_no_presenter_is_tested_by_class() -> None:
    for path in sources():
        text = path.read_text(encoding="utf-8")
        assert "method-assign" not in text, path
        assert "isinstance(self._presenter" not in text, path
