"""Google APIs with a service account's JSON key file."""

# [start]
import os

import requests

from requests_multiauth import GoogleServiceAccountAuth

# the key file IAM gave you (GOOGLE_APPLICATION_CREDENTIALS, as google-auth reads it)
key_file = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]

api = os.environ.get("GOOGLE_SERVICE_ACCOUNT_API_URL", "https://storage.googleapis.com/storage/v1/")

session = requests.Session()
session.auth = GoogleServiceAccountAuth.from_file(
    key_file,
    scopes=["https://www.googleapis.com/auth/devstorage.read_only"],
    # subject="admin@example.com",  # domain-wide delegation: act as a Workspace user
)
# or GoogleServiceAccountAuth.from_env(): GOOGLE_APPLICATION_CREDENTIALS (GOOGLE_SERVICE_ACCOUNT_SCOPES)

response = session.get(api + "b/my-bucket/o")
response.raise_for_status()
print(session.auth.get_token())  # its expiry, never the token

# An ID token for a Cloud Run service or IAP instead: the ID token is what is sent.
run = GoogleServiceAccountAuth.from_file(key_file, target_audience="https://reports-abc123-uc.a.run.app")
response = requests.get(api + "reports", auth=run, timeout=30)
response.raise_for_status()
# [end]
