"""The standard renewing auths: one :class:`~requests_multiauth.TokenAuth` subclass per built-in grant.

:class:`ClientCredentialsAuth` (RFC 6749 §4.4 as a form, with refresh tokens when
offered, and discovery through ``from_issuer``), :class:`AudienceClientCredentialsAuth`
(the same as JSON with an ``audience``) and :class:`ApiKeyTokenAuth` (an API key
exchanged for a token). Each only builds its grant (grants/base.py); the flow,
the engine and the transport are :class:`~requests_multiauth.TokenAuth`'s.

Where the request goes next: :mod:`requests_multiauth.auth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Tuple

from .auth import TokenAuth, TokenAuthOptions
from .client_auth import ClientAuth, ClientAuthSpec
from .grants.base import ApiKeyGrant, ClientCredentialsGrant, JsonClientCredentialsGrant, Scope

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

__all__ = ["ApiKeyTokenAuth", "AudienceClientCredentialsAuth", "ClientCredentialsAuth"]


class ClientCredentialsAuth(TokenAuth):
    """OAuth 2.0 client credentials (RFC 6749 §4.4), with refresh tokens when offered.

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    the 401 replay, the retries of token calls (``retry=``) and the errors raised
    are those of :class:`TokenAuth`.

    The token request is a form body built by oauthlib, with the client
    authenticated by HTTP Basic (``client_auth="basic"``, the default),
    ``"basic_urlencoded"`` (RFC 6749 §2.3.1) or ``"post"`` (in the body), or by
    any method of :mod:`~requests_multiauth.client_auth`: an RFC 8414 name
    (``"client_secret_jwt"`` ...) or an object such as
    :class:`~requests_multiauth.PrivateKeyJwt`,
    :class:`~requests_multiauth.ClientAssertion` or
    :class:`~requests_multiauth.TlsClientAuth`.

    Args:
        client_id: the client's id.
        client_secret: the client's secret; None (the default) for a method
            that needs none. A method that needs one raises ConfigurationError without it.
        token_url: the token endpoint; required (by keyword when *client_secret*
            is left out: ``ClientCredentialsAuth(client_id, token_url=...,
            client_auth=PrivateKeyJwt(key))``). Missing, it is a ConfigurationError.
        scope: a space-separated string or a list of scopes; a narrower granted
            scope is accepted. By keyword, or positional after *token_url*.
        client_auth: how the client authenticates, see above.
        params: extra form fields sent as given (``resource``, ``audience`` ...).
        refresh_scope: the ``scope`` sent with a refresh-token request.
        use_refresh_token: renew with the refresh token when the answer has one.
        default_lifetime: the lifetime to assume when an answer states none.
        **options: the options of :class:`TokenAuth` (leeway, cache, session, ...).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: Optional[str] = None,
        scope: Scope = None,
        *,
        client_auth: ClientAuthSpec = "basic",
        params: Optional[Mapping[str, str]] = None,
        refresh_scope: Scope = None,
        use_refresh_token: bool = True,
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = ClientCredentialsGrant(
            client_id,
            client_secret,
            scope=scope,
            client_auth=client_auth,
            params=params,
            refresh_scope=refresh_scope,
            use_refresh_token=use_refresh_token,
            default_lifetime=default_lifetime,
            token_url=token_url or "",
        )
        self.client_id = grant.client_id
        self.scope = grant.scope
        self.client_auth = grant.client_auth
        super().__init__(grant, token_url or "", **options)

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        client_secret: Optional[str] = None,
        *,
        client_auth: Optional[ClientAuthSpec] = None,
        allow_insecure_loopback: bool = False,
        **options: Any,
    ) -> Self:
        """An auth for the authorization server *issuer*, configured from its
        discovery document (RFC 8414 / OpenID Connect Discovery; see
        :func:`~requests_multiauth.discover`).

        The token endpoint comes from the document. Without *client_auth*, the
        method is chosen from ``token_endpoint_auth_methods_supported``
        (``client_secret_basic``, then ``client_secret_post``, when a secret is
        given); an explicit *client_auth* the server does not list is refused.
        Signed assertions (``ClientSecretJwt``, ``PrivateKeyJwt``) name the issuer
        as their ``aud`` unless given one, and a ``TlsClientAuth`` client sends
        its token requests to the document's ``mtls_endpoint_aliases`` token
        endpoint when it has one. The document is fetched once per issuer per process (cached for an
        hour), with the ``session`` and ``timeout`` given in *options*.

        Args:
            issuer: the issuer, exactly as the server states it.
            client_id, client_secret: the client's credentials.
            client_auth: how the client authenticates (see the class); chosen
                from the server's list when omitted.
            allow_insecure_loopback: as for :class:`TokenAuth`.
            **options: every other option of this class, passed through.

        Raises:
            DiscoveryError: the document could not be had, or names another issuer.
            ConfigurationError: the server does not list *client_auth*, or lists
                no method these credentials can use.
        """
        from .discovery import choose_client_auth, discover

        session = options.get("session")
        timeout = options.get("timeout")
        metadata = discover(
            issuer,
            session=session,
            allow_insecure_loopback=allow_insecure_loopback,
            **({"timeout": timeout} if timeout is not None else {}),
        )
        choice = choose_client_auth(metadata, client_auth, has_secret=client_secret is not None)
        return cls(
            client_id,
            client_secret,
            token_url=choice.token_url,
            client_auth=choice.client_auth,
            allow_insecure_loopback=allow_insecure_loopback,
            **options,
        )

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        scope = (("scope", self.scope),) if self.scope is not None else ()
        return (("client_id", self.client_id), *super()._public_fields(), *scope, *_method_field(self.client_auth))


