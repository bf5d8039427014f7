"""Dataloy: client credentials as JSON, with an audience."""

# [start]
import os

import requests

from requests_multiauth import DataloyAuth

# your credentials, however you keep them (here: the environment)
client_id = os.environ["DATALOY_CLIENT_ID"]
client_secret = os.environ["DATALOY_CLIENT_SECRET"]
token_url = os.environ["DATALOY_TOKEN_URL"]

api = os.environ.get("DATALOY_API_URL", "https://your-dataloy-host/ws/rest/")

session = requests.Session()
session.auth = DataloyAuth(client_id, client_secret, token_url, audience="https://dataloy")
# or DataloyAuth.from_env(): DATALOY_CLIENT_ID, DATALOY_CLIENT_SECRET, DATALOY_TOKEN_URL (DATALOY_AUDIENCE)

response = session.get(api + "Cargo")
response.raise_for_status()
# Had the API answered 401 "Token expired.", the token would have been renewed and the
# request replayed once, the 401 kept in response.history.
print(response.status_code, [r.status_code for r in response.history])  # 200 []
# [end]
