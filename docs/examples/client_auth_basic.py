"""client_secret_basic against the local OAuth2Emulator."""

# [start]
from requests_multiauth import ClientCredentialsAuth
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:  # a local authorization server; use your server's URL instead
    client = server.register_client("client_secret_basic")
    auth = ClientCredentialsAuth(
        client.client_id,
        client.client_secret,  # from your secret store, never from source code
        server.token_url,      # e.g. "https://<tenant>.okta.com/oauth2/default/v1/token"
        scope="things:read",
        session=server.api_session(),  # only to trust the local server's CA
    )
    response = server.api_session().get(server.api_url + "things", auth=auth)
    assert response.status_code == 200
# [end]
