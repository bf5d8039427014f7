"""Corporate proxies and CA bundles: the token calls and the API requests both need them."""

# [start]
import os

import requests

from requests_multiauth import CognitoAuth, MultiAuthSession

CA_BUNDLE = os.environ.get("CORPORATE_CA_BUNDLE", os.environ.get("REQUESTS_CA_BUNDLE", "/etc/ssl/corp-ca.pem"))
PROXY = os.environ.get("CORPORATE_PROXY")  # e.g. http://proxy.corp.example:3128

proxies = {"https": PROXY} if PROXY else {}

token_session = requests.Session()  # the token calls: the auth never uses the API session for them
token_session.verify = CA_BUNDLE
token_session.proxies.update(proxies)

api = MultiAuthSession(
    CognitoAuth.from_env(session=token_session),
    base_url=os.environ.get("COGNITO_API_URL", "https://api.example.com/"),
)
api.verify = CA_BUNDLE
api.proxies.update(proxies)

api.get("items").raise_for_status()
# [end]
