"""Testing a DPoP client against the OAuth2Emulator, with nonces at both ends."""

# [start]
from requests_multiauth import DPoPKey
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:
    server.token_dpop_nonce = server.api_dpop_nonce = True
    client = server.register_client("client_secret_basic", dpop_bound=True)
    auth = server.auth(client, dpop=DPoPKey.generate())
    response = server.api_session().get(server.api_url + "things", auth=auth)
    assert response.status_code == 200
    assert server.nonce_challenges == {"token": 1, "api": 1}
    assert server.count_api_calls(scheme="Bearer") == 0
# [end]
