"""A scheme of your own: the app signs a short JWT and trades it for a token."""

import uuid
from typing import Any, Mapping, Optional

import jwt  # PyJWT signs: pip install 'PyJWT[crypto]'

from requests_multiauth import Grant, GrantRequest, Token, TokenAuth
from requests_multiauth.testing import AppJwtEmulator


class AppJwtGrant(Grant):
    """POST the token URL with ``Authorization: Bearer <JWT>``, a JWT signed with the app's key."""

    name = "app_jwt"  # the grant's label in telemetry and logs

    def __init__(self, app_id: str, private_key_pem: str, token_url: str) -> None:
        self.app_id, self.token_url, self._key = app_id, token_url, private_key_pem
        self.secrets = (private_key_pem,)  # never in a message, a log or a repr

    def identity(self) -> Mapping[str, Optional[str]]:
        return {"app_id": self.app_id}  # tells this app's tokens apart in shared caches

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        # Called for every try, retries included: each try signs a fresh JWT.
        claims = {"iss": self.app_id, "aud": self.token_url, "iat": int(now), "exp": int(now) + 300}
        assertion = jwt.encode({**claims, "jti": uuid.uuid4().hex}, self._key, algorithm="ES256")
        return GrantRequest(headers={"Authorization": f"Bearer {assertion}"}, secrets=(assertion,))


def app_auth(server: AppJwtEmulator, **options: Any) -> TokenAuth:
    grant = AppJwtGrant(server.app_id, server.private_key_pem, server.token_url)
    return TokenAuth(grant, server.token_url, session=server.api_session(), **options)


if __name__ == "__main__":
    with AppJwtEmulator() as server:
        auth, api = app_auth(server), server.api_session()
        for _ in range(3):
            api.get(server.api_url + "repos", auth=auth).raise_for_status()
        print(server.token_calls)  # 1: the token is reused
        server.revoke()  # the next request is answered 401: renewed once, replayed
        print(api.get(server.api_url + "repos", auth=auth).status_code, server.token_calls)  # 200 2
