"""A renewing auth with dpop=True: DPoP-bound tokens and a proof on every request."""

from requests_multiauth.testing import OAuth2Emulator

server = OAuth2Emulator().start()  # a local authorization server that issues DPoP-bound tokens
client = server.register_client("client_secret_basic", dpop_bound=True)
client_id, client_secret = client.client_id, client.client_secret
session = server.api_session()  # a requests.Session that trusts the local server's CA
api = server.api_url

# [start]
from requests_multiauth import ClientCredentialsAuth

auth = ClientCredentialsAuth(
    client_id, client_secret, server.token_url,  # e.g. "https://login.example.com/oauth2/token"
    dpop=True,                 # a new ES256 key for this auth
    session=server.api_session(),  # for the token calls: trusts the local server's CA
)
session.auth = auth
response = session.get(api + "things")
# Authorization: DPoP eyJ...   and   DPoP: eyJ0eXAiOiJkcG9wK2p3dCIs...
# [end]

assert response.status_code == 200
assert response.request.headers["Authorization"].startswith("DPoP ")
assert server.count_api_calls(scheme="Bearer") == 0
server.stop()
