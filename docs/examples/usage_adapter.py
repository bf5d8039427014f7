"""Use 3: AuthAdapter on a session that other code owns."""

# [start]
import os

import requests

from requests_multiauth import AuthAdapter, CognitoAuth

api = os.environ.get("COGNITO_API_URL", "https://api.example.com/")

shared = requests.Session()  # e.g. a client library's session, used for other hosts too
shared.mount(api, AuthAdapter(CognitoAuth.from_env(), origins=api))

response = shared.get(api + "items")  # authenticated: the adapter adds the token
response.raise_for_status()
# [end]
