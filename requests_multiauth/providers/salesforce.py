"""Salesforce's OAuth 2.0 JWT bearer flow: a connected app signs for a pre-authorized user.

The reference is Salesforce's "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration" (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm);
the wire peer is simple-salesforce's ``SalesforceLogin`` (``login.py``). The assertion
carries ``iss`` (the connected app's consumer key), ``sub`` (the username), ``aud`` (the
login URL: ``https://login.salesforce.com``, ``https://test.salesforce.com`` for a sandbox,
or an Experience Cloud site's URL) and ``exp``, "within 3 minutes"; it is RS256-signed
with the key whose certificate the connected app holds, and posted to
``<login URL>/services/oauth2/token``.

The answer holds ``access_token``, ``instance_url``, ``id``, ``token_type`` and ``scope``
but no lifetime: the token is a session that lasts the org's session timeout, renewed by
each use. So the token is assumed to live :data:`SALESFORCE_SESSION_LIFETIME` and is
renewed ahead of that; a session that ends sooner (a shorter org timeout, a revocation, a
logout) is answered 401 ``[{"errorCode": "INVALID_SESSION_ID", ...}]`` by the API, which
renews the token once and replays the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

from .._jose import KeyInput
from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenResponseError
from ..grants.base import _required
from ..grants.jwt_bearer import JwtBearerGrant
from ..token import Token
from ..transport.urls import safe_url
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "PROVIDER",
    "SALESFORCE_ASSERTION_LIFETIME",
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_SANDBOX_LOGIN_URL",
    "SALESFORCE_SESSION_LIFETIME",
    "SalesforceJwtAuth",
]

#: Production orgs and Developer Edition: the ``aud`` and the token host (the JWT flow page, "aud").
SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
#: Sandboxes: "https://test.salesforce.com" (the JWT flow page, "aud").
SALESFORCE_SANDBOX_LOGIN_URL = "https://test.salesforce.com"

#: The token endpoint's path under the login URL (the JWT flow page, "Request an access token").
TOKEN_PATH = "/services/oauth2/token"

#: Seconds each assertion is valid: the JWT flow page wants ``exp`` no more than three
#: minutes ahead; simple-salesforce signs for the same three minutes.
SALESFORCE_ASSERTION_LIFETIME = 180

#: How long a session (the access token) is assumed to live, since the answer does not say:
#: two hours, the default of Setup > Session Settings > "Timeout value"
#: (https://help.salesforce.com/s/articleView?id=sf.admin_sessions.htm). An org with a
#: shorter timeout, or a session revoked early, is answered 401 INVALID_SESSION_ID,
#: which renews and replays once; pass ``default_lifetime=`` to match your org's timeout
#: and avoid that one extra round trip.
SALESFORCE_SESSION_LIFETIME = 2 * 3600.0

#: Salesforce's ``invalid_grant`` descriptions for this flow, and what to do about each.
_ADVICE = {
    "user hasn't approved this consumer": (
        "the user is not pre-authorized for the connected app: in Setup > Connected Apps > Manage > Edit "
        "Policies set Permitted Users to 'Admin approved users are pre-authorized' and add the user's "
        "profile or permission set (or have the user approve the app once with a flow that issues a "
        "refresh token)"
    ),
    "audience is invalid": (
        "login_url must be https://login.salesforce.com for production, https://test.salesforce.com for "
        "a sandbox, or the Experience Cloud site's URL; it is the assertion's aud"
    ),
    "invalid assertion": (
        "the signature did not verify: the connected app must hold the certificate of this private key "
        "(Use digital signatures), and consumer_key must be that app's"
    ),
    "expired authorization code": (
        "the assertion's exp has passed when Salesforce read it: check this host's clock (NTP)"
    ),
    "user is not admin approved to access this app": (
        "add the user's profile or permission set to the connected app (Setup > Connected Apps > Manage)"
    ),
}

#: When Salesforce words a refusal some other way.
_FALLBACK_ADVICE = (
    "check the consumer key, the username (sub) and login_url (aud: login or test), that the connected app "
    "holds this key's certificate and that the user is pre-authorized for it; and this host's clock"
)


#: Salesforce's answer to a consumer key it does not know (``invalid_client_id``).
_UNKNOWN_APP_ADVICE = (
    "consumer_key is not the consumer key of a connected app of this org: copy it from Setup > App Manager > "
    "(the app) > View > Manage Consumer Details, and check login_url (a sandbox is https://test.salesforce.com)"
)


def _refusal_hint(error: str, description: Optional[str]) -> Optional[str]:
    if error == "invalid_client_id":
        return _UNKNOWN_APP_ADVICE
    if error != "invalid_grant":
        return None
    text = (description or "").strip().lower()
    return _ADVICE.get(text, _FALLBACK_ADVICE)


class SalesforceJwtAuth(TokenAuth, FromEnv):
    """Salesforce APIs through the OAuth 2.0 JWT bearer flow of a connected app.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    single flight, the 401 replay, the retries (``retry=``) and the errors raised are those
    of :class:`~requests_multiauth.TokenAuth`.

    Each token call posts ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and a
    new RS256 assertion (``iss`` = *consumer_key*, ``sub`` = *username*, ``aud`` =
    *login_url*, ``exp`` three minutes ahead), as simple-salesforce does. The answer's
    ``instance_url`` is where the org's APIs are: :attr:`instance_url`, and
    ``token.extra["instance_url"]``. Use it as a session's base::

        auth = SalesforceJwtAuth(consumer_key, "integration@example.com", "server.key")
        session = MultiAuthSession(auth, base_url=auth.instance_url + "/services/data/v62.0/")

    The answer states no lifetime: the session is assumed to live *default_lifetime*
    (two hours, Salesforce's default session timeout) and renewed ahead of that; a 401
    ``INVALID_SESSION_ID`` (a shorter timeout, a revoked session) renews it once and
    replays the request.

    Args:
        consumer_key: the connected app's consumer key (``iss``).
        username: the Salesforce user to act as (``sub``), pre-authorized for the app.
        private_key: the key whose certificate the connected app holds: PEM text or
            bytes, a path, or a ``cryptography`` key (RSA; RS256).
        login_url: ``https://login.salesforce.com`` (production), ``https://test.salesforce.com``
            (a sandbox) or an Experience Cloud site's URL; it is the ``aud``.
        token_url: where to post; default *login_url* + ``/services/oauth2/token``.
        password: the password of an encrypted PEM key.
        default_lifetime: how long a session is assumed to live (seconds).
        **options: the options of :class:`~requests_multiauth.TokenAuth`.

    Errors: an ``invalid_grant`` refusal is a :class:`~requests_multiauth.TokenRequestError`
    whose advice depends on Salesforce's words: "user hasn't approved this consumer" (the
    user is not pre-authorized), "audience is invalid" (login vs test), "invalid assertion"
    (the app holds another certificate), "expired authorization code" (this host's clock).

    Environment (``from_env()``): the variables of its registry record (``multiauth providers``
    lists them): the consumer key, the username, the key file, the login URL.
    """

    provider_name = "salesforce"

    def __init__(
        self,
        consumer_key: str,
        username: str,
        private_key: KeyInput,
        *,
        login_url: str = SALESFORCE_LOGIN_URL,
        token_url: Optional[str] = None,
        password: Optional[str] = None,
        default_lifetime: float = SALESFORCE_SESSION_LIFETIME,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        self.consumer_key = _required("consumer_key", consumer_key)
        self.username = _required("username", username)
        login_url = _required("login_url", login_url).rstrip("/")
        if not login_url.startswith("https://"):
            raise ConfigurationError(f"login_url={safe_url(login_url)!r} must be an https:// URL (it is the aud too)")
        self.login_url = login_url
        url = token_url or login_url + TOKEN_PATH
        self.grant = JwtBearerGrant(
            consumer_key,
            private_key,
            url,
            subject=username,
            audience=login_url,
            alg="RS256",  # "Sign the resulting string using SHA256 with RSA" (the JWT flow page)
            password=password,
            lifetime=SALESFORCE_ASSERTION_LIFETIME,
            jti=False,  # the page lists iss, aud, sub and exp only, and simple-salesforce sends no more
            iat=False,
            default_lifetime=default_lifetime,
            refusal_hint=_refusal_hint,
        )
        super().__init__(self.grant, url, **options)

    @property
    def instance_url(self) -> str:
        """The org's API origin (``https://yourInstance.my.salesforce.com``), from the token
        answer; fetches a token if none is held."""
        return instance_url_of(self.get_token())

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (
            ("consumer_key", self.consumer_key),
            ("username", self.username),
            ("login_url", self.login_url),
            *super()._public_fields(),
        )


def instance_url_of(token: Token) -> str:
    """The ``instance_url`` a Salesforce token answer carried."""
    value = token.extra.get("instance_url")
    if not isinstance(value, str) or not value:
        raise TokenResponseError("the Salesforce token answer had no instance_url")
    return value


PROVIDER = Provider(
    name="salesforce",
    auth_class=SalesforceJwtAuth,
    env=(
        EnvVar(name="SALESFORCE_CONSUMER_KEY", parameter="consumer_key", meaning="the connected app's consumer key"),
        EnvVar(name="SALESFORCE_USERNAME", parameter="username", meaning="the user to act as"),
        EnvVar(
            name="SALESFORCE_PRIVATE_KEY_FILE",
            parameter="private_key",
            meaning="the private key whose certificate the connected app holds",
            path=True,
        ),
        EnvVar(
            name="SALESFORCE_LOGIN_URL",
            parameter="login_url",
            meaning="https://test.salesforce.com for a sandbox (default: login.salesforce.com)",
            required=False,
        ),
        EnvVar(
            name="SALESFORCE_TOKEN_URL",
            parameter="token_url",
            meaning="where to post instead of the login URL's token endpoint (an emulator)",
            required=False,
        ),
        EnvVar(
            name="SALESFORCE_CA_BUNDLE",
            parameter="verify",
            meaning="a CA bundle for the token calls (an emulator's)",
            required=False,
            path=True,
        ),
    ),
    docs_url="https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm",
    emulator=LazyEmulator("requests_multiauth.testing._salesforce:SalesforceEmulator"),
    scheme="JWT-bearer flow of a connected app",
    local=False,
)
