"""Google's OAuth 2.0 token endpoint for service-account keys, on loopback.

:class:`GoogleServiceAccountEmulator` makes a service account (an RSA key, its key
id, its email), writes its JSON key file with ``token_uri`` pointing here, and
checks every JWT-bearer request as Google documents it
(https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests):
the grant type, an RS256 signature by the key the header's ``kid`` names, ``iss`` the
account's email, ``aud`` exactly ``https://oauth2.googleapis.com/token``, ``iat`` and
``exp`` at most an hour apart and around now, a ``scope`` (or a ``target_audience``
for an ID token), and ``sub`` only for a user the account may act as (domain-wide
delegation). Refusals are Google's: 400 ``invalid_grant`` / ``invalid_scope`` /
``unauthorized_client`` with their ``error_description`` texts. A protected API under
``/api/`` accepts only the access and ID tokens issued here, and refuses others with a
Google API's 401 (:func:`google_api_refusal`, which the metadata server's API shares).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Set

from ._emulator import ProviderEmulator
from ._jwt_bearer import JWT_BEARER, new_rsa_key, rs256_claims
from ._server import Reply, Request
from ._wire import Refusal, oauth_form, oauth_refusal, random_id, seconds

__all__ = ["GOOGLE_TOKEN_AUDIENCE", "GoogleServiceAccountEmulator", "google_api_refusal"]

#: The one ``aud`` Google accepts in an access-token assertion (#authorizingrequests).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

#: An assertion may live an hour at most (#authorizingrequests).
MAX_ASSERTION_LIFETIME = 3600

#: The clock skew the emulated endpoint allows on iat/exp (Google does not publish its
#: own; a few minutes is what its errors suggest and what NTP-synced hosts need).
CLOCK_SKEW = 300


#: Google's error texts (https://developers.google.com/identity/protocols/oauth2/service-account#error-codes).
INVALID_SIGNATURE = "Invalid JWT Signature."
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
BAD_AUDIENCE = f"Invalid JWT: Failed audience check. The expected value was {GOOGLE_TOKEN_AUDIENCE}"
NO_SCOPE = "Invalid OAuth scope or ID token audience provided."
UNAUTHORIZED_DELEGATION = (
    "Client is unauthorized to retrieve access tokens using this method, "
    "or client not authorized for any of the scopes requested."
)


class GoogleServiceAccountEmulator(ProviderEmulator):
    """Google's token endpoint for one service account, and an API that takes its tokens.

    Attributes:
        client_email, private_key_id, project_id: the account, as its key file names them.
        key_file: the path of its JSON key file (``token_uri`` = this emulator), written at
            construction in a directory of its own, removed by :meth:`stop`.
        delegated_users: users the account may act as (``sub``); empty: no domain-wide delegation.
        seen_assertions: every assertion's decoded header and claims, in order (tests compare them).
    """

    name = "google-service-account"
    token_path = "/token"
    api_path = "/api/"
    default_lifetime = 3600.0  # "expires_in": 3599 or so: Google's access tokens live an hour

    client_email: str
    private_key_id: str
    project_id: str
    key_file: str
    delegated_users: Set[str]

    def _make_credentials(self) -> None:
        self._private_key, self.private_key_pem = new_rsa_key()
        self.public_key = self._private_key.public_key()
        self.project_id = "emulated-" + random_id(6)
        self.private_key_id = random_id(40, "0123456789abcdef")
        self.client_email = f"svc-{random_id(6)}@{self.project_id}.iam.gserviceaccount.com"
        self.client_id = random_id(21, "0123456789")
        self._directory = tempfile.mkdtemp(prefix="multiauth-google-")
        self.key_file = os.path.join(self._directory, "service-account.json")
        self.seen_assertions: List[Dict[str, Any]] = []

    def _reset_settings(self) -> None:
        self.delegated_users = set()
        self.seen_assertions = []

    def start(self) -> GoogleServiceAccountEmulator:
        super().start()
        with open(self.key_file, "w", encoding="utf-8") as handle:
            json.dump(self.key_info(), handle)
        return self

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._directory, ignore_errors=True)

    def key_info(self) -> Dict[str, str]:
        """The key file's JSON, as IAM gives it, with ``token_uri`` at this emulator."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + self.client_email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }

    @property
    def credentials(self) -> Dict[str, str]:
        return {"path_or_info": self.key_file}

    def environ_values(self) -> Dict[str, str]:
        """The key file's path and the scope ``api``."""
        return {"path_or_info": self.key_file, "scopes": "api"}

    def auth(self, **options: Any) -> Any:
        """``GoogleServiceAccountAuth`` for this account's key file (``scopes=["api"]`` unless
        *options* say ``scopes`` or ``target_audience``)."""
        from ..providers.google_service_account import GoogleServiceAccountAuth

        if "target_audience" not in options:
            options.setdefault("scopes", ["api"])
        return GoogleServiceAccountAuth(self.key_file, **self._auth_options(options))

    # -- the token endpoint ------------------------------------------------------------------

    def _token(self, request: Request) -> Reply:
        import jwt

        self._require_method(request, "POST")
        form = oauth_form(request)
        if form.get("grant_type") != JWT_BEARER:
            raise oauth_refusal("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        assertion = form.get("assertion")
        if not assertion:
            raise oauth_refusal("invalid_request", "Missing required parameter: assertion")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise oauth_refusal("invalid_grant", "Invalid JWT: the assertion is not a JWT.") from None
        if header.get("alg") != "RS256" or header.get("kid") != self.private_key_id:
            raise oauth_refusal("invalid_grant", INVALID_SIGNATURE)
        try:
            claims = rs256_claims(assertion, self.public_key)  # the times: _check_times, on this clock
        except jwt.PyJWTError:
            raise oauth_refusal("invalid_grant", INVALID_SIGNATURE) from None
        self.seen_assertions.append({"header": header, "claims": claims, "form": dict(form)})
        if claims.get("iss") != self.client_email:
            raise oauth_refusal("invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise oauth_refusal("invalid_grant", BAD_AUDIENCE)
        self._check_times(claims)
        subject = claims.get("sub")
        if subject is not None and subject != self.client_email and subject not in self.delegated_users:
            raise oauth_refusal("unauthorized_client", UNAUTHORIZED_DELEGATION, status=401)
        target = claims.get("target_audience")
        if target is not None:
            id_claims = {
                "iss": "https://accounts.google.com",
                "aud": target,
                "azp": self.client_email,
                "email": self.client_email,
                "email_verified": True,
            }
            token, _ = self._issue(self.client_email, claims=id_claims)
            return Reply(200, {"id_token": token})
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            raise oauth_refusal("invalid_scope", NO_SCOPE)
        token, _ = self._issue(subject or self.client_email, scope=scope, jwt=False)
        # Google answers expires_in 3599 for an hour's token: the second it spent.
        return Reply(200, {"access_token": token, "expires_in": seconds(self.lifetime) - 1, "token_type": "Bearer"})

    def _check_times(self, claims: Dict[str, Any]) -> None:
        now = self.clock()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise Refusal(Reply(400, {"error": "invalid_grant", "error_description": BAD_TIMES}))
        if exp - iat > MAX_ASSERTION_LIFETIME or iat > now + CLOCK_SKEW or exp < now - CLOCK_SKEW or exp <= iat:
            raise Refusal(Reply(400, {"error": "invalid_grant", "error_description": BAD_TIMES}))

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        return google_api_refusal()


def google_api_refusal() -> Reply:
    """A Google API's 401 to a missing, expired or revoked access token, whoever issued it
    (https://cloud.google.com/apis/design/errors#http_mapping)."""
    return Reply(
        401,
        {
            "error": {
                "code": 401,
                "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "status": "UNAUTHENTICATED",
            }
        },
        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )
