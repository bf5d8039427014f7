"""A local RFC 8693 token exchange server, and the workload identity issuer its subject tokens come from.

:class:`WorkloadIssuer` stands for a platform that signs tokens for its workloads
(a Kubernetes API server projecting service-account tokens, a CI system): an RS256
key, an issuer name, and :meth:`~WorkloadIssuer.token` / :meth:`~WorkloadIssuer.verify`.

:class:`TokenExchangeEmulator` is an authorization server that speaks RFC 8693
(https://www.rfc-editor.org/rfc/rfc8693) to the letter and refuses every
deviation with the RFC's error codes: it accepts a subject token that its trusted
issuer signed (signature, ``iss``, ``aud``, ``exp`` checked as a real server
does), or an access token it issued itself (so exchanges chain), an optional
actor token alike, optional client authentication (HTTP Basic or
``client_secret_post``), and answers ``access_token``, ``issued_token_type``,
``token_type`` (``N_A`` for a token that is not an access token, §2.2.1) and
``expires_in``. Its protected API accepts only the access tokens it issued.
Needs PyJWT (``pip install 'requests-multiauth[testing]'``).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from requests.auth import AuthBase

from ._emulator import Issued, ProviderEmulator
from ._server import Reply, Request
from ._wire import basic_credentials, oauth_form, oauth_refusal, same_secret, seconds

__all__ = ["Exchange", "TokenExchangeEmulator", "WorkloadIssuer"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"

#: How much clock skew a subject token's ``exp`` / ``nbf`` is allowed, as servers commonly do.
CLOCK_SKEW = 60


class WorkloadIssuer:
    """A platform's token issuer: an RS256 key that signs workload tokens. Thread-safe.

    Args:
        issuer: the ``iss`` of its tokens (``https://kubernetes.default.svc``).
        clock: the issuer's time, for ``iat`` / ``exp``.
    """

    def __init__(self, issuer: str = "https://kubernetes.default.svc", *, clock: Any = time.time) -> None:
        from .._jose import generate_signing_key

        self.issuer = issuer
        self.clock = clock
        self.key = generate_signing_key("RS256", kid=secrets.token_hex(8))
        self.issued = 0
        self._lock = threading.Lock()

    def token(self, subject: str, audience: str, *, lifetime: float = 3600, **claims: Any) -> str:
        """A signed workload token for *subject*, meant for *audience*."""
        now = int(self.clock())
        with self._lock:
            self.issued += 1
        payload = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + int(lifetime)}
        payload.update(claims)
        return self.key.sign(payload, {"typ": "JWT"})

    def verify(self, token: str, audience: str) -> Dict[str, Any]:
        """The claims of *token* if this issuer signed it for *audience* and it is in date.

        Raises:
            ValueError: it is not (the message says why, as a server's log would).
        """
        import jwt

        try:
            claims: Dict[str, Any] = jwt.decode(
                token,
                self.key.private_key.public_key(),
                algorithms=[self.key.alg],
                audience=audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW,
                # The issuer's clock may be a test's ManualClock, not the machine's: exp is checked on it below.
                options={"require": ["exp", "iat", "sub"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise ValueError(str(exc)) from None
        if int(claims["exp"]) + CLOCK_SKEW <= self.clock():
            raise ValueError("the token has expired")
        return claims

    @property
    def jwks(self) -> Dict[str, Any]:
        """The public key set a relying party would fetch."""
        return {"keys": [{**self.key.public_jwk, "kid": self.key.kid, "alg": self.key.alg, "use": "sig"}]}


@dataclass(frozen=True)
class Exchange:
    """What the server saw of one successful exchange."""

    subject: str
    subject_token_type: str
    actor: Optional[str]
    audience: Tuple[str, ...]
    resource: Tuple[str, ...]
    scope: Optional[str]
    requested_token_type: Optional[str]
    client_id: Optional[str]


class TokenExchangeEmulator(ProviderEmulator):
    """An RFC 8693 authorization server on loopback (see the module docstring).

    Args:
        subject_audience: the ``aud`` a subject token must name (the server's own name).
        clients: registered confidential clients, id to secret; a request that
            authenticates must match one, and with *require_client* one must.
        require_client: refuse requests without client authentication (``invalid_client``).
        issuer: the platform issuer whose JWTs it trusts (a
            :class:`~requests_multiauth.testing.GitHubActionsEmulator`'s ``issuer``,
            say); default a new :class:`WorkloadIssuer`.
        **options: those of :class:`~requests_multiauth.testing.ProviderEmulator`.

    Attributes:
        issuer: the :class:`WorkloadIssuer` whose tokens it trusts as subject and actor tokens.
        exchanges: what each successful exchange carried, in order.
    """

    name = "token-exchange"
    token_path = "/oauth2/token"
    api_path = "/api/"
    default_lifetime = 3600.0

    def __init__(
        self,
        *,
        subject_audience: str = "https://sts.example.test",
        clients: Optional[Mapping[str, str]] = None,
        require_client: bool = False,
        issuer: Optional[WorkloadIssuer] = None,
        **options: Any,
    ) -> None:
        self.subject_audience = subject_audience
        self.clients: Dict[str, str] = dict(clients or {})
        self.require_client = require_client
        self.exchanges: List[Exchange] = []
        super().__init__(**options)
        self.issuer = issuer if issuer is not None else WorkloadIssuer(clock=self.clock)

    def subject_token(self, subject: str = "system:serviceaccount:default:app", **claims: Any) -> str:
        """A subject token this server trusts, signed by :attr:`issuer`."""
        self.issuer.clock = self.clock
        return self.issuer.token(subject, self.subject_audience, **claims)

    def auth(self, **options: Any) -> AuthBase:
        """A :class:`~requests_multiauth.TokenExchangeAuth` at this server; *options*
        win (``subject_token=`` defaults to a fresh token of :attr:`issuer`)."""
        from ..grants.token_exchange import TokenExchangeAuth

        subject = options.pop("subject_token", None) or self.subject_token()
        return TokenExchangeAuth(subject, self.token_url, **self._auth_options(options))

    @property
    def credentials(self) -> Dict[str, str]:
        return {"subject_token": self.subject_token()}

    def environ(self) -> Dict[str, str]:
        return {}

    # -- the token endpoint ---------------------------------------------------------------

    def _token(self, request: Request) -> Reply:
        self._require_method(request, "POST")
        pairs = _pairs(request)
        fields = oauth_form(_single_only(request, pairs))
        client_id = self._client(request, fields)
        if fields.get("grant_type") != GRANT_TYPE:
            raise oauth_refusal("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        subject_token, subject_type = fields.get("subject_token"), fields.get("subject_token_type")
        if not subject_token or not subject_type:
            raise oauth_refusal("invalid_request", "subject_token and subject_token_type are required (RFC 8693 §2.1)")
        subject = self._subject(subject_token, subject_type, "subject_token")
        actor: Optional[str] = None
        if "actor_token" in fields or "actor_token_type" in fields:
            if not fields.get("actor_token") or not fields.get("actor_token_type"):
                raise oauth_refusal("invalid_request", "actor_token_type is required with actor_token, and only then")
            actor = self._subject(fields["actor_token"], fields["actor_token_type"], "actor_token")
        requested = fields.get("requested_token_type")
        if requested is not None and requested not in (ACCESS_TOKEN, JWT, ID_TOKEN):
            raise oauth_refusal("invalid_request", f"requested_token_type {requested!r} is not supported")
        audience = tuple(value for name, value in pairs if name == "audience")
        resource = tuple(value for name, value in pairs if name == "resource")
        for target in resource:
            if not target.startswith("https://"):
                raise oauth_refusal("invalid_target", f"resource {target!r} is not an absolute https URI")
        scope = fields.get("scope")
        claims: Dict[str, Any] = {"aud": list(audience or resource) or None}
        if actor is not None:
            claims["act"] = {"sub": actor}
        token, _ = self._issue(subject, claims={k: v for k, v in claims.items() if v is not None}, scope=scope)
        with self._lock:
            self.exchanges.append(
                Exchange(subject, subject_type, actor, audience, resource, scope, requested, client_id)
            )
        issued_type = requested or ACCESS_TOKEN
        answer: Dict[str, Any] = {
            "access_token": token,
            "issued_token_type": issued_type,
            "token_type": "Bearer" if issued_type == ACCESS_TOKEN else "N_A",
            "expires_in": seconds(self.lifetime),
        }
        if scope:
            answer["scope"] = scope
        return Reply(200, answer, {"Cache-Control": "no-store"})

    def _client(self, request: Request, fields: Dict[str, str]) -> Optional[str]:
        basic = basic_credentials(request)
        if basic is not None:
            client_id, secret = basic
        elif "client_secret" in fields:
            client_id, secret = fields.get("client_id", ""), fields["client_secret"]
        else:
            if self.require_client:
                raise oauth_refusal("invalid_client", "client authentication is required", status=401)
            return fields.get("client_id")
        expected = self.clients.get(client_id)
        if expected is None or not same_secret(secret, expected):
            raise oauth_refusal("invalid_client", "client authentication failed", status=401)
        return client_id

    def _subject(self, token: str, token_type: str, what: str) -> str:
        """The subject a presented token stands for, or an RFC 8693 refusal."""
        if token_type in (JWT, ID_TOKEN):
            self.issuer.clock = self.clock
            try:
                claims = self.issuer.verify(token, self.subject_audience)
            except ValueError as exc:
                raise oauth_refusal("invalid_grant", f"the {what} was refused: {exc}") from None
            return str(claims["sub"])
        if token_type == ACCESS_TOKEN:
            with self._lock:
                issued: Optional[Issued] = self._tokens.get(token)
            if (
                issued is None
                or issued.revoked
                or (issued.expires_at is not None and self.clock() >= issued.expires_at)
            ):
                raise oauth_refusal("invalid_grant", f"the {what} is not a live access token of this server")
            return issued.subject
        raise oauth_refusal("invalid_request", f"{what}_type {token_type!r} is not supported")


def _pairs(request: Request) -> List[Tuple[str, str]]:
    from urllib.parse import parse_qsl

    try:
        return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(request.body))
    except (ValueError, UnicodeDecodeError):
        raise oauth_refusal("invalid_request", "the body is not a valid form") from None


def _single_only(request: Request, pairs: List[Tuple[str, str]]) -> Request:
    """*request* with the repeatable parameters (RFC 8693: ``audience``, ``resource``)
    taken out, so that the form check refuses any other repeated one."""
    from dataclasses import replace
    from urllib.parse import urlencode

    kept = [(name, value) for name, value in pairs if name not in ("audience", "resource")]
    return replace(request, body=urlencode(kept).encode("utf-8"))
