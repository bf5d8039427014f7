"""How tokens are kept: one token for every thread, the options, get_token and invalidate."""

# [start]
import os
from concurrent.futures import ThreadPoolExecutor

import requests

from requests_multiauth import CognitoAuth, RetryPolicy

api = os.environ.get("COGNITO_API_URL", "https://api.example.com/")

auth = CognitoAuth.from_env(
    leeway=30,  # a token counts as expired 30 s before its stated expiry
    timeout=(3.05, 10),  # connect and read timeouts of each token call
    retry=RetryPolicy(attempts=4, backoff=0.5, budget=60),  # transient faults of the token endpoint
)


def fetch(path: str) -> int:
    return requests.get(api + path, auth=auth, timeout=10).status_code


with ThreadPoolExecutor(max_workers=16) as pool:  # 16 threads, one token call between them
    statuses = list(pool.map(fetch, ["items"] * 64))
assert statuses == [200] * 64

token = auth.get_token()  # the current Token: no call while it is valid
print(token)
auth.invalidate()  # forget it (here and in the cache): the next request gets a new one
assert auth.get_token().access_token != token.access_token
auth.close()  # closes the token session the auth made
# [end]
