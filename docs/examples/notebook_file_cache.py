"""A file cache keeps the token across kernel restarts."""

import os

# [start]
from requests_multiauth import CognitoAuth, FileTokenCache

auth = CognitoAuth.from_env(cache=FileTokenCache())   # ~/.cache/requests_multiauth/tokens
# [end]

import requests

requests.get(os.environ["COGNITO_API_URL"] + "items", auth=auth, timeout=10).raise_for_status()
again = CognitoAuth.from_env(cache=FileTokenCache())  # after a restart: the token from the file
requests.get(os.environ["COGNITO_API_URL"] + "items", auth=again, timeout=10).raise_for_status()
assert again.telemetry.snapshot().token_calls() == 0
