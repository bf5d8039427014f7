"""Use 1: session.auth on a plain requests.Session."""

# [start]
import os

import requests

from requests_multiauth import CognitoAuth

api = os.environ.get("COGNITO_API_URL", "https://api.example.com/")

session = requests.Session()
session.auth = CognitoAuth.from_env()
session.get(api + "items").raise_for_status()
# [end]
