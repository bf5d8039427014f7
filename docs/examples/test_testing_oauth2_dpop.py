"""A pytest test of a DPoP client following the API's nonces."""

# [start]
from requests_multiauth import ClientCredentialsAuth
from requests_multiauth.testing import ManualClock, OAuth2Emulator


def test_my_dpop_client_follows_the_nonce():
    clock = ManualClock()
    with OAuth2Emulator(clock=clock) as server:
        client = server.register_client("client_secret_basic", dpop_bound=True)
        server.api_dpop_nonce = True
        server.nonce_rotation = 2
        session = server.api_session()
        auth = ClientCredentialsAuth(
            client.client_id, client.client_secret, server.token_url,
            dpop=True, session=session, clock=clock,
        )
        assert session.get(server.api_url + "things", auth=auth).status_code == 200
        clock.advance(2)  # a new nonce: one replay, then success
        assert session.get(server.api_url + "things", auth=auth).status_code == 200
        assert server.count_api_calls(scheme="Bearer") == 0
        assert server.nonce_challenges["api"] == 2
        assert server.dpop_replays == 0
# [end]
