"""OpsNow: an API key exchanged for a token."""

# [start]
import os

import requests

from requests_multiauth import OpsNowAuth

api = os.environ.get("OPSNOW_API_URL", "https://api.opsnow.io/")

session = requests.Session()
session.auth = OpsNowAuth.from_env()  # OPSNOW_API_KEY, and OPSNOW_TOKEN_URL if not api.opsnow.io
# or: OpsNowAuth(api_key, token_url="https://api.opsnow360.io/platform/v2/identity/api-keys/token")

response = session.get(api + "costs")
response.raise_for_status()
print(session.auth.get_token())  # lives as long as the answer says, else the documented 3600 s
# [end]
