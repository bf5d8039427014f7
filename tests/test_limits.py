"""Running out of descriptors, memory or threads is reported as that, never as a TLS fault.

The descriptor tests are real: a child process lowers its own RLIMIT_NOFILE, uses up
every descriptor it has left, then asks a LocalServer (in this process) for a token.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest
import requests

from requests_multiauth.testing import LocalServer, Reply
from requests_multiauth.transport import endpoint as _endpoint

ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT = 60.0

CHILD = textwrap.dedent(
    """
    import os, resource, sys
    from requests_multiauth import ClientCredentialsAuth, RetryPolicy, TokenRequestError
    from requests_multiauth.transport import pool as _pool

    url, warm, fresh_bundle = sys.argv[1], sys.argv[2] == "warm", sys.argv[3]
    auth = ClientCredentialsAuth("limits-client", "limits-secret-5e1b", url, retry=RetryPolicy(attempts=2, backoff=0))
    auth.get_token()  # everything a first call imports lazily (telemetry, ...) is imported now
    _pool.shared_session().close()  # the next call needs a new socket
    auth.invalidate()
    if not warm:  # a CA bundle never loaded yet: the next call must open it
        os.environ["REQUESTS_CA_BUNDLE"] = fresh_bundle
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(128, hard), hard))
    held = []
    try:
        while len(held) < 10_000:
            held.append(open(os.devnull))
    except OSError:
        pass
    try:
        auth.get_token()
    except TokenRequestError as exc:
        print(f"{type(exc).__name__}: {exc}")
    else:
        print("no error")
    """
)


@pytest.fixture
def token_server(serve: Callable[..., LocalServer]) -> LocalServer:
    return serve(lambda request: Reply(200, {"access_token": "limits-token", "expires_in": 3600}))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
@pytest.mark.parametrize("when", ["new CA bundle", "warm"])
def test_out_of_file_descriptors_is_reported_as_that_not_as_tls_verification(
    token_server: LocalServer, when: str, tmp_path: Path
) -> None:
    fresh_bundle = tmp_path / "fresh-bundle.pem"
    fresh_bundle.write_text(Path(str(token_server.verify)).read_text())
    env = dict(os.environ, REQUESTS_CA_BUNDLE=str(token_server.verify), PYTHONPATH=str(ROOT))
    env.pop("CURL_CA_BUNDLE", None)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, token_server.url + "/token", when, str(fresh_bundle)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=env,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()

    assert message.startswith("TokenRequestError: the token endpoint"), message
    assert "the process is out of file descriptors" in message
    assert "EMFILE" in message
    assert "ulimit -n" in message
    assert "TLS" not in message
    assert "verify" not in message
    assert "tried" not in message  # not retried: retrying does not give descriptors back


def wrapped(inner: BaseException) -> requests.ConnectionError:
    """*inner* wrapped the way requests and urllib3 wrap a failed connect."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise OSError("Failed to establish a new connection") from exc
    except OSError as outer:
        return requests.ConnectionError(outer)


@pytest.mark.parametrize(
    ("inner", "said"),
    [
        (OSError(errno.ENFILE, os.strerror(errno.ENFILE)), "the machine is out of file descriptors (ENFILE"),
        (MemoryError(), "the process is out of memory (MemoryError)"),
        (RuntimeError("can't start new thread"), "the process is out of threads"),
        (OSError(errno.ENOMEM, os.strerror(errno.ENOMEM)), "the process is out of memory (ENOMEM"),
    ],
)
def test_running_out_of_a_resource_is_named_through_the_exception_chain(inner: BaseException, said: str) -> None:
    found = _endpoint._resource_limit(wrapped(inner))
    assert found is not None
    assert found.startswith(said)


def test_an_ordinary_network_failure_is_not_taken_for_a_resource_limit() -> None:
    assert _endpoint._resource_limit(wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))) is None
    assert _endpoint._resource_limit(requests.exceptions.SSLError("certificate verify failed")) is None


def test_a_token_call_that_runs_out_of_memory_says_so(
    token_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from requests_multiauth import ClientCredentialsAuth, TokenRequestError

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(token_server.verify))
    auth = ClientCredentialsAuth("memory-client", "memory-secret-93ad", token_server.url + "/token")

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", no_memory)
    with pytest.raises(TokenRequestError, match="out of memory") as raised:
        auth.get_token()
    assert "TLS" not in str(raised.value)
