"""RFC 8693 token exchange with a subject token file, and a chain of two exchanges."""

import tempfile
from pathlib import Path

from requests_multiauth.testing import TokenExchangeEmulator

with TokenExchangeEmulator() as server, tempfile.TemporaryDirectory() as directory:
    token_url, api = server.token_url, server.api_url  # your authorization server's
    token_path = Path(directory) / "token"  # e.g. /var/run/secrets/tokens/sts-token
    token_path.write_text(server.subject_token())  # what the kubelet mounts
    verify = server.verify  # the local server's CA; leave it out for a public one

    # [start]
    import requests

    from requests_multiauth import TokenExchangeAuth

    # The pod's projected token, read again whenever the kubelet rotates it.
    auth = TokenExchangeAuth(
        token_path,  # a pathlib.Path; a str would be the token itself
        token_url,
        audience="orders-api",
        scope="orders:read",
        verify=verify,
    )
    token = auth.get_token()
    print(token.extra["issued_token_type"])  # urn:ietf:params:oauth:token-type:access_token

    # That token as the subject of a second exchange: each link renews on its own, once.
    downstream = TokenExchangeAuth(
        auth,
        token_url,
        subject_token_type="urn:ietf:params:oauth:token-type:access_token",
        audience="billing-api",
        verify=verify,
    )
    response = requests.get(api + "invoices", auth=downstream, verify=verify, timeout=10)
    print(response.status_code)  # 200
    # [end]
    assert response.status_code == 200
    assert server.token_calls == 2
