"""Celery: the tasks module builds the auth; every worker on every host shares one token."""

# [start]
import os

# tasks.py: what the tasks call, built once per worker process
from requests_multiauth import DataloyAuth, MultiAuthSession, RedisTokenCache

tokens = RedisTokenCache(os.environ.get("REDIS_URL", "redis://redis.internal:6379/1"), prefix="billing:")
api = MultiAuthSession(
    DataloyAuth.from_env(cache=tokens),
    base_url=os.environ.get("DATALOY_API_URL", "https://api.dataloy.com/ws/rest/"),
)


def cargo(cargo_id):  # decorated with @app.task in the Celery app
    response = api.get(f"Cargo/{cargo_id}")
    response.raise_for_status()
    return response.json()
# [end]


if __name__ == "__main__":
    assert cargo(42)["path"].endswith("/Cargo/42")
    assert cargo(43)["path"].endswith("/Cargo/43")
