"""A pytest test of a private_key_jwt client, with the oauth2_server fixture."""

# [start]
from requests_multiauth import ClientCredentialsAuth, PrivateKeyJwt


def test_my_client_signs_a_new_assertion_for_every_token(oauth2_server):
    client = oauth2_server.register_client("private_key_jwt")
    session = oauth2_server.api_session()
    auth = ClientCredentialsAuth.from_issuer(
        oauth2_server.issuer,
        client.client_id,
        client_auth=PrivateKeyJwt(client.private_key_pem, kid=client.kid),
        session=session,
    )
    assert session.get(oauth2_server.api_url + "things", auth=auth).status_code == 200
    assert oauth2_server.count_token_calls(method="private_key_jwt", outcome="ok") == 1
    assert oauth2_server.assertion_replays == 0
    (assertion,) = oauth2_server.assertions()
    assert assertion.exp - assertion.iat == 60
# [end]
