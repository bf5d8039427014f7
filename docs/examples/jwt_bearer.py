"""RFC 7523: a signed JWT as the authorization grant, with any server that speaks it."""

# [start]
import os

import requests

from requests_multiauth import JwtBearerAuth

auth = JwtBearerAuth(
    os.environ["SALESFORCE_CONSUMER_KEY"],  # iss: the client the server knows the key by
    os.environ["SALESFORCE_PRIVATE_KEY_FILE"],  # PEM, a JWK, or a cryptography key
    os.environ["SALESFORCE_TOKEN_URL"],  # https://login.salesforce.com/services/oauth2/token
    subject=os.environ["SALESFORCE_USERNAME"],  # sub: who the token acts for (default: the issuer)
    audience="https://login.salesforce.com",  # aud (default: the token URL)
    lifetime=180,  # seconds each assertion lives (default 300, at most 3600)
    # scope="api", claims={"tenant": "acme"}, kid="key-2026", alg="PS256"
)

api = os.environ.get("SALESFORCE_API_URL", "https://example.my.salesforce.com/services/data/")
response = requests.get(api + "v62.0/limits", auth=auth, timeout=30)
response.raise_for_status()
# [end]
