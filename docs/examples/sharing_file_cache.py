"""Sharing one token between the processes of one machine with FileTokenCache."""

# [start]
import os
from concurrent.futures import ProcessPoolExecutor

from requests_multiauth import CognitoAuth, FileTokenCache

# ~/.cache/requests_multiauth/tokens by default; here a directory of the example's own.
TOKENS = os.environ.get("TOKEN_CACHE_DIR", os.path.expanduser("~/.cache/requests_multiauth/tokens"))


def token_expiry_in_a_new_process(_: int) -> float:
    auth = CognitoAuth.from_env(cache=FileTokenCache(TOKENS))
    return auth.get_token().expires_at or 0.0


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=4) as pool:
        expiries = set(pool.map(token_expiry_in_a_new_process, range(8)))
    print(f"8 processes, {len(expiries)} token")  # one token call, the others read it from the files
    assert len(expiries) == 1
# [end]
