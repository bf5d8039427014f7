"""client_secret_jwt against the local OAuth2Emulator."""

# [start]
from requests_multiauth import ClientCredentialsAuth, ClientSecretJwt
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:  # a local authorization server; use your server's URL instead
    client = server.register_client("client_secret_jwt")
    auth = ClientCredentialsAuth(
        client.client_id,
        client.client_secret,  # used to sign, never sent
        server.token_url,      # e.g. "https://<tenant>.okta.com/oauth2/default/v1/token"
        client_auth=ClientSecretJwt(),  # or client_auth="client_secret_jwt"
        session=server.api_session(),
    )
    response = server.api_session().get(server.api_url + "things", auth=auth)
    assert response.status_code == 200
    (assertion,) = server.assertions()
    assert assertion.exp - assertion.iat == 60
# [end]
