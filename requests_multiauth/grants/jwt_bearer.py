"""The JWT-bearer authorization grant (RFC 7523 §2.1): a signed assertion is the grant.

The client signs a short JWT that names itself (``iss``), the identity it acts for
(``sub``), the server it speaks to (``aud``) and a short validity (``iat``/``exp``),
and posts it as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWS>``.
Google service accounts, Salesforce's JWT flow, DocuSign and Box speak it; their
presets (:mod:`requests_multiauth.providers`) configure :class:`JwtBearerGrant`.

A new assertion is signed for every try of a token call, retries included: a server
that remembers ``jti``\\ s refuses a replayed one, and an assertion that waited through
a backoff may be close to its ``exp``.

Reference: https://www.rfc-editor.org/rfc/rfc7523#section-2.1 (the request) and
https://www.rfc-editor.org/rfc/rfc7523#section-3 (the claims a server checks).
"""

from __future__ import annotations

import secrets as _secrets
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Mapping, Optional, Sequence, Tuple, Union

from .. import _jose
from .._jose import KeyInput
from ..auth import TokenAuth, TokenAuthOptions
from ..errors import ConfigurationError, TokenRequestError
from ..token import Token
from ..transport.endpoint import TokenEndpoint
from ..transport.urls import safe_url
from .base import Grant, GrantRequest, Scope, _mapping_identity, _required, _scope_string

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_JWT_BEARER_LIFETIME",
    "JWT_BEARER_GRANT_TYPE",
    "MAX_JWT_BEARER_LIFETIME",
    "RESERVED_CLAIMS",
    "JwtBearerAuth",
    "JwtBearerGrant",
]

#: The grant type of RFC 7523 §2.1.
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

#: Seconds an assertion is valid by default: long enough for a slow token call and
#: a few minutes of clock skew, short enough that one seen in transit is soon useless.
DEFAULT_JWT_BEARER_LIFETIME = 300

#: The longest validity accepted: Google refuses an ``exp`` more than an hour after
#: ``iat`` (https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests),
#: and no server we know of wants longer.
MAX_JWT_BEARER_LIFETIME = 3600

#: Claims this grant sets itself from its arguments. ``claims=`` naming one of them is
#: refused: a silent override (or a silent drop) of ``aud`` or ``exp`` is exactly the
#: misconfiguration that ends in an ``invalid_grant`` nobody can explain.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "iat", "exp", "nbf", "jti"})

#: What an ``invalid_grant`` answer to a JWT assertion usually means (RFC 7523 §3.1:
#: the server refuses an assertion whose claims or signature it cannot accept).
INVALID_GRANT_HINT = (
    "the server refused the assertion; the usual causes: this host's clock is off by more than the "
    "server allows (check NTP: iat/exp are set from it), the subject has not consented to or been "
    "authorized for this client, the audience (aud={audience}) is not what the server expects, or the "
    "server does not know this key (kid={kid})"
)


