"""Before: Authlib's OAuth2Session for client credentials."""

# [start]
import os

from authlib.integrations.requests_client import OAuth2Session

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]
api = os.environ["COGNITO_API_URL"]

session = OAuth2Session(
    client_id,
    client_secret,
    scope="api/write",
    token_endpoint=token_url,  # lets Authlib fetch a new token when this one expires
    grant_type="client_credentials",
)
session.fetch_token(token_url, grant_type="client_credentials")

response = session.get(api + "items")
# [end]
response.raise_for_status()
