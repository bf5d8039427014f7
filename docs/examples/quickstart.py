"""Quick start: a first real call with a preset built from the environment."""

# [start]
import os

import requests

from requests_multiauth import DataloyAuth

# DATALOY_CLIENT_ID, DATALOY_CLIENT_SECRET and DATALOY_TOKEN_URL are set in the environment.
api = os.environ.get("DATALOY_API_URL", "https://your-dataloy-host/ws/rest/")

session = requests.Session()
session.auth = DataloyAuth.from_env()

response = session.get(api + "Cargo")
response.raise_for_status()
print(response.status_code, response.json())

# The token is reused: the second request makes no token call.
token = session.auth.get_token()
session.get(api + "Cargo").raise_for_status()
assert session.auth.get_token() is token
print(token)  # Token(token_type='Bearer', expires_at=..., expires_in='24h', ...): never the token
# [end]
