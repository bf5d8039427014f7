"""Notebook cells: a cache made once, in an earlier cell, reused by cells re-run often."""

import os

# [start cell 1]
# cell 1: run once
from requests_multiauth import CognitoAuth, MemoryTokenCache, MultiAuthSession

cache = MemoryTokenCache()
# [end cell 1]

api = os.environ.get("COGNITO_API_URL", "https://api.example.com/")
for _ in range(3):  # cell 2, re-run three times
    # [start cell 2]
    # cell 2: re-run as often as you like; the token from the first run is reused
    auth = CognitoAuth.from_env(cache=cache)
    session = MultiAuthSession(auth, base_url=api)  # e.g. "https://api.example.com/"
    session.get("items").json()
    # [end cell 2]
    session.close()
    assert auth.telemetry.snapshot().token_calls() <= 1
print(cache)
