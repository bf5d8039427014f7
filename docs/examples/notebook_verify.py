"""A private CA for the token calls and for the API requests."""

import os
import shutil

from requests_multiauth import CognitoAuth, MultiAuthSession

shutil.copy(os.environ.pop("REQUESTS_CA_BUNDLE"), "private-ca.pem")  # your company's CA bundle

# [start]
auth = CognitoAuth.from_env(verify="private-ca.pem")        # the token calls
session = MultiAuthSession(auth, verify="private-ca.pem")  # the API requests
# [end]
session.get(os.environ["COGNITO_API_URL"] + "items").raise_for_status()
