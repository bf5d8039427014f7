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
from requests_multiauth.transport import faults as _faults

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
    found = _faults.resource_limit(wrapped(inner))
    assert found is not None
    assert found.startswith(said)


def test_an_ordinary_network_failure_is_not_taken_for_a_resource_limit() -> None:
    assert _faults.resource_limit(wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))) is None
    assert _faults.resource_limit(requests.exceptions.SSLError("certificate verify failed")) is None


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


#: What a child process measures: the growth of its peak resident memory over one
#: token call that meets a 1 GiB gzip bomb, after a warm-up call that loaded
#: everything a token call uses (the same auth, a normal answer, invalidated).
BOMB_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from requests_multiauth import ClientCredentialsAuth, RetryPolicy, MultiAuthError

    def peak_kib():
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    def current_kib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return peak_kib()

    normal, bomb = sys.argv[1], sys.argv[2]
    retry = RetryPolicy(attempts=2, backoff=0)
    ClientCredentialsAuth("bomb-client", "bomb-secret-0c4e", normal, retry=retry).get_token()  # the warm-up
    auth = ClientCredentialsAuth("bomb-client", "bomb-secret-0c4e", bomb, retry=retry)
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # the peak starts again from the current size
    except OSError:
        pass
    before = max(current_kib(), 0)
    peak_before = peak_kib()
    try:
        auth.get_token()
        error = None
    except MultiAuthError as exc:
        error = type(exc).__name__
    print(json.dumps({"before_kib": before, "peak_before_kib": peak_before, "peak_kib": peak_kib(), "error": error}))
    """
)

#: The bound of the acceptance test: a 1 GiB bomb grows the peak resident memory by less than this.
BOMB_RSS_GROWTH_LIMIT_KIB = 50 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_one_gib_gzip_bomb_grows_peak_memory_by_less_than_50_mb_and_is_a_typed_error(
    serve: Callable[..., LocalServer], tmp_path: Path
) -> None:
    import json

    from requests_multiauth.testing import GzipBomb

    normal = serve(lambda request: Reply(200, {"access_token": "normal-token", "expires_in": 3600}))
    bomb = serve(lambda request: GzipBomb(size=1024 * 1024 * 1024))
    both = tmp_path / "both.pem"  # the two servers' CAs
    both.write_text(Path(str(normal.verify)).read_text() + Path(str(bomb.verify)).read_text())
    env = dict(os.environ, REQUESTS_CA_BUNDLE=str(both), PYTHONPATH=str(ROOT))
    env.pop("CURL_CA_BUNDLE", None)
    result = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, normal.url + "/token", bomb.url + "/token"],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=env,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])

    assert measured["error"] == "AnswerTooLargeError"
    growth = measured["peak_kib"] - max(measured["before_kib"], 0)
    print(f"peak resident memory grew by {growth} KiB over the bomb's token call")  # shown with pytest -s
    assert growth < BOMB_RSS_GROWTH_LIMIT_KIB, measured
    assert len(bomb.received("/token")) == 1
