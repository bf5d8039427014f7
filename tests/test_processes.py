"""Auths, caches, sessions and adapters sent to other processes (engine/travel.py, auth.py,
caches/): pickle and copy.deepcopy carry credentials and settings, never locks, pools,
telemetry or the token; the receiving process makes its own token call, or reads the
token from a shared cache. What cannot travel fails with an error naming the auth.

The pools run real processes (spawn, forkserver, the default start method of
ProcessPoolExecutor) against the local emulators on loopback HTTPS."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest
import requests

from requests_multiauth import (
    AuthAdapter,
    ClientCredentialsAuth,
    DPoPKey,
    FileTokenCache,
    MemoryTokenCache,
    MultiAuthSession,
    TokenAuth,
)
from requests_multiauth.testing import LocalProviders, OAuth2Emulator
from tests import process_workers


def _presets() -> Tuple[str, ...]:
    """Every registered preset with an emulator: the stage-one five, the vendors' and a plug-in's."""
    from requests_multiauth import list_providers

    return tuple(
        p.name
        for p in list_providers()
        if p.emulator is not None and getattr(p.auth_class, "provider_name", None) == p.name
    )


PRESETS = _presets()

#: How long a pool's work may take at most (children import the package: seconds each).
POOL_TIMEOUT = 90.0

START_METHODS = [method for method in ("spawn", "forkserver") if method in multiprocessing.get_all_start_methods()]


@pytest.fixture(scope="module")
def providers() -> Iterator[LocalProviders]:
    with LocalProviders(names=PRESETS) as started:
        yield started


@pytest.fixture
def emulators(providers: LocalProviders) -> LocalProviders:
    for emulator in providers:
        emulator.reset()
    return providers


def _auth(providers: LocalProviders, name: str, **options: Any) -> Any:
    """The preset for emulator *name*, with what travels: the CA bundle as a path, the real clock."""
    provider = providers[name]
    if name == "rated":
        return provider.auth()
    return provider.auth(session=None, verify=provider.verify, clock=time.time, **options)


def _api(providers: LocalProviders, name: str) -> str:
    return providers[name].api_url + "probe"


# -- pickle and deepcopy in one process ---------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_every_preset_travels_with_its_settings_and_without_its_token(
    emulators: LocalProviders, name: str, how: str
) -> None:
    auth = _auth(emulators, name)
    verify = emulators[name].verify
    assert requests.get(_api(emulators, name), auth=auth, verify=verify, timeout=10).status_code == 200
    calls_before = emulators[name].token_calls

    received = pickle.loads(pickle.dumps(auth)) if how == "pickle" else copy.deepcopy(auth)  # noqa: S301

    assert type(received) is type(auth)
    assert repr(received).split(", token=")[0] == repr(auth).split(", token=")[0]
    if isinstance(auth, TokenAuth):
        assert received._manager.current is None  # the token stayed behind
        assert received._manager is not auth._manager
        assert received.telemetry is not auth.telemetry
    assert requests.get(_api(emulators, name), auth=received, verify=verify, timeout=10).status_code == 200
    expected = 0 if name == "rated" else 1
    assert emulators[name].token_calls - calls_before == expected  # its own token call: memory caches do not travel


def test_caches_travel_as_what_they_share(tmp_path: Path) -> None:
    file_cache = FileTokenCache(tmp_path / "tokens", lock_timeout=3.0)
    received = pickle.loads(pickle.dumps(file_cache))  # noqa: S301
    assert (received.path, received.lock_timeout) == (file_cache.path, 3.0)
    memory = MemoryTokenCache()
    assert isinstance(copy.deepcopy(memory), MemoryTokenCache)
    assert isinstance(pickle.loads(pickle.dumps(memory)), MemoryTokenCache)  # noqa: S301


@pytest.mark.redis
def test_a_redis_cache_travels_as_its_url_or_its_clients_settings(tmp_path: Path) -> None:
    from requests_multiauth import RedisTokenCache
    from tests.fixtures_redis import RedisServer, free_port, redis_binary

    server = RedisServer(redis_binary(), tmp_path / "redis", free_port())
    server.start()
    try:
        by_url = pickle.loads(pickle.dumps(RedisTokenCache(server.url, prefix="p1:")))  # noqa: S301
        assert by_url.prefix == "p1:"
        assert by_url.client.ping()
        by_client = copy.deepcopy(RedisTokenCache(server.client()))
        assert by_client.client.ping()
        assert by_client.client.connection_pool.connection_kwargs["port"] == server.port
        for cache in (by_url, by_client):
            cache.client.close()
    finally:
        server.stop()


def test_a_shared_file_cache_gives_the_received_auth_the_token_without_a_call(
    emulators: LocalProviders, tmp_path: Path
) -> None:
    cache = FileTokenCache(tmp_path / "tokens")
    auth = _auth(emulators, "cognito", cache=cache)
    auth.get_token()
    received = pickle.loads(pickle.dumps(auth))  # noqa: S301
    assert received.get_token().access_token == auth.get_token().access_token
    assert emulators["cognito"].token_calls == 1


def test_sessions_and_adapters_holding_an_auth_travel(emulators: LocalProviders) -> None:
    dataloy = emulators["dataloy"]
    auth = _auth(emulators, "dataloy")
    plain = requests.Session()
    plain.auth, plain.verify = auth, dataloy.verify
    multi = MultiAuthSession(auth)
    multi.verify = dataloy.verify
    mounted = MultiAuthSession()
    mounted.verify = dataloy.verify
    mounted.mount_auth(dataloy.url + "/", auth)
    shared = requests.Session()
    shared.verify = dataloy.verify
    shared.mount(dataloy.url + "/", AuthAdapter(auth))
    for session in (plain, multi, mounted, shared):
        for received in (pickle.loads(pickle.dumps(session)), copy.deepcopy(session)):  # noqa: S301
            assert received.get(_api(emulators, "dataloy"), timeout=10).status_code == 200


def test_dpop_true_travels_and_makes_a_new_key_there(oauth2_server: OAuth2Emulator) -> None:
    client = oauth2_server.register_client("client_secret_basic", dpop_bound=True)
    auth = oauth2_server.auth(client, dpop=True, session=None, verify=oauth2_server.verify, clock=time.time)
    received = pickle.loads(pickle.dumps(auth))  # noqa: S301
    assert received.dpop_key is not None
    assert received.dpop_key.thumbprint != auth.dpop_key.thumbprint
    response = requests.get(oauth2_server.api_url + "probe", auth=received, verify=oauth2_server.verify, timeout=10)
    assert response.status_code == 200
    assert oauth2_server.count_token_calls(dpop=True) == 1


def test_a_dpop_key_from_a_file_travels_as_its_path(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "dpop.pem"
    path.write_bytes(pem)
    key = DPoPKey(str(path))
    data = pickle.dumps(key)
    assert pem not in data
    assert pickle.loads(data).thumbprint == key.thumbprint  # noqa: S301
    auth = ClientCredentialsAuth("client-a", "secret-a", "https://as.example/token", dpop=key)
    assert pickle.loads(pickle.dumps(auth)).dpop_key.thumbprint == key.thumbprint  # noqa: S301


def test_what_cannot_travel_is_named_with_what_to_do() -> None:
    in_memory = ClientCredentialsAuth("client-a", "secret-a", "https://as.example/token", dpop=DPoPKey.generate())
    with pytest.raises(pickle.PicklingError, match=r"ClientCredentialsAuth\(client-a\) cannot be sent.*its dpop") as e:
        pickle.dumps(in_memory)
    assert "load it from a file" in str(e.value)
    assert "dpop=True" in str(e.value)
    lambda_clock = ClientCredentialsAuth("client-a", "secret-a", "https://as.example/token", clock=lambda: 0.0)
    with pytest.raises(pickle.PicklingError, match=r"its clock cannot be pickled.*module-level function"):
        pickle.dumps(lambda_clock)
    assert "secret-a" not in str(e.value)


# -- real processes ---------------------------------------------------------------------


def _all_auths(providers: LocalProviders) -> Dict[str, Any]:
    return {name: _auth(providers, name) for name in PRESETS}


def _check_per_process(providers: LocalProviders, results: List[Tuple[str, int, int]]) -> None:
    """Every call succeeded, and each preset made one token call per process that used it."""
    pids: Dict[str, Set[int]] = defaultdict(set)
    for name, status, pid in results:
        assert status == 200, name
        pids[name].add(pid)
    for name in PRESETS:
        expected = 0 if name == "rated" else len(pids[name])
        assert providers[name].token_calls == expected, name


@pytest.mark.slow
@pytest.mark.parametrize("method", START_METHODS)
def test_a_pool_receives_every_preset_through_its_initializer(emulators: LocalProviders, method: str) -> None:
    context = multiprocessing.get_context(method)
    tasks = [(name, _api(emulators, name), emulators[name].verify) for name in PRESETS for _ in range(3)]
    with context.Pool(2, initializer=process_workers.install, initargs=(_all_auths(emulators),)) as pool:
        results = pool.starmap_async(process_workers.call_installed, tasks).get(POOL_TIMEOUT)
    _check_per_process(emulators, results)


@pytest.mark.slow
@pytest.mark.parametrize("method", [None, *START_METHODS])
def test_a_process_pool_executor_receives_auths_and_sessions_as_arguments_and_shares_a_file_cache(
    emulators: LocalProviders, tmp_path: Path, method: Any
) -> None:
    context = multiprocessing.get_context(method) if method else None
    cache = FileTokenCache(tmp_path / "tokens")
    auths = {name: _auth(emulators, name, cache=cache) for name in PRESETS if name != "rated"}
    dataloy = emulators["dataloy"]
    session = MultiAuthSession(auths["dataloy"])
    session.verify = dataloy.verify
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        calls = [
            pool.submit(process_workers.call_with, auth, _api(emulators, name), emulators[name].verify)
            for name, auth in auths.items()
            for _ in range(3)
        ]
        through = [pool.submit(process_workers.call_through, session, _api(emulators, "dataloy")) for _ in range(2)]
        held = pool.submit(process_workers.token_of, auths["cognito"])
        statuses = [future.result(POOL_TIMEOUT)[0] for future in [*calls, *through]]
        assert held.result(POOL_TIMEOUT)[0] is None
    assert statuses == [200] * len(statuses)
    for name in auths:
        assert emulators[name].token_calls == 1, name  # one for all processes: the file cache travelled


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_an_auth_passed_as_an_argument_under_fork_works(emulators: LocalProviders) -> None:
    context = multiprocessing.get_context("fork")
    auth = _auth(emulators, "opsnow")
    with context.Pool(1) as pool:
        status, _ = pool.apply_async(
            process_workers.call_with, (auth, _api(emulators, "opsnow"), emulators["opsnow"].verify)
        ).get(POOL_TIMEOUT)
    assert status == 200


def _registered_with_emulators() -> List[Any]:
    from requests_multiauth import list_providers

    return [provider for provider in list_providers() if provider.emulator is not None]


@pytest.mark.parametrize("provider", _registered_with_emulators(), ids=lambda provider: provider.name)
def test_every_registered_preset_travels_or_says_which_part_cannot(provider: Any) -> None:
    """Presets other modules add get the same from TokenAuth, with no code of their own: the
    received auth makes its own token call, or pickling names the auth and the part."""
    with provider.emulator() as emulator:
        try:
            auth = emulator.auth(session=None, verify=emulator.verify, clock=time.time)
        except TypeError:  # an emulator whose auth() takes no such options
            auth = emulator.auth()
        try:
            received = pickle.loads(pickle.dumps(auth))  # noqa: S301
        except pickle.PicklingError as exc:
            refusal = str(exc)
            if type(auth).__name__ not in refusal or "cannot be pickled" not in refusal:
                raise
            pytest.xfail(f"{provider.name}: {refusal}")
        response = requests.get(emulator.api_url + "probe", auth=received, verify=emulator.verify, timeout=10)
        assert response.status_code == 200
        assert emulator.token_calls == (0 if provider.name == "rated" else 1)
