"""Sharing one token between hosts with RedisTokenCache."""

# [start]
import os

from requests_multiauth import CognitoAuth, RedisTokenCache

# e.g. rediss://:password@redis.internal:6380/0 (TLS, a password, a Redis only your services reach)
redis_url = os.environ.get("REDIS_URL", "rediss://:password@redis.internal:6380/0")

tokens = RedisTokenCache(redis_url, prefix="billing:")
first = CognitoAuth.from_env(cache=tokens)
second = CognitoAuth.from_env(cache=tokens)  # another process, another host: the same

assert second.get_token().access_token == first.get_token().access_token  # one token call
# [end]
