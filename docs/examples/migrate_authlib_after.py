"""After: requests_multiauth in place of Authlib's OAuth2Session."""

# [start]
import os

from requests_multiauth import ClientCredentialsAuth, MultiAuthSession

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]
api = os.environ["COGNITO_API_URL"]

session = MultiAuthSession(
    ClientCredentialsAuth(
        client_id,
        client_secret,
        token_url,
        scope="api/write",
        client_auth="basic",  # client_secret_basic, Authlib's default
    ),
)
# no fetch_token(): the first request gets the token

response = session.get(api + "items")
# [end]
response.raise_for_status()
