"""Airflow: a hook that builds the auth from an Airflow connection, once per worker process."""

# [start]
# plugins/dataloy_session.py: the library part of the hook
import functools
import os
from types import SimpleNamespace

from requests_multiauth import DataloyAuth, FileTokenCache, MultiAuthSession


@functools.cache
def dataloy_session(login: str, password: str, token_url: str, base_url: str) -> MultiAuthSession:
    """One session per connection and process: tasks of the same worker reuse its token."""
    auth = DataloyAuth(login, password, token_url, cache=FileTokenCache(os.environ.get("TOKEN_CACHE_DIR")))
    return MultiAuthSession(auth, base_url=base_url)


def session_for(connection) -> MultiAuthSession:
    """*connection* is an Airflow Connection: login, password, and the URLs in its extras."""
    extra = connection.extra_dejson
    return dataloy_session(connection.login, connection.password, extra["token_url"], extra["base_url"])
# [end]


if __name__ == "__main__":
    connection = SimpleNamespace(  # what BaseHook.get_connection("dataloy_default") returns
        login=os.environ["DATALOY_CLIENT_ID"],
        password=os.environ["DATALOY_CLIENT_SECRET"],
        extra_dejson={"token_url": os.environ["DATALOY_TOKEN_URL"], "base_url": os.environ["DATALOY_API_URL"]},
    )
    assert session_for(connection) is session_for(connection)
    session_for(connection).get("Cargo").raise_for_status()
