"""Django: one session per process, built on first use, closed at exit."""

# [start]
# billing/dataloy.py: the library part, imported by views
import atexit
import functools
import os

from requests_multiauth import DataloyAuth, FileTokenCache, MultiAuthSession


@functools.cache
def dataloy() -> MultiAuthSession:
    """The process's Dataloy session: thread-safe, so every request thread shares it."""
    # In Django: the settings, e.g. settings.DATALOY_CLIENT_ID; here from_env() reads the variables.
    session = MultiAuthSession(
        DataloyAuth.from_env(cache=FileTokenCache(os.environ.get("TOKEN_CACHE_DIR"))),
        base_url=os.environ.get("DATALOY_API_URL", "https://api.dataloy.com/ws/rest/"),
    )
    atexit.register(session.close)
    return session


def cargo_list():
    response = dataloy().get("Cargo")
    response.raise_for_status()
    return response.json()
# [end]


if __name__ == "__main__":
    assert cargo_list()["path"] == "/ws/rest/Cargo"
    assert dataloy() is dataloy()
