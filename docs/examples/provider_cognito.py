"""An API behind AWS Cognito: OAuth 2.0 client credentials."""

# [start]
import os

import requests

from requests_multiauth import CognitoAuth

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]

api = os.environ.get("COGNITO_API_URL", "https://api.example.com/")

session = requests.Session()
session.auth = CognitoAuth(
    client_id,
    client_secret,
    token_url,  # https://<domain>.auth.<region>.amazoncognito.com/oauth2/token
    scope="api/write",  # a string or a list
)
# or CognitoAuth.from_env(): COGNITO_CLIENT_ID, COGNITO_CLIENT_SECRET, COGNITO_TOKEN_URL (COGNITO_SCOPE)

response = session.get(api + "items")
response.raise_for_status()
print(session.auth.get_token().scope)  # the scope the server granted
# [end]
