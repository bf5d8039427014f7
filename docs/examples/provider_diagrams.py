"""Diagrams Technologies: client credentials, renewed with the refresh token."""

# [start]
import os

import requests

from requests_multiauth import DiagramsAuth
from requests_multiauth.testing import ManualClock

# your credentials, however you keep them (here: the environment)
application_id = os.environ["DIAGRAMS_APPLICATION_ID"]
application_secret = os.environ["DIAGRAMS_APPLICATION_SECRET"]
token_url = os.environ["DIAGRAMS_TOKEN_URL"]

api = os.environ.get("DIAGRAMS_API_URL", "https://api.diagrams-technologies.com/v0/data/")

session = requests.Session()
clock = ManualClock()  # plays the two days of the token's life in no time
session.auth = DiagramsAuth(application_id, application_secret, token_url=token_url, clock=clock)
# or DiagramsAuth.from_env(): DIAGRAMS_APPLICATION_ID, DIAGRAMS_APPLICATION_SECRET (DIAGRAMS_TOKEN_URL)

session.get(api + "projects").raise_for_status()
token = session.auth.get_token()
print(token)  # refresh_token=yes: the renewal uses it, not a new grant

clock.advance(2 * 24 * 3600)  # two days later the token has expired (expires_in 172800)
session.get(api + "projects").raise_for_status()  # renewed by grant_type=refresh_token, then sent
assert session.auth.get_token().access_token != token.access_token
# [end]
