"""Before: requests-oauth2client's OAuth2ClientCredentialsAuth."""

# [start]
import os

import requests
from requests_oauth2client import ClientSecretBasic, OAuth2Client, OAuth2ClientCredentialsAuth

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]
api = os.environ["COGNITO_API_URL"]

oauth2client = OAuth2Client(
    token_endpoint=token_url,
    auth=ClientSecretBasic(client_id, client_secret),
)

session = requests.Session()
session.auth = OAuth2ClientCredentialsAuth(oauth2client, scope="api/write")

response = session.get(api + "items")
# [end]
response.raise_for_status()
