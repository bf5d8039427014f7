"""Rated (slaOS): a static token made in the browser, sent as a Bearer token."""

# [start]
import os
import warnings

import requests

from requests_multiauth import RatedAuth, TokenExpiryWarning

api = os.environ.get("RATED_API_URL", "https://api.rated.co/v1/")

session = requests.Session()
session.auth = RatedAuth.from_env()  # RATED_TOKEN

with warnings.catch_warnings():
    warnings.simplefilter("error", TokenExpiryWarning)  # fewer than 30 days left would raise here
    response = session.get(api + "slos/")
print(response.status_code)
print(session.auth.get_token())  # when the token expires; never the token
# [end]
response.raise_for_status()