def _extra_claims(claims: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    extra = dict(claims or {})
    clash = sorted(RESERVED_CLAIMS & set(extra))
    if clash:
        arguments = {"iss": "issuer", "sub": "subject", "aud": "audience", "exp": "lifetime", "iat": "lifetime"}
        instead = ", ".join(f"{name} (pass {arguments[name]}=)" if name in arguments else name for name in clash)
        raise ConfigurationError(
            f"claims= may not set {instead}: the grant sets them from its arguments "
            "(jti and nbf are made for each assertion)"
        )
    return extra


class JwtBearerGrant(Grant):
    """Signs a new RFC 7523 assertion for every try of a token call and posts it.

    A :class:`~requests_multiauth.Grant`: :meth:`request` signs a new assertion for each
    try, retries included. Immutable after construction.

    Args:
        issuer: the ``iss`` claim (a client id, a service account's email, a consumer key).
        key: the private key: PEM text or bytes, a path, a JWK mapping, a
            ``cryptography`` key, or a loaded :class:`~requests_multiauth._jose.SigningKey`.
        token_url: the token endpoint; also the default ``aud``.
        subject: the ``sub`` claim; None sends none (Google's access tokens without
            delegation; :class:`JwtBearerAuth` defaults it to *issuer*, as RFC 7523 §3 asks).
        audience: the ``aud`` claim; default *token_url*.
        scope: sent as the ``scope`` form field (RFC 7523 §2.1); a vendor that wants it
            as a claim (Google) passes it in *claims* instead.
        claims: more claims, merged into every assertion; one of :data:`RESERVED_CLAIMS`
            is refused (ConfigurationError).
        kid, alg, password: as for :class:`~requests_multiauth.PrivateKeyJwt`: ``kid`` a
            JWK's own by default, ``alg`` follows the key (RS256, ES256 ...).
        lifetime: seconds each assertion is valid, 1 to 3600 (default 300).
        jti, iat: put a random ``jti`` (RFC 7523 §3 lets a server refuse a replayed one)
            and the ``iat`` in each assertion. A vendor preset whose SDK sends neither, and
            whose server documents neither, switches them off to stay wire-identical.
        params: more form fields, sent as given.
        default_lifetime: the lifetime of an access token whose answer states none.
        parse: reads the answer instead of the standard parser (an ID-token answer).
        refusal_hint: words the advice of a refusal, given its OAuth ``error`` and
            ``error_description`` (the vendor's own words), or None to keep the default:
            :data:`INVALID_GRANT_HINT` for ``invalid_grant``, the generic advice otherwise.

    Raises:
        ConfigurationError: a missing issuer, an unusable key, a bad lifetime, a reserved claim.
        ImportError: PyJWT is not installed (``pip install 'requests-multiauth[jwt]'``).
    """

    name: ClassVar[str] = "jwt_bearer"

    def __init__(
        self,
        issuer: str,
        key: Union[KeyInput, _jose.SigningKey],
        token_url: str,
        *,
        subject: Optional[str] = None,
        audience: Optional[str] = None,
        scope: Scope = None,
        claims: Optional[Mapping[str, Any]] = None,
        kid: Optional[str] = None,
        alg: Optional[str] = None,
        password: Union[str, bytes, None] = None,
        lifetime: float = DEFAULT_JWT_BEARER_LIFETIME,
        jti: bool = True,
        iat: bool = True,
        params: Optional[Mapping[str, str]] = None,
        default_lifetime: Optional[float] = None,
        parse: Optional[Callable[[Any, float, Sequence[Optional[str]]], Token]] = None,
        refusal_hint: Optional[Callable[[str, Optional[str]], Optional[str]]] = None,
    ) -> None:
        self.issuer = _required("issuer", issuer)
        if subject is not None:
            _required("subject", subject)
        self.subject = subject
        self.audience = audience if audience is not None else token_url
        self.scope = _scope_string(scope)
        self.claims = _extra_claims(claims)
        self.lifetime = _jose.assertion_lifetime(
            lifetime,
            maximum=MAX_JWT_BEARER_LIFETIME,
            default=DEFAULT_JWT_BEARER_LIFETIME,
            what="a JWT-bearer assertion",
        )
        self.jti = jti
        self.iat = iat
        self.params: Dict[str, str] = dict(params or {})
        self.default_lifetime = default_lifetime
        if isinstance(key, _jose.SigningKey):
            self.key = key
        else:
            self.key = _jose.load_signing_key(key, alg=alg, password=password, kid=kid, what="the JWT-bearer key")
        self.token_url = token_url
        self._parse = parse
        self._refusal_hint = refusal_hint

    def __repr__(self) -> str:
        return (
            f"JwtBearerGrant(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"audience={self.audience!r}, key={self.key!r})"
        )

    def assertion_claims(self, now: float) -> Dict[str, Any]:
        """The claims of one assertion signed at *now* (epoch seconds)."""
        issued = int(now)
        claims: Dict[str, Any] = {"iss": self.issuer, "aud": self.audience}
        if self.subject is not None:
            claims["sub"] = self.subject
        if self.iat:
            claims["iat"] = issued
        if self.jti:
            claims["jti"] = _secrets.token_urlsafe(24)
        claims["exp"] = issued + self.lifetime
        claims.update(self.claims)
        return claims

    def assertion(self, now: float) -> str:
        """A new signed assertion (a secret: never log it)."""
        return self.key.sign(self.assertion_claims(now))

    def identity(self) -> Mapping[str, Optional[str]]:
        """The public settings that tell tokens apart: never the key, only its public thumbprint."""
        return {
            "token_url": self.token_url,
            "issuer": self.issuer,
            "subject": self.subject,
            "audience": self.audience,
            "scope": self.scope,
            "key_thumbprint": self.key.thumbprint,
            "claims": _mapping_identity(self.claims),
            "params": _mapping_identity(self.params),
        }

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        """One try: the grant type and a newly signed assertion (a secret of this try)."""
        assertion = self.assertion(now)
        form = {"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion}
        if self.scope is not None:
            form["scope"] = self.scope
        form.update(self.params)
        return GrantRequest(form=form, secrets=(assertion,))

    def parse(self, answer: Any, now: float) -> Token:
        if self._parse is not None:
            return self._parse(answer, now, self.secrets)
        return super().parse(answer, now)

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        """:meth:`Grant.fetch`, with an ``invalid_grant`` refusal's advice naming its usual causes."""
        try:
            return super().fetch(endpoint, previous, now)
        except TokenRequestError as exc:
            hint = None
            if self._refusal_hint is not None and exc.error is not None:
                hint = self._refusal_hint(exc.error, exc.error_description)
            if hint is None and exc.error == "invalid_grant":
                hint = INVALID_GRANT_HINT.format(audience=safe_url(self.audience), kid=self.key.kid)
            if hint is None:
                raise
            raise exc.with_hint(hint) from None


class JwtBearerAuth(TokenAuth):
    """Tokens got with a signed JWT as the grant (RFC 7523 §2.1), renewed ahead of expiry.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    single flight, the 401 replay, the retries of token calls (``retry=``) and the
    errors raised are those of :class:`~requests_multiauth.TokenAuth`.

    Every try of a token call (retries too) posts
    ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWS>`` with a
    new assertion: ``iss`` = *issuer*, ``sub`` = *subject* (default *issuer*), ``aud`` =
    *audience* (default *token_url*), ``iat``, ``exp`` = ``iat`` + *lifetime*, a random
    ``jti``, and *claims*; the header carries ``alg`` and ``kid``. The assertion is a
    secret: it is in no repr, log record, error or telemetry event.

    Args:
        issuer: the ``iss`` claim (the client the server knows the key by).
        key: the private key (PEM text or bytes, a path, a JWK mapping, a ``cryptography`` key).
        token_url: the token endpoint (``https://`` only).
        subject: the ``sub`` claim, the identity the token acts for; default *issuer*.
        audience: the ``aud`` claim; default *token_url*.
        scope: the ``scope`` form field (a string or a list).
        claims: more claims for every assertion. The claims the grant sets itself
            (``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``nbf``, ``jti``) are refused
            here with a ConfigurationError that names the argument to use instead.
        kid: the key id in the JWS header (a JWK's own ``kid`` by default).
        alg: the JWS algorithm; it follows the key (RS256 for RSA, ES256/384/512 for
            the P curves, EdDSA); one the key cannot sign with is refused.
        lifetime: seconds each assertion is valid: 300 by default, at most 3600.
        password: the password of an encrypted PEM.
        params: more form fields, sent as given.
        default_lifetime: the access token's lifetime when the answer states none.
        **options: the options of :class:`~requests_multiauth.TokenAuth`.

    An ``invalid_grant`` refusal raises :class:`~requests_multiauth.TokenRequestError`
    whose advice names the usual causes: clock skew beyond the server's allowance, a
    subject that has not consented or been authorized, a wrong audience, an unknown key.

    Raises:
        ConfigurationError: at construction, as :class:`JwtBearerGrant` says.
    """

    def __init__(
        self,
        issuer: str,
        key: KeyInput,
        token_url: str,
        *,
        subject: Optional[str] = None,
        audience: Optional[str] = None,
        scope: Scope = None,
        claims: Optional[Mapping[str, Any]] = None,
        kid: Optional[str] = None,
        alg: Optional[str] = None,
        lifetime: float = DEFAULT_JWT_BEARER_LIFETIME,
        password: Union[str, bytes, None] = None,
        params: Optional[Mapping[str, str]] = None,
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = JwtBearerGrant(
            issuer,
            key,
            token_url,
            subject=subject if subject is not None else issuer,  # RFC 7523 §3: sub is required
            audience=audience,
            scope=scope,
            claims=claims,
            kid=kid,
            alg=alg,
            password=password,
            lifetime=lifetime,
            params=params,
            default_lifetime=default_lifetime,
        )
        self.grant = grant
        super().__init__(grant, token_url, **options)

    @property
    def issuer(self) -> str:
        return self.grant.issuer

    @property
    def subject(self) -> str:
        return self.grant.subject or self.grant.issuer

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        grant = self.grant
        fields: Tuple[Tuple[str, Any], ...] = (("issuer", grant.issuer), *super()._public_fields())
        if grant.subject != grant.issuer:
            fields += (("subject", grant.subject),)
        if grant.scope is not None:
            fields += (("scope", grant.scope),)
        return (*fields, ("key", grant.key))
