"""Zoom's API with a Server-to-Server OAuth app."""

# [start]
import os

import requests

from requests_multiauth import ZoomAuth

api = os.environ.get("ZOOM_API_URL", "https://api.zoom.us/v2/")

session = requests.Session()
session.auth = ZoomAuth(
    os.environ["ZOOM_ACCOUNT_ID"],  # the app's App Credentials page
    os.environ["ZOOM_CLIENT_ID"],
    os.environ["ZOOM_CLIENT_SECRET"],
    token_url=os.environ.get("ZOOM_TOKEN_URL", "https://zoom.us/oauth/token"),
)
# or ZoomAuth.from_env(): ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET (ZOOM_TOKEN_URL)

response = session.get(api + "users/me")
response.raise_for_status()
print(session.auth.get_token().scope)  # the scopes the app was given
# [end]
