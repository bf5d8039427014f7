"""Before: requests-oauthlib's OAuth2Session with BackendApplicationClient."""

# [start]
import os

from oauthlib.oauth2 import BackendApplicationClient, TokenExpiredError
from requests_oauthlib import OAuth2Session

# your credentials, however you keep them (here: the environment)
client_id = os.environ["COGNITO_CLIENT_ID"]
client_secret = os.environ["COGNITO_CLIENT_SECRET"]
token_url = os.environ["COGNITO_TOKEN_URL"]
api = os.environ["COGNITO_API_URL"]

client = BackendApplicationClient(client_id=client_id)
session = OAuth2Session(client=client, scope=["api/write"])
session.fetch_token(token_url=token_url, client_id=client_id, client_secret=client_secret)

def get(url):
    try:
        return session.get(url)
    except TokenExpiredError:  # oauthlib refuses to send an expired token
        session.fetch_token(token_url=token_url, client_id=client_id, client_secret=client_secret)
        return session.get(url)

response = get(api + "items")
if response.status_code == 401:  # revoked: fetch and retry by hand
    session.fetch_token(token_url=token_url, client_id=client_id, client_secret=client_secret)
    response = get(api + "items")
# [end]
response.raise_for_status()
