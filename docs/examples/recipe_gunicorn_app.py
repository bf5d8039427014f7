"""gunicorn with preload_app: the auth is built once, at import, in the master."""

# [start]
# myapp.py
import json
import os
from wsgiref.util import setup_testing_defaults

from requests_multiauth import DataloyAuth, FileTokenCache, MultiAuthError, MultiAuthSession

TOKENS = os.environ.get("TOKEN_CACHE_DIR")  # None: ~/.cache/requests_multiauth/tokens

auth = DataloyAuth.from_env(cache=FileTokenCache(TOKENS))  # every worker shares one token
api = MultiAuthSession(auth, base_url=os.environ.get("DATALOY_API_URL", "https://api.dataloy.com/ws/rest/"))


def application(environ, start_response):
    cargo = api.get("Cargo").json()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(cargo).encode()]


def warm_up(log):
    """Called by gunicorn's post_fork hook: get the worker's token before it takes requests."""
    try:
        auth.get_token()  # the first worker makes the token call, the others read the shared token
    except MultiAuthError as exc:
        log.warning("no token yet (%s); requests will ask again", exc)
# [end]


if __name__ == "__main__":
    import logging

    warm_up(logging.getLogger("gunicorn.error"))
    environ: dict = {}
    setup_testing_defaults(environ)
    statuses = []
    body = b"".join(application(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"], statuses
    print(json.loads(body))
