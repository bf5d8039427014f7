"""A pytest test of a mutual-TLS client, with the oauth2_server fixture."""

# [start]
from requests_multiauth import AuthAdapter, ClientCredentialsAuth, TlsClientAuth


def test_certificate_bound_tokens_go_with_their_certificate(oauth2_server):
    client = oauth2_server.register_client("tls_client_auth")
    auth = ClientCredentialsAuth(
        client.client_id,
        None,
        oauth2_server.mtls_token_url,
        client_auth=TlsClientAuth(client.cert_path, client.key_path),
        session=oauth2_server.api_session(),
    )
    session = oauth2_server.api_session()
    session.mount(oauth2_server.api_url, AuthAdapter(auth))
    assert session.get(oauth2_server.api_url + "things").status_code == 200
    assert [call.path for call in oauth2_server.token_log()] == ["/mtls/token"]
    # Without the certificate (plain session.auth, no session.cert) the API refuses it:
    assert oauth2_server.api_session().get(oauth2_server.api_url + "things", auth=auth).status_code == 401
# [end]
