"""FileTokenCache (requests_multiauth/cache_file.py): the processes of one machine share one token.

Against the real things: worker processes started with subprocess, a real
token endpoint (LocalServer, HTTPS on loopback) counting token calls, real
file locks, a real fork.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from requests_multiauth import ConfigurationError, FileTokenCache, InvalidClientError, Token
from requests_multiauth.caches.file import default_directory
from requests_multiauth.testing import LocalServer
from tests.fixtures_cache import (
    CLIENT_SECRET,
    WAIT,
    TokenEndpointStub,
    Workers,
    check_one_call_per_hold,
    fleet_while_refused,
    make_auth,
    waiters_while_one_fetches,
    warnings_in,
)

#: Workers live this far in the future, where the token cached before they start has expired.
LATER = 7200.0


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "tokens"


@pytest.fixture
def workers(tmp_path: Path, server: LocalServer, directory: Path) -> Iterator[Workers]:
    group = Workers(
        tmp_path,
        {
            "token_url": server.url + "/token",
            "ca": server.verify,
            "client_id": "client-a",
            "cache": {"kind": "file", "path": str(directory), "lock_timeout": WAIT},
            "threads": 8,
            "clock_offset": 0.0,
        },
    )
    yield group
    group.stop_all()


def entries(directory: Path) -> List[Path]:
    return sorted(directory.glob("*.json"))


class ListHandler(logging.Handler):
    """Keeps the warnings logged in a process without pytest's capture (a forked child)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# -- one token for many processes ----------------------------------------------------------


def test_eight_processes_of_eight_threads_make_one_token_call_after_expiry(
    server: LocalServer, stub: TokenEndpointStub, directory: Path, workers: Workers
) -> None:
    make_auth(server, FileTokenCache(directory)).get_token()  # tok-1, cached; expired for the workers
    procs = workers.start(8, start_file=True, clock_offset=LATER)
    workers.wait_ready(procs)
    workers.go()
    results = workers.collect(procs)

    assert stub.calls == ["client-a", "client-a"]  # the seed, then ONE call for 64 threads
    assert [r.errors for r in results] == [[]] * 8
    assert {token for r in results for token in r.tokens} == {"tok-2"}
    assert sum(len(r.tokens) for r in results) == 64


def test_without_a_shared_cache_eight_processes_make_eight_token_calls(
    stub: TokenEndpointStub, workers: Workers
) -> None:
    procs = workers.start(8, start_file=True, cache={"kind": "memory"})
    workers.wait_ready(procs)
    workers.go()
    results = workers.collect(procs)

    assert len(stub.calls) == 8  # one per process: the threads of each still share one
    assert [len(set(r.tokens)) for r in results] == [1] * 8
    assert len({r.tokens[0] for r in results}) == 8


def test_killing_the_lock_holder_mid_fetch_lets_the_others_fetch_at_once(
    stub: TokenEndpointStub, workers: Workers
) -> None:
    stub.hold_first = True
    holder = workers.start(1, threads=1)[0]
    assert stub.entered.wait(WAIT), "the first worker never called the token endpoint"
    waiting = workers.start(3, threads=2)
    workers.wait_ready(waiting)
    time.sleep(0.5)  # let them queue on the lock (the outcome does not depend on it)
    workers.kill(holder)  # SIGKILL, inside the token call, holding the file lock
    stub.release.set()
    results = workers.collect(waiting)

    # The kernel released the dead holder's lock: one waiter fetched, the others
    # reused its token. Had they waited out lock_timeout (30 s), each would
    # have warned and fetched its own.
    assert stub.calls == ["client-a"] * 2
    assert {token for r in results for token in r.tokens} == {"tok-2"}
    assert all("could not take the lock" not in r.stderr for r in results)


