"""private_key_jwt against the local OAuth2Emulator."""

# [start]
from requests_multiauth import ClientCredentialsAuth, PrivateKeyJwt
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:  # a local authorization server; use your server's URL instead
    client = server.register_client("private_key_jwt")
    auth = ClientCredentialsAuth(
        client.client_id,
        token_url=server.token_url,  # no client_secret: the key proves who asks
        client_auth=PrivateKeyJwt(client.key_path, kid=client.kid),  # a PEM file, 0600
        session=server.api_session(),
    )
    response = server.api_session().get(server.api_url + "things", auth=auth)
    assert response.status_code == 200
    assert server.assertion_replays == 0
# [end]
