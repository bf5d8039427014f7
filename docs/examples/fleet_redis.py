"""Every process of every host gives its auth the same Redis cache."""

import os

import requests

client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]

# [start]
from requests_multiauth import CognitoAuth, RedisTokenCache

cache = RedisTokenCache(os.environ.get("REDIS_URL", "redis://tokens.internal:6379/0"))
auth = CognitoAuth(client_id, client_secret, token_url, cache=cache)
# [end]

requests.get(os.environ["COGNITO_API_URL"] + "items", auth=auth, timeout=10).raise_for_status()
another_process = CognitoAuth(client_id, client_secret, token_url, cache=RedisTokenCache(os.environ["REDIS_URL"]))
requests.get(os.environ["COGNITO_API_URL"] + "items", auth=another_process, timeout=10).raise_for_status()
assert another_process.telemetry.snapshot().token_calls() == 0  # the token from Redis
