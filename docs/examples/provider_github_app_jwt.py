"""The app's own endpoints (/app, /app/installations) with the app JWT."""

# [start]
import os

import requests

from requests_multiauth import GitHubAppJwtAuth

api_url = os.environ.get("GITHUB_API_URL", "https://api.github.com")

session = requests.Session()
session.auth = GitHubAppJwtAuth(os.environ["GITHUB_APP_ID"], os.environ["GITHUB_APP_PRIVATE_KEY_PATH"], api_url=api_url)
session.headers["Accept"] = "application/vnd.github+json"

for installation in session.get(api_url + "/app/installations").json():
    print(installation["id"], installation["account"]["login"])
# [end]
