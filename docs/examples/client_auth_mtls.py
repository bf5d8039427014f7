"""tls_client_auth and certificate-bound tokens against the local OAuth2Emulator."""

# [start]
from requests_multiauth import ClientCredentialsAuth, MultiAuthSession, TlsClientAuth
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:  # a local authorization server; use your server's URL instead
    client = server.register_client("tls_client_auth")  # its tokens are certificate-bound
    auth = ClientCredentialsAuth(
        client.client_id,
        token_url=server.mtls_token_url,  # mtls_endpoint_aliases.token_endpoint, if the server has one
        client_auth=TlsClientAuth(client.cert_path, client.key_path),
        session=server.api_session(),
    )
    with MultiAuthSession() as session:
        session.verify = server.verify
        session.mount_auth(server.api_url, auth)  # presents auth.cert on the API requests too
        assert session.get(server.api_url + "things").status_code == 200
# [end]
