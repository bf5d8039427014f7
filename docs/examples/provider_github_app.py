"""A job that comments on an issue as a GitHub App."""

# [start]
import os

from requests_multiauth import GitHubAppAuth, MultiAuthSession

api_url = os.environ.get("GITHUB_API_URL", "https://api.github.com")  # GHES: https://HOST/api/v3

auth = GitHubAppAuth(
    os.environ["GITHUB_APP_ID"],  # the App ID or the Client ID
    os.environ["GITHUB_APP_PRIVATE_KEY_PATH"],  # the .pem file GitHub gave you (or its text)
    owner="octo-org",  # the installation is looked up once: /orgs/octo-org/installation
    repositories=["hello-world"],  # optional: narrow the token
    permissions={"issues": "write"},
    api_url=api_url,
)
# or GitHubAppAuth.from_env(): GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_PATH, GITHUB_APP_OWNER (GITHUB_APP_REPO ...)

with MultiAuthSession(auth, base_url=api_url + "/") as github:
    github.headers["Accept"] = "application/vnd.github+json"
    github.headers["X-GitHub-Api-Version"] = "2022-11-28"
    answer = github.post("repos/octo-org/hello-world/issues/1/comments", json={"body": "Nightly build passed."})
    answer.raise_for_status()
    print("commented as", answer.json()["user"]["login"])
# [end]
