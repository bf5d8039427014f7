"""After: requests_multiauth in place of requests-oauthlib."""

# [start]
import os

import requests

from requests_multiauth import ClientCredentialsAuth

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]
api = os.environ["COGNITO_API_URL"]

session = requests.Session()
session.auth = ClientCredentialsAuth(client_id, client_secret, token_url, scope=["api/write"])
# the first request fetches the token; expiry and 401 are handled

def get(url):
    return session.get(url)

response = get(api + "items")
# [end]
response.raise_for_status()
