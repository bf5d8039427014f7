"""Workers that load one DPoP key from one file share one DPoP-bound token."""

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from requests_multiauth.testing import OAuth2Emulator

server = OAuth2Emulator().start()  # a local authorization server; use your server's URL instead
client = server.register_client("client_secret_basic", dpop_bound=True)
client_id, client_secret, token_url = client.client_id, client.client_secret, server.token_url
assert isinstance(server.verify, str)
os.environ["REQUESTS_CA_BUNDLE"] = server.verify  # trust the local server's CA
with open("dpop-key.pem", "wb") as f:  # the key a secret store would mount
    f.write(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))


def a_worker_imports_app():  # what each gunicorn worker does when it imports app.py
    # [start]
    # app.py, imported by every gunicorn worker
    from requests_multiauth import ClientCredentialsAuth, DPoPKey, FileTokenCache

    auth = ClientCredentialsAuth(
        client_id, client_secret, token_url,
        dpop=DPoPKey("dpop-key.pem"),     # e.g. /run/secrets/dpop-key.pem, the same file everywhere
        cache=FileTokenCache("tokens"),   # e.g. /run/myapp/tokens: one token for every worker
    )
    # [end]
    return auth


session = server.api_session()
for _ in range(3):  # three workers
    assert session.get(server.api_url + "things", auth=a_worker_imports_app()).status_code == 200
assert server.count_token_calls() == 1, server.count_token_calls()
server.stop()
