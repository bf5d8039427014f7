"""Google service-account keys: the JSON key file's RS256 JWT-bearer grant, access or ID tokens.

The key file (``"type": "service_account"``) holds the private key, its id and the
account's email. A token call posts an RS256 assertion signed with that key, the
JWT-bearer grant of RFC 7523 as Google documents it for server-to-server
applications, to the file's ``token_uri``. Every rule below is written beside the
code that follows it, with the page it comes from:

- https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests
  (the claims, the one-hour limit, the grant type, the answer);
- https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority
  (``sub`` for domain-wide delegation);
- google-auth's ``google/oauth2/service_account.py`` (the wire peer: ``kid`` =
  ``private_key_id``, ``aud`` = ``https://oauth2.googleapis.com/token`` whatever the
  file's ``token_uri`` says, a one-hour assertion; ``IDTokenCredentials``: a
  ``target_audience`` claim instead of ``scope``, the answer's ``id_token``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Tuple

from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenResponseError
from ..grants.base import Scope, _scope_string
from ..grants.jwt_bearer import JwtBearerGrant
from ..token import Token, jwt_expiry, parse_token_response
from ._google import CREDENTIALS_VARIABLE, CredentialsInput, read_credentials
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

__all__ = [
    "GOOGLE_ASSERTION_LIFETIME",
    "GOOGLE_TOKEN_AUDIENCE",
    "PROVIDER",
    "GoogleServiceAccountAuth",
]

#: The ``aud`` of every assertion, whatever ``token_uri`` the key file names: Google's
#: server-to-server page (#authorizingrequests) fixes it to this URL for access-token
#: requests, and google-auth sends its ``_GOOGLE_OAUTH2_TOKEN_ENDPOINT``, the same URL.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

#: Seconds an assertion is valid: at most an hour after ``iat`` (#authorizingrequests);
#: google-auth signs for exactly that (``_DEFAULT_TOKEN_LIFETIME_SECS``).
GOOGLE_ASSERTION_LIFETIME = 3600

#: The ``type`` a service-account key file declares (others: ``authorized_user``,
#: ``external_account``, ``impersonated_service_account``).
SERVICE_ACCOUNT_TYPE = "service_account"

#: The fields a key file must hold for a token call (token_uri defaults to Google's).
REQUIRED_FIELDS = ("client_email", "private_key", "private_key_id")

#: A token whose answer states no lifetime: Google's access tokens live an hour (#authorizingrequests).
GOOGLE_TOKEN_LIFETIME = 3600.0

_INVALID_GRANT_ADVICE = {
    # https://developers.google.com/identity/protocols/oauth2/service-account#error-codes
    "invalid jwt": "check this host's clock (iat/exp are set from it; Google allows a few minutes of skew)",
    "invalid jwt signature": "the key file's key is not (or no longer) a key of this service account: "
    "download a new key file from IAM > Service accounts > Keys",
    "invalid email or user id": "the subject (sub=) is not a user of the Workspace domain",
    "account not found": "the service account was deleted or the key file is from another project",
}


def _refusal_hint(error: str, description: Optional[str]) -> Optional[str]:
    if error != "invalid_grant":
        return None
    text = (description or "").lower()
    for words, advice in sorted(_INVALID_GRANT_ADVICE.items(), key=lambda item: -len(item[0])):
        if words in text:  # the most specific words first ("invalid jwt signature" before "invalid jwt")
            return advice
    return None


def _check_info(info: Mapping[str, Any], where: str) -> None:
    kind = info.get("type")
    if kind != SERVICE_ACCOUNT_TYPE:
        other = {
            "external_account": "use GoogleExternalAccountAuth.from_file() for workload identity federation",
            "authorized_user": "it holds a user's refresh token (gcloud auth application-default login), "
            "not a service account's key",
        }.get(str(kind), "download a service-account key (IAM > Service accounts > Keys > Add key > JSON)")
        raise ConfigurationError(f"{where} has type {kind!r}, not {SERVICE_ACCOUNT_TYPE!r}: {other}")
    missing = [name for name in REQUIRED_FIELDS if not isinstance(info.get(name), str) or not info[name].strip()]
    if missing:
        raise ConfigurationError(
            f"{where} has no {', '.join(missing)}: "
            "download the key file again (it is not a complete service-account key)"
        )
    private_key = str(info["private_key"])
    if "PRIVATE KEY-----" not in private_key:
        what = "a public key or certificate" if "-----BEGIN" in private_key else "not a PEM key"
        raise ConfigurationError(f"{where}: private_key is {what}; a service-account key file holds the private key")


class GoogleServiceAccountAuth(TokenAuth, FromEnv):
    """Google APIs with a service account's JSON key: access tokens (``scopes``) or ID tokens
    (``target_audience``), renewed ahead of expiry.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    single flight, the 401 replay, the retries (``retry=``) and the errors raised are those
    of :class:`~requests_multiauth.TokenAuth`.

    Every token call posts ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and a
    new RS256 assertion (``kid`` = the file's ``private_key_id``; ``iss`` = ``client_email``;
    ``aud`` = ``https://oauth2.googleapis.com/token``; ``iat``; ``exp`` one hour later;
    ``scope``, or ``target_audience``; ``sub`` for domain-wide delegation) to the file's
    ``token_uri``, as google-auth's ``service_account.Credentials`` does.

    Args:
        path_or_info: the key file's path, or its parsed JSON (a mapping).
        scopes: the OAuth scopes (a list or a space-separated string), for an access token.
        subject: a Workspace user's email to act as (domain-wide delegation).
        target_audience: ask for an ID token for this audience (a Cloud Run or IAP URL)
            instead of an access token; its expiry is the token's own ``exp``.
        token_url: where to post instead of the file's ``token_uri`` (an emulator, a proxy);
            the assertion's ``aud`` stays Google's.
        **options: the options of :class:`~requests_multiauth.TokenAuth`.

    Raises:
        ConfigurationError: the key file is missing, not JSON, not ``"type":
            "service_account"``, lacks a field (the message names it), holds a public key; or
            neither or both of *scopes* and *target_audience* are given.

    Environment (``from_env()``): the variables of its registry record (``multiauth providers``
    lists them); the key file's path is in the variable google-auth reads.
    """

    provider_name = "google-service-account"

    def __init__(
        self,
        path_or_info: CredentialsInput,
        *,
        scopes: Scope = None,
        subject: Optional[str] = None,
        target_audience: Optional[str] = None,
        token_url: Optional[str] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        info, where = read_credentials(path_or_info, "service-account key file")
        _check_info(info, where)
        scope = _scope_string(scopes)
        if (scope is None) == (target_audience is None):
            raise ConfigurationError(
                "pass scopes= for an access token or target_audience= for an ID token "
                "(Google refuses an assertion with neither; one token cannot be both)"
            )
        if target_audience is not None and subject is not None:
            raise ConfigurationError("subject= (domain-wide delegation) applies to access tokens, not to ID tokens")
        self.service_account_email: str = info["client_email"]
        self.project_id: Optional[str] = info.get("project_id")
        self.scopes = scope
        self.subject = subject
        self.target_audience = target_audience
        claims: Dict[str, Any] = {"scope": scope} if scope is not None else {"target_audience": target_audience}
        url = token_url or info.get("token_uri") or GOOGLE_TOKEN_AUDIENCE
        self.grant = JwtBearerGrant(
            self.service_account_email,
            info["private_key"],
            url,
            subject=subject,
            audience=GOOGLE_TOKEN_AUDIENCE,
            claims=claims,
            kid=info["private_key_id"],
            alg="RS256",  # https://developers.google.com/identity/protocols/oauth2/service-account#jwt-auth: RS256 only
            lifetime=GOOGLE_ASSERTION_LIFETIME,
            jti=False,  # neither Google's claim list (#authorizingrequests) nor google-auth has one
            default_lifetime=GOOGLE_TOKEN_LIFETIME,
            parse=_parse_id_token if target_audience is not None else None,
            refusal_hint=_refusal_hint,
        )
        super().__init__(self.grant, url, **options)

    @classmethod
    def from_file(
        cls,
        path_or_info: CredentialsInput,
        *,
        scopes: Scope = None,
        subject: Optional[str] = None,
        target_audience: Optional[str] = None,
        **options: Any,
    ) -> Self:
        """The auth of a service-account key file (a path) or its parsed JSON (a mapping).

        Same arguments as the class; ``token_url=`` and every option of
        :class:`~requests_multiauth.TokenAuth` are passed through *options*.
        """
        return cls(path_or_info, scopes=scopes, subject=subject, target_audience=target_audience, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        what: Tuple[Tuple[str, Any], ...] = (
            (("scopes", self.scopes),) if self.scopes is not None else (("target_audience", self.target_audience),)
        )
        subject = (("subject", self.subject),) if self.subject is not None else ()
        return (("service_account", self.service_account_email), *super()._public_fields(), *what, *subject)


def _parse_id_token(answer: Any, now: float, secrets: Sequence[Optional[str]]) -> Token:
    """Google's ID-token answer, ``{"id_token": "<JWT>"}``: the ID token is what is presented,
    and it expires at its own ``exp`` (google-auth's ``id_token_jwt_grant`` reads it so)."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("id_token"), str) or not answer["id_token"]:
        fields = ", ".join(sorted(answer)) if isinstance(answer, Mapping) else type(answer).__name__
        raise TokenResponseError(f"the answer to an ID-token request has no id_token (fields present: {fields})")
    id_token = answer["id_token"]
    if jwt_expiry(id_token) is None:
        raise TokenResponseError("the ID token has no exp claim, so its expiry is unknown")
    # An answer with no expiry field: the parser takes the expiry from the token's own exp.
    token = parse_token_response({"access_token": id_token, "token_type": "Bearer"}, now=now, secrets=secrets)
    return dataclasses.replace(token, extra={"id_token": id_token})


PROVIDER = Provider(
    name="google-service-account",
    auth_class=GoogleServiceAccountAuth,
    env=(
        EnvVar(
            name=CREDENTIALS_VARIABLE,
            parameter="path_or_info",
            meaning="the service account's JSON key file",
            path=True,
        ),
        EnvVar(
            name="GOOGLE_SERVICE_ACCOUNT_SCOPES",
            parameter="scopes",
            meaning="the OAuth scopes, space-separated (or an ID token's audience instead)",
            required=False,
        ),
        EnvVar(
            name="GOOGLE_SERVICE_ACCOUNT_TARGET_AUDIENCE",
            parameter="target_audience",
            meaning="the audience of an ID token, instead of scopes",
            required=False,
        ),
        EnvVar(
            name="GOOGLE_SERVICE_ACCOUNT_SUBJECT",
            parameter="subject",
            meaning="a Workspace user to act as (domain-wide delegation)",
            required=False,
        ),
        EnvVar(
            name="GOOGLE_SERVICE_ACCOUNT_CA_BUNDLE",
            parameter="verify",
            meaning="a CA bundle for the token calls (an emulator's)",
            required=False,
            path=True,
        ),
    ),
    docs_url="https://developers.google.com/identity/protocols/oauth2/service-account",
    emulator=LazyEmulator("requests_multiauth.testing._google:GoogleServiceAccountEmulator"),
    scheme="JWT-bearer with a service-account key file",
    local=False,
)
