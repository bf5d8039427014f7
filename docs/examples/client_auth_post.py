"""client_secret_post against the local OAuth2Emulator."""

# [start]
from requests_multiauth import ClientCredentialsAuth
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:  # a local authorization server; use your server's URL instead
    client = server.register_client("client_secret_post")
    auth = ClientCredentialsAuth(
        client.client_id,
        client.client_secret,
        server.token_url,  # e.g. "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token"
        client_auth="client_secret_post",
        session=server.api_session(),
    )
    response = server.api_session().get(server.api_url + "things", auth=auth)
    assert response.status_code == 200
# [end]
