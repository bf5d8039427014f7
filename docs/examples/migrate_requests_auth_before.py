"""Before: requests-auth's OAuth2ClientCredentials."""

# [start]
import os

import requests
from requests_auth import OAuth2ClientCredentials

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]
api = os.environ["COGNITO_API_URL"]

auth = OAuth2ClientCredentials(
    token_url,
    client_id=client_id,
    client_secret=client_secret,
    scope="api/write",
)

response = requests.get(api + "items", auth=auth, timeout=10)
# [end]
response.raise_for_status()
