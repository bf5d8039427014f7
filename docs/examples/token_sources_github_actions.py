"""The GitHub Actions runner's OIDC token as a subject token, on local emulators."""

import os

from requests_multiauth.testing import GitHubActionsEmulator, TokenExchangeEmulator

with GitHubActionsEmulator() as runner:
    os.environ.update(runner.environ())  # what the runner sets with permissions: id-token: write
    with TokenExchangeEmulator(issuer=runner.issuer, subject_audience="sts.example.test", ca=runner.server.ca) as sts:
        token_url, verify = sts.token_url, sts.verify  # your cloud's STS; verify only for the local CA

        # [start]
        from requests_multiauth import GitHubActionsToken, TokenExchangeAuth

        # In a workflow job with `permissions: id-token: write`.
        github = GitHubActionsToken("sts.example.test", verify=verify)
        auth = TokenExchangeAuth(github, token_url, audience="deploy", verify=verify)
        print(auth.get_token().extra["issued_token_type"])
        # [end]
        assert sts.exchanges[0].subject == "repo:octo-org/octo-repo:ref:refs/heads/main"
