"""Dataloy: client credentials as JSON, with an audience."""

import os

client_id = os.environ["DATALOY_CLIENT_ID"]
client_secret = os.environ["DATALOY_CLIENT_SECRET"]
token_url = os.environ["DATALOY_TOKEN_URL"]

# [start]
import requests

from requests_multiauth import DataloyAuth

api = os.environ.get("DATALOY_API_URL", "https://your-dataloy-host/ws/rest/")

session = requests.Session()
session.auth = DataloyAuth(client_id, client_secret, token_url, audience="https://dataloy")
# or DataloyAuth.from_env(): DATALOY_CLIENT_ID, DATALOY_CLIENT_SECRET, DATALOY_TOKEN_URL (DATALOY_AUDIENCE)

response = session.get(api + "Cargo")
response.raise_for_status()

# The API says 401 "Token expired." for a token it no longer takes: renewed, replayed once.
session.auth.get_token()
response = session.get(api + "Cargo")
print(response.status_code, [r.status_code for r in response.history])  # 200 [] (or 200 [401] after a replay)
# [end]
