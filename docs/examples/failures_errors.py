"""What a refusal looks like: a typed error that says what happened, never the secret."""

# [start]
import os

import requests

from requests_multiauth import CognitoAuth, InvalidClientError, MultiAuthError

api = os.environ.get("COGNITO_API_URL", "https://api.example.com/")

wrong = CognitoAuth.from_env(environ={**os.environ, "COGNITO_CLIENT_SECRET": "not-the-secret"})
try:
    requests.get(api + "items", auth=wrong, timeout=10)
except InvalidClientError as exc:  # Cognito answers 400 invalid_client: never retried
    print(exc)  # names the endpoint and the server's error, never the secret
    print(exc.status_code, exc.error, exc.attempts)  # 400 invalid_client 1
    assert exc.attempts == 1
except MultiAuthError as exc:  # every failed request of the library; itself a requests.RequestException
    raise SystemExit(f"unexpected: {exc}") from exc
# [end]
else:
    raise SystemExit("the wrong secret was accepted")
