"""OAuth 2.0 Token Exchange (RFC 8693): trade a token the workload holds for another.

A Kubernetes pod, a CI job or another service proves itself with a token its
platform gave it (the *subject token*), and the authorization server answers a
token for the API. :class:`TokenExchangeGrant` says what one exchange sends; the
engine (reuse, renewal ahead, single flight, 401 replay) is inherited, and
:class:`TokenExchangeAuth` is the auth users build.

The subject and actor tokens come from token sources (:mod:`requests_multiauth.sources`)
read afresh at every token call (retries too): a rotated file is picked up, a
function is called again, another auth's token is renewed by that auth. The
answer's ``issued_token_type`` (RFC 8693 §2.2.1) is kept in ``Token.extra``.

The request (RFC 8693 §2.1, https://www.rfc-editor.org/rfc/rfc8693#section-2.1)::

    POST <token_url>
    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    &subject_token=...&subject_token_type=...
    [&actor_token=...&actor_token_type=...] [&requested_token_type=...]
    [&audience=...]* [&resource=...]* [&scope=...] + the client authentication, if any

Where the request goes next: :class:`~requests_multiauth.transport.endpoint.TokenEndpoint`
sends it; the token goes back to the engine, which keeps and renews it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode

from ..auth import TokenAuth, TokenAuthOptions
from ..client_auth import Binding, ClientAuthSpec, resolve_client_auth
from ..errors import ConfigurationError, TokenRequestError
from ..sources import TokenSource, TokenSourceSpec, token_source
from ..token import Token, parse_token_response
from ..transport.endpoint import TokenEndpoint
from .base import Grant, GrantRequest, Scope, _mapping_identity, _scope_string, client_request

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE",
    "TokenExchangeAuth",
    "TokenExchangeGrant",
]

#: The grant type of RFC 8693 §2.1.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

#: Token type identifiers of RFC 8693 §3: a JWT (what platforms issue: Kubernetes,
#: GitHub Actions, GitLab), an OAuth access token, an OpenID Connect ID token.
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"

#: RFC 8693 §2.2.1: ``token_type`` "N_A" says the issued token is not an OAuth access
#: token (an ID token, a SAML assertion). It is still what the client asked for and
#: sends as a bearer credential.
_NOT_APPLICABLE = "n_a"

Targets = Union[str, Sequence[str], None]


def _targets(name: str, value: Targets) -> Tuple[str, ...]:
    """*value* as a tuple of non-empty strings: RFC 8693 allows several ``audience``
    and ``resource`` parameters."""
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigurationError(f"{name} must be a non-empty string or a list of them")
    return items


def _token_type(name: str, value: Optional[str], required: bool = False) -> Optional[str]:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a token type URI such as {JWT_TOKEN_TYPE!r} (RFC 8693 §3)")
    return value


class TokenExchangeGrant(Grant):
    """RFC 8693 token exchange: one POST of the subject (and actor) token, read afresh for every try.

    Client authentication (RFC 8693 §2.1 leaves it to the server): none by default
    (a public client, as Google's STS); ``client_id`` alone is sent in the body;
    with ``client_secret`` HTTP Basic by default; any other method by
    ``client_auth`` (``"post"``, :class:`~requests_multiauth.PrivateKeyJwt`,
    :class:`~requests_multiauth.ClientAssertion` ...).

    Args: as :class:`TokenExchangeAuth`; *params* are extra form fields sent as
    given (Google's ``options``, say).
    """

    name = "token_exchange"

    def __init__(
        self,
        subject_token: TokenSourceSpec,
        *,
        subject_token_type: str = JWT_TOKEN_TYPE,
        actor_token: Optional[TokenSourceSpec] = None,
        actor_token_type: Optional[str] = None,
        requested_token_type: Optional[str] = None,
        audience: Targets = None,
        resource: Targets = None,
        scope: Scope = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        client_auth: Optional[ClientAuthSpec] = None,
        params: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        default_lifetime: Optional[float] = None,
        token_url: str = "",
    ) -> None:
        self.subject: TokenSource = token_source(subject_token, label="subject_token", holds="the subject token")
        self.subject_token_type = _token_type("subject_token_type", subject_token_type, required=True)
        self.actor: Optional[TokenSource] = None
        if actor_token is not None:
            self.actor = token_source(actor_token, label="actor_token", holds="the actor token")
            # RFC 8693 §2.1: actor_token_type is REQUIRED when actor_token is present, absent otherwise.
            self.actor_token_type = _token_type("actor_token_type", actor_token_type, required=True)
        elif actor_token_type is not None:
            raise ConfigurationError(
                "actor_token_type is given without actor_token: RFC 8693 §2.1 sends it only with one"
            )
        else:
            self.actor_token_type = None
        self.requested_token_type = _token_type("requested_token_type", requested_token_type)
        self.audience = _targets("audience", audience)
        self.resource = _targets("resource", resource)
        self.scope = _scope_string(scope)
        self.params: Dict[str, str] = dict(params or {})
        self.headers: Dict[str, str] = dict(headers or {})
        self.default_lifetime = default_lifetime
        self.client_id = client_id
        self._client: Optional[Binding] = None
        self.client_auth = None
        if client_auth is not None or client_secret is not None:
            if not isinstance(client_id, str) or not client_id.strip():
                raise ConfigurationError("client_id is missing: client authentication needs the client's id")
            self.client_auth = resolve_client_auth(client_auth if client_auth is not None else "basic")
            self._client = self.client_auth.bind(client_id, client_secret, token_url=token_url)
        elif client_id is not None and (not isinstance(client_id, str) or not client_id.strip()):
            raise ConfigurationError("client_id is empty: pass the client's id, or None for no client")
        self.secrets = (*(self._client.secrets if self._client else ()), *self.subject.secrets)
        if self.actor is not None:
            self.secrets += self.actor.secrets
        self.cert = self._client.cert if self._client else None
        self._token_url = token_url

    def identity(self) -> Mapping[str, Optional[str]]:
        return {
            **(dict(self._client.identity) if self._client else {}),
            "token_url": self._token_url,
            "client_id": self.client_id,
            "subject": self.subject.identity(),
            "subject_token_type": self.subject_token_type,
            "actor": self.actor.identity() if self.actor is not None else None,
            "actor_token_type": self.actor_token_type,
            "requested_token_type": self.requested_token_type,
            "audience": " ".join(self.audience) or None,
            "resource": " ".join(self.resource) or None,
            "scope": self.scope,
            "params": _mapping_identity(self.params),
        }

    def request(self, previous: Optional[Token], now: float) -> GrantRequest:
        subject = self.subject.token()
        fields: List[Tuple[str, str]] = [("grant_type", TOKEN_EXCHANGE)]
        fields += [("resource", value) for value in self.resource]
        fields += [("audience", value) for value in self.audience]
        if self.scope:
            fields.append(("scope", self.scope))
        if self.requested_token_type:
            fields.append(("requested_token_type", self.requested_token_type))
        fields += [("subject_token", subject), ("subject_token_type", str(self.subject_token_type))]
        secrets: Tuple[str, ...] = (subject,)
        if self.actor is not None:
            actor = self.actor.token()
            fields += [("actor_token", actor), ("actor_token_type", str(self.actor_token_type))]
            secrets += (actor,)
        if self._client is None and self.client_id:
            fields.append(("client_id", self.client_id))  # a public client names itself (RFC 6749 §3.2.1)
        fields += list(self.params.items())
        body = urlencode(fields)
        if self._client is None:
            return GrantRequest(form=body, headers=dict(self.headers), secrets=secrets)
        sending = client_request(self._client, form=body, secrets=secrets)
        if not self.headers:
            return sending
        return GrantRequest(form=sending.form, headers={**sending.headers, **self.headers}, secrets=sending.secrets)

    #: What to check when the server refuses, by RFC 8693 §2.2.2 / RFC 6749 §5.2 error code.
    hints: ClassVar[Mapping[str, str]] = {
        "invalid_grant": (
            "the subject (or actor) token was refused: it may be expired, meant for another audience, or "
            "from an issuer the server does not trust; check the token source and the server's trust settings"
        ),
        "invalid_target": (
            "the server will not issue a token for this audience or resource: check audience= and resource="
        ),
        "invalid_request": (
            "the server found a parameter missing or malformed: check the token types and the fields given"
        ),
    }

    def fetch(self, endpoint: TokenEndpoint, previous: Optional[Token], now: float) -> Token:
        """One exchange. When the server answers ``invalid_grant`` to a subject token that
        another auth gave (revoked before its expiry), that auth renews it and the exchange
        is made once more. A refusal's message says what its error code means here (see
        :attr:`hints`)."""
        sent: List[str] = []

        def make() -> GrantRequest:
            request = self.request(previous, now)
            sent.append(request.secrets[0])  # the subject token, first of the try's secrets
            return request

        def call() -> Token:
            token: Token = endpoint.call(make, parse=functools.partial(self._parse_at, now), grant=self.name)
            return token

        try:
            try:
                return call()
            except TokenRequestError as exc:
                if exc.error != "invalid_grant" or not sent or not self.subject.rejected(sent[-1]):
                    raise
                return call()
        except TokenRequestError as exc:
            hint = self.hints.get(exc.error or "")
            raise (exc.with_hint(hint) if hint else exc) from None

    def parse(self, answer: Any, now: float) -> Token:
        if isinstance(answer, dict) and str(answer.get("token_type", "")).lower() == _NOT_APPLICABLE:
            answer = {**answer, "token_type": "Bearer"}
        return parse_token_response(answer, now=now, default_lifetime=self.default_lifetime, secrets=self.secrets)


class TokenExchangeAuth(TokenAuth):
    """OAuth 2.0 Token Exchange (RFC 8693): a token the workload holds, traded for an API token.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    single flight, the 401 replay, retries and errors are those of
    :class:`~requests_multiauth.TokenAuth`. The subject (and actor) token is read
    from its source at every token call, retries included, never cached here.
    With another auth as the source, that auth keeps and renews its own token, so
    a chain makes one token call per link however many threads wait.

    Args:
        subject_token: a token source (:mod:`requests_multiauth.sources`): a
            ``pathlib.Path`` (re-read when it changes), a callable, another auth,
            :class:`~requests_multiauth.GitHubActionsToken`, or a ``str`` (the token itself).
        token_url: the authorization server's token endpoint.
        subject_token_type: the subject token's type URI (JWT by default).
        actor_token, actor_token_type: the acting party's token (a source) and its type (delegation).
        requested_token_type: the type of token asked for, if not the server's default.
        audience, resource: where the token will be used: a string or a list of them.
        scope: a space-separated string or a list of scopes.
        client_id, client_secret, client_auth: the client's authentication, if the
            server asks for one (see :class:`TokenExchangeGrant`).
        params: extra form fields, sent as given.
        default_lifetime: the lifetime to assume when the answer states none.
        **options: the options of :class:`~requests_multiauth.TokenAuth`.

    Attributes:
        get_token().extra["issued_token_type"]: the type the server issued (RFC 8693 §2.2.1).

    Raises:
        ConfigurationError: at construction, a missing file, an empty literal, an
            actor token without its type, client authentication without a client id.
        TokenRequestError: at a token call, the subject token could not be read (the
            message names the file or function), or the server refused (``invalid_grant``:
            the subject token is expired, of the wrong audience or not trusted).
    """

    def __init__(
        self,
        subject_token: TokenSourceSpec,
        token_url: str,
        *,
        subject_token_type: str = JWT_TOKEN_TYPE,
        actor_token: Optional[TokenSourceSpec] = None,
        actor_token_type: Optional[str] = None,
        requested_token_type: Optional[str] = None,
        audience: Targets = None,
        resource: Targets = None,
        scope: Scope = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        client_auth: Optional[ClientAuthSpec] = None,
        params: Optional[Mapping[str, str]] = None,
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = TokenExchangeGrant(
            subject_token,
            subject_token_type=subject_token_type,
            actor_token=actor_token,
            actor_token_type=actor_token_type,
            requested_token_type=requested_token_type,
            audience=audience,
            resource=resource,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
            client_auth=client_auth,
            params=params,
            default_lifetime=default_lifetime,
            token_url=token_url,
        )
        self.subject_token = grant.subject
        self.audience = grant.audience
        self.scope = grant.scope
        self.client_id = client_id
        super().__init__(grant, token_url, **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        audience = (("audience", " ".join(self.audience)),) if self.audience else ()
        scope = (("scope", self.scope),) if self.scope else ()
        client = (("client_id", self.client_id),) if self.client_id else ()
        return (*client, *super()._public_fields(), ("subject_token", self.subject_token), *audience, *scope)
