"""Code on Compute Engine, GKE or Cloud Run calls Google APIs, and a Cloud Run service, as its service account."""

# [start]
import os

import requests

from requests_multiauth import GoogleMetadataAuth

api = os.environ.get("GOOGLE_METADATA_API_URL", "https://storage.googleapis.com/")
service = os.environ.get("GOOGLE_METADATA_API_URL", "https://hello-abc123-ew.a.run.app/")

# An access token from the metadata server (http://metadata.google.internal): no key file.
storage = requests.Session()
storage.auth = GoogleMetadataAuth(scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
storage.get(api + "storage/v1/b", params={"project": "my-project"}).raise_for_status()

# An ID token for a Cloud Run service (or IAP, or your own API): the audience is its URL.
caller = requests.Session()
caller.auth = GoogleMetadataAuth(target_audience="https://hello-abc123-ew.a.run.app")
caller.get(service + "hello").raise_for_status()
# [end]