class AudienceClientCredentialsAuth(TokenAuth):
    """Client credentials as a JSON body with an ``audience`` (Auth0-style APIs).

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    the 401 replay, the retries of token calls (``retry=``) and the errors raised
    are those of :class:`TokenAuth`.

    Sends ``{"client_id", "client_secret", "audience", "grant_type":
    "client_credentials"}`` plus *params*. With ``client_auth="basic"`` the id
    and secret travel in an HTTP Basic header instead of the body; any method of
    :mod:`~requests_multiauth.client_auth` may be given (*client_secret* is then
    optional where the method needs none).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: Optional[str] = None,
        *,
        audience: Optional[str],
        params: Optional[Mapping[str, Any]] = None,
        client_auth: ClientAuthSpec = "post",
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = JsonClientCredentialsGrant(
            client_id,
            client_secret,
            audience=audience,
            params=params,
            client_auth=client_auth,
            default_lifetime=default_lifetime,
            token_url=token_url or "",
        )
        self.client_id = grant.client_id
        self.audience = audience
        self.client_auth = grant.client_auth
        super().__init__(grant, token_url or "", **options)

    def _public_fields(self) -> Tuple[Tuple[str, Any], ...]:
        return (
            ("client_id", self.client_id),
            *super()._public_fields(),
            ("audience", self.audience),
            *_method_field(self.client_auth),
        )


def _method_field(client_auth: ClientAuth) -> Tuple[Tuple[str, Any], ...]:
    """The client authentication for a repr, unless it is a shared secret (as before it could be anything else)."""
    if client_auth.needs_secret and client_auth.method != "client_secret_jwt":
        return ()
    return (("client_auth", client_auth),)


class ApiKeyTokenAuth(TokenAuth):
    """An API key exchanged for a short-lived access token (POST JSON ``{"apiKey": ...}``).

    Safe for concurrent use, and meant to be shared: reuse, renewal ahead of expiry,
    the 401 replay (a new exchange), the retries of token calls (``retry=``) and the errors raised
    are those of :class:`TokenAuth`.

    Args:
        api_key: the key; a secret, never shown.
        token_url: the exchange endpoint.
        field: the JSON field that carries the key.
        params: extra JSON fields sent as given.
        default_lifetime: the lifetime to assume when the answer states none.
    """

    def __init__(
        self,
        api_key: str,
        token_url: str,
        *,
        field: str = "apiKey",
        params: Optional[Mapping[str, Any]] = None,
        default_lifetime: Optional[float] = None,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        grant = ApiKeyGrant(api_key, field=field, params=params, default_lifetime=default_lifetime, token_url=token_url)
        super().__init__(grant, token_url, **options)