def test_a_lock_held_past_lock_timeout_is_given_up_with_a_warning(
    server: LocalServer, stub: TokenEndpointStub, directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileTokenCache(directory, lock_timeout=0.3)
    auth = make_auth(server, cache)
    auth.get_token()
    [lock_file] = directory.glob("*.lock")
    auth.invalidate()
    holder = subprocess.Popen(  # a live process that keeps the lock: a holder stuck in a token call
        [
            sys.executable,
            "-c",
            "import filelock, sys; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); "
            "print('locked', flush=True); sys.stdin.read()",
            str(lock_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
            token = auth.get_token()
    finally:
        holder.communicate(input="", timeout=WAIT)

    assert token.access_token == "tok-2"  # fetched alone rather than hanging
    assert len(stub.calls) == 2
    assert any("could not take the lock" in message for message in warnings_in(caplog))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # the case under test
def test_a_process_forked_while_its_parent_holds_the_lock_waits_for_the_parent(
    server: LocalServer, stub: TokenEndpointStub, directory: Path
) -> None:
    cache = FileTokenCache(directory, lock_timeout=WAIT)
    make_auth(server, cache).get_token()
    key = entries(directory)[0].stem
    holding, done = threading.Event(), threading.Event()

    def parent_renews() -> None:
        with cache.lock(key):
            holding.set()
            done.wait(WAIT)
            cache.set(key, Token("tok-parent", expires_at=time.time() + 3 * LATER))

    renewer = threading.Thread(target=parent_renews)
    renewer.start()
    assert holding.wait(WAIT)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the cached tok-1 has expired for it
        outcome = "no outcome"
        warned = ListHandler()
        logging.getLogger("requests_multiauth").addHandler(warned)
        try:
            outcome = make_auth(server, cache, clock=lambda: time.time() + LATER).get_token().access_token
            outcome += "".join(f"; warned: {message}" for message in warned.messages)
        except BaseException as exc:
            outcome = repr(exc)
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    outcome = "the child did not answer"
    try:
        done.set()
        renewer.join(WAIT)
        if select.select([read_end], [], [], WAIT)[0]:
            outcome = os.read(read_end, 1000).decode()
    finally:
        os.close(read_end)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

    # The child did not inherit the parent's thread lock as held (it would have
    # waited out lock_timeout, and warned): it waited for the parent's file lock
    # and took the token the parent wrote.
    assert outcome == "tok-parent"
    assert len(stub.calls) == 1


# -- damaged and unreadable entries -------------------------------------------------------------

DAMAGE: Dict[str, bytes] = {
    "truncated": b'{"format":1,"token":{"access_token":"tok-1","expi',
    "empty": b"",
    "binary": bytes(range(256)),
    "not an entry": b'["tok-1"]',
    "future format": b'{"format":99,"token":{"access_token":"tok-1"}}',
    "bad fields": b'{"format":1,"token":{"access_token":"","expires_at":"soon"}}',
    "oversized": b'{"format":1,"token":{"access_token":"' + b"x" * (4 * 1024 * 1024) + b'"}}',
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_entry_counts_as_empty_with_a_warning_and_is_replaced(
    damage: bytes,
    server: LocalServer,
    stub: TokenEndpointStub,
    directory: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = FileTokenCache(directory)
    make_auth(server, cache).get_token()
    [entry] = entries(directory)
    entry.write_bytes(damage)

    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        response = server.session().get(server.url + "/api", auth=make_auth(server, cache))

    assert response.status_code == 200
    assert len(stub.calls) == 2
    [warning] = warnings_in(caplog)
    assert entry.name in warning
    assert "damaged" in warning
    assert "tok-" not in caplog.text
    assert CLIENT_SECRET not in caplog.text
    replaced = cache.get(entry.stem)
    assert replaced is not None
    assert replaced.access_token == "tok-2"


def test_an_unreadable_and_unwritable_entry_does_not_stop_requests(
    server: LocalServer, stub: TokenEndpointStub, directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileTokenCache(directory)
    make_auth(server, cache).get_token()
    [entry] = entries(directory)
    entry.unlink()
    entry.mkdir()  # reading it fails, and so does replacing it

    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        auth = make_auth(server, cache)
        first = server.session().get(server.url + "/api", auth=auth)
        second = server.session().get(server.url + "/api", auth=auth)

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(stub.calls) == 2  # the second request reuses the token kept in memory
    messages = warnings_in(caplog)
    assert any("cannot read" in m for m in messages)
    assert any("cannot write" in m for m in messages)


def test_a_writer_replaces_the_entry_whole_so_readers_never_see_half_of_it(
    directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileTokenCache(directory)
    key = "rma1-" + "0" * 40
    tokens = [Token(f"tok-{n}-" + "x" * 4000, expires_at=2e9) for n in range(2)]
    cache.set(key, tokens[0])
    seen: List[Any] = []

    def write() -> None:
        for n in range(300):
            cache.set(key, tokens[n % 2])

    writer = threading.Thread(target=write)
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        writer.start()
        while writer.is_alive() and len(seen) < 5000:
            seen.append(cache.get(key))
        writer.join(WAIT)

    assert seen
    assert all(token in tokens for token in seen)
    assert warnings_in(caplog) == []
    assert [p.name for p in directory.iterdir()] == [f"{key}.json"]  # no temporary file left


# -- permissions and the directory ------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.usefixtures("permissive_umask")
def test_files_and_directories_are_owner_only_even_under_a_permissive_umask(
    server: LocalServer, tmp_path: Path
) -> None:
    directory = tmp_path / "new" / "tokens"
    auth = make_auth(server, FileTokenCache(directory))
    auth.get_token()

    modes = {p.name.rsplit(".", 1)[-1]: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}
    assert modes == {"json": 0o600, "lock": 0o600}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700  # created by us, so private too


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_an_existing_directory_open_to_others_is_made_private(directory: Path) -> None:
    directory.mkdir()
    directory.chmod(0o755)
    FileTokenCache(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_directory_of_another_user_is_refused(directory: Path) -> None:
    directory.mkdir()
    os.chown(directory, 65534, 65534)
    with pytest.raises(ConfigurationError, match="belongs to another user"):
        FileTokenCache(directory)


def test_a_path_that_is_a_file_is_refused(directory: Path) -> None:
    directory.write_text("")
    with pytest.raises(ConfigurationError, match="not a directory"):
        FileTokenCache(directory)


def test_a_directory_removed_meanwhile_is_recreated_on_the_next_token(
    server: LocalServer, stub: TokenEndpointStub, directory: Path
) -> None:
    cache = FileTokenCache(directory)
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    make_auth(server, cache).get_token()
    assert make_auth(server, cache).get_token().access_token == "tok-1"
    assert len(stub.calls) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CACHE_HOME is the Linux convention")
def test_the_default_directory_is_in_the_users_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "requests_multiauth" / "tokens"
    assert default_directory() == expected
    assert FileTokenCache().path == expected
    assert expected.is_dir()


def test_auths_with_different_clients_share_a_cache_but_never_a_token(
    server: LocalServer, stub: TokenEndpointStub, directory: Path
) -> None:
    cache = FileTokenCache(directory)
    a1, b, a2 = (make_auth(server, cache, client_id=c) for c in ("client-a", "client-b", "client-a"))
    assert [auth.get_token().access_token for auth in (a1, b, a2)] == ["tok-1", "tok-2", "tok-1"]
    assert stub.calls == ["client-a", "client-b"]
    names = " ".join(p.name for p in directory.iterdir())
    assert "client-" not in names
    assert CLIENT_SECRET not in names


# -- packaging -------------------------------------------------------------------------------------------


def test_without_the_filelock_package_the_cache_locks_and_shares_all_the_same(
    monkeypatch: pytest.MonkeyPatch, directory: Path, server: LocalServer, stub: TokenEndpointStub
) -> None:
    monkeypatch.setitem(sys.modules, "filelock", None)  # what a missing package looks like to import
    first, second = (make_auth(server, FileTokenCache(directory)) for _ in range(2))
    assert first.get_token().access_token == second.get_token().access_token == "tok-1"
    assert len(stub.calls) == 1


def test_importing_the_package_needs_neither_filelock_nor_redis() -> None:
    code = (
        "import sys; sys.modules['filelock'] = None; sys.modules['redis'] = None\n"
        "import requests_multiauth\n"
        "assert 'FileTokenCache' in requests_multiauth.__all__ and 'RedisTokenCache' in requests_multiauth.__all__\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("lock_timeout", [-1.0, float("inf"), float("nan")])
def test_a_lock_timeout_that_cannot_work_is_refused(lock_timeout: float, directory: Path) -> None:
    with pytest.raises(ConfigurationError, match="lock_timeout"):
        FileTokenCache(directory, lock_timeout=lock_timeout)


# -- fleets: waiters that do not queue, failures held for all ------------------------------


def test_waiters_take_the_token_from_the_entry_without_taking_the_lock_in_turn(
    stub: TokenEndpointStub, server: LocalServer, directory: Path, workers: Workers
) -> None:
    cache = FileTokenCache(directory)
    make_auth(server, cache).get_token()  # tok-1; expired for the workers
    [entry] = entries(directory)
    holder, waiters = waiters_while_one_fetches(workers, stub, cache, entry.stem, waiting=6, later=LATER)

    assert stub.calls == ["client-a"] * 2  # the seed, then ONE call for the fleet
    assert holder.held == 1
    assert [w.held for w in waiters] == [0] * 6  # none of them took the lock: they read the entry
    assert {token for w in waiters for token in w.tokens} == {"tok-2"}
    assert all(w.errors == [] for w in waiters)


def test_a_refused_fleet_makes_one_token_call_per_hold_interval_and_recovers(
    stub: TokenEndpointStub, directory: Path, workers: Workers
) -> None:
    stub.delay = 0.0
    results = fleet_while_refused(workers, stub, processes=6)
    check_one_call_per_hold(stub, results)
    assert not list(directory.glob("*.failure"))  # the success removed the failure record


def test_the_failure_record_holds_no_secret_and_is_private(
    stub: TokenEndpointStub, server: LocalServer, directory: Path
) -> None:
    stub.refuse_until = time.time() + 60
    with pytest.raises(InvalidClientError) as raised:
        make_auth(server, FileTokenCache(directory)).get_token()
    [record] = directory.glob("*.failure")
    text = record.read_text()
    assert CLIENT_SECRET not in text
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    with pytest.raises(InvalidClientError) as held:  # another process's auth: no call
        make_auth(server, FileTokenCache(directory), client_id="client-a").get_token()
    assert len(stub.calls) == 1
    assert str(held.value) == str(raised.value)
    assert (held.value.status_code, held.value.error) == (401, "invalid_client")


def test_a_damaged_entry_is_reported_once_by_a_fleet_not_once_per_waiter(
    server: LocalServer, stub: TokenEndpointStub, directory: Path, workers: Workers
) -> None:
    make_auth(server, FileTokenCache(directory)).get_token()
    [entry] = entries(directory)
    entry.write_bytes(DAMAGE["truncated"])
    procs = workers.start(6, threads=4, start_file=True)
    workers.wait_ready(procs)
    workers.go()
    results = workers.collect(procs)

    assert len(stub.calls) == 2  # the seed, then one call for the fleet
    assert {token for r in results for token in r.tokens} == {"tok-2"}
    # Whoever reads the entry under the lock reports it; waiters look at it without a word.
    assert sum(r.stderr.count("is damaged") for r in results) == 1


# -- tokens of any size an endpoint may answer ------------------------------------------------


def test_a_token_over_64_kb_is_stored_and_read_back(directory: Path) -> None:
    cache = FileTokenCache(directory)
    big = Token("a" * 200_000, expires_at=time.time() + 3600, refresh_token="r" * 70_000)
    cache.set("big", big)
    assert cache.get("big") == big


def test_processes_share_a_token_over_64_kb_with_one_token_call(directory: Path, serve: Any) -> None:
    from requests_multiauth import ClientCredentialsAuth, RetryPolicy
    from requests_multiauth.testing import Reply

    calls: List[int] = []

    def endpoint(request: Any) -> Reply:
        calls.append(1)
        return Reply(200, {"access_token": "x" * 100_000, "token_type": "Bearer", "expires_in": 3600})

    server = serve(endpoint)
    first, second = (
        ClientCredentialsAuth(
            "client-a", "secret-a", server.url + "/token", cache=FileTokenCache(directory),
            session=server.session(), retry=RetryPolicy(attempts=1),
        )
        for _ in range(2)
    )  # fmt: skip
    assert first.get_token().access_token == second.get_token().access_token
    assert len(calls) == 1


def test_a_token_too_large_for_an_entry_is_kept_in_memory_with_a_warning(
    directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from requests_multiauth.caches.format import MAX_ENTRY_SIZE

    cache = FileTokenCache(directory)
    with caplog.at_level(logging.WARNING, logger="requests_multiauth"):
        cache.set("huge", Token("h" * (MAX_ENTRY_SIZE + 1), expires_at=time.time() + 3600))
    assert cache.get("huge") is None
    (message,) = [r.getMessage() for r in caplog.records if "not storing" in r.getMessage()]
    assert "kept in this process only" in message
    assert "hhhh" not in message
