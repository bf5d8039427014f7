"""An assertion made elsewhere (workload identity), read afresh from its file."""

# [start]
import os
import secrets
import tempfile
import time

import jwt  # PyJWT, here only to play the platform's part

from requests_multiauth import ClientAssertion, ClientCredentialsAuth
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:  # a local authorization server; use your server's URL instead
    client = server.register_client("private_key_jwt")  # the server trusts this key: the "platform"
    token_file = os.path.join(tempfile.mkdtemp(), "token")

    def platform_writes_a_new_token():  # what the kubelet does, every hour or so
        now = int(time.time())
        claims = {"iss": client.client_id, "sub": client.client_id, "aud": server.token_url,
                  "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + 300}
        with open(token_file, "w") as f:
            f.write(jwt.encode(claims, client.private_key_pem, algorithm=client.alg, headers={"kid": client.kid}))

    platform_writes_a_new_token()
    auth = ClientCredentialsAuth(
        client.client_id,
        token_url=server.token_url,
        client_auth=ClientAssertion(token_file),  # e.g. os.environ["AZURE_FEDERATED_TOKEN_FILE"]
        session=server.api_session(),
    )
    assert server.api_session().get(server.api_url + "things", auth=auth).status_code == 200
    platform_writes_a_new_token()  # rotated: the next token request reads the new one
    auth.invalidate()
    assert server.api_session().get(server.api_url + "things", auth=auth).status_code == 200
# [end]
