"""The five providers' presets: the generic auths with each provider's documented defaults.

Every default here comes from the provider's own authentication page and can
be overridden by keyword. Each preset has ``from_env()``, which reads the
credentials from documented environment variables.

========================  ===================================  =====================================
preset                    scheme                               environment variables
========================  ===================================  =====================================
``RatedAuth``             static JWT, made in the browser      ``RATED_TOKEN``
``OpsNowAuth``            API key exchanged for a token        ``OPSNOW_API_KEY`` (``OPSNOW_TOKEN_URL``)
``CognitoAuth``           OAuth 2.0 client credentials         ``COGNITO_CLIENT_ID``, ``COGNITO_CLIENT_SECRET``,
                                                               ``COGNITO_TOKEN_URL`` (``COGNITO_SCOPE``)
``DataloyAuth``           JSON client credentials + audience   ``DATALOY_CLIENT_ID``, ``DATALOY_CLIENT_SECRET``,
                                                               ``DATALOY_TOKEN_URL`` (``DATALOY_AUDIENCE``)
``DiagramsAuth``          client credentials + refresh token   ``DIAGRAMS_APPLICATION_ID``,
                                                               ``DIAGRAMS_APPLICATION_SECRET`` (``DIAGRAMS_TOKEN_URL``)
========================  ===================================  =====================================

Variables in parentheses are optional. Each renewing preset also reads
``<PROVIDER>_CA_BUNDLE`` (``OPSNOW_CA_BUNDLE``, ``COGNITO_CA_BUNDLE``,
``DATALOY_CA_BUNDLE``, ``DIAGRAMS_CA_BUNDLE``), if set: the path of a CA bundle
that its token calls trust (``verify=``), for a provider behind a private CA or a
local test provider. It applies to that preset's token calls only, unlike
``REQUESTS_CA_BUNDLE``, which changes every request of the process.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence

from ..auth import TokenAuthOptions
from ..client_auth import ClientAuthSpec
from ..engine.manager import Clock
from ..errors import ConfigurationError
from ..grants.base import Scope
from ..presentation import AUTHORIZATION
from ..standard import ApiKeyTokenAuth, AudienceClientCredentialsAuth, ClientCredentialsAuth
from ..static import EXPIRY_WARNING, StaticTokenAuth

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "COGNITO_SCOPE_EXAMPLE",
    "DATALOY_AUDIENCE",
    "DIAGRAMS_TOKEN_URL",
    "OPSNOW_TOKEN_URL",
    "OPSNOW_TOKEN_URLS",
    "RATED_TOKEN_PAGE",
    "CognitoAuth",
    "DataloyAuth",
    "DiagramsAuth",
    "OpsNowAuth",
    "RatedAuth",
]

#: Where slaOS makes a machine-to-machine token (run in the logged-in browser).
RATED_TOKEN_PAGE = "/api/slaos/v1/users/m2m-token"

#: OpsNow's API-key exchange, and the same path on its other hosts.
OPSNOW_TOKEN_URL = "https://api.opsnow.io/platform/v2/identity/api-keys/token"
OPSNOW_TOKEN_URLS = (
    OPSNOW_TOKEN_URL,
    "https://api.opsnow360.io/platform/v2/identity/api-keys/token",
    "https://api.kr.opsnow360.io/platform/v2/identity/api-keys/token",
)
#: "the access token and its expiration time (3600s) are returned"
OPSNOW_TOKEN_LIFETIME = 3600.0

#: The scope in the Cognito-hosted API's example; Cognito grants every allowed
#: scope of the client when none is asked for, so it is not a default.
COGNITO_SCOPE_EXAMPLE = "api/write"

#: Dataloy's production audience; "https://dataloy.dev" for test and DEV.
DATALOY_AUDIENCE = "https://dataloy"

#: Diagrams Technologies' token endpoint (early versions of its page wrote
#: ``/v0/oauth2token``, a typo the provider fixed).
DIAGRAMS_TOKEN_URL = "https://api.diagrams-technologies.com/v0/oauth2/token"
#: The scope Diagrams' refresh request sends.
DIAGRAMS_REFRESH_SCOPE = "data"


def _env(
    cls: type,
    environ: Optional[Mapping[str, str]],
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> Dict[str, str]:
    """Read *required* and *optional* variables; name every missing required one.

    The message is for someone in Python (a script, a notebook): it says how to
    set the variable from there, not only in a shell. (The command line checks
    the variables itself first and words it for the shell.)
    """
    source = os.environ if environ is None else environ
    missing = [name for name in required if not source.get(name, "").strip()]
    if missing:
        names = ", ".join(missing)
        where = "in the environ= mapping" if environ is not None else "in the environment"
        raise ConfigurationError(
            f"{names} {'are' if len(missing) > 1 else 'is'} not set {where}: "
            f"set it before Python starts (export {missing[0]}=...), or from Python with "
            f"os.environ[{missing[0]!r}] = ..., or pass the values: "
            f"{cls.__name__}.from_env(environ={{...}}), e.g. dotenv_values('.env')"
        )
    return {name: source[name].strip() for name in (*required, *optional) if source.get(name, "").strip()}


def _trust(variable: str, env: Mapping[str, str], options: Dict[str, Any]) -> None:
    """Apply ``<PROVIDER>_CA_BUNDLE`` (if set, and no session or verify is given) as ``verify=``."""
    path = env.get(variable)
    if path is None or "session" in options or "verify" in options:
        return
    if not os.path.isfile(path):
        raise ConfigurationError(f"{variable} names {path!r}, which is not a file: give the path of a PEM CA bundle")
    options["verify"] = path


class RatedAuth(StaticTokenAuth):
    """Rated's slaOS API: the year-long JWT made in the browser, sent as a bearer token.

    Warns 30 days before the token expires and raises ``TokenExpiredError``
    instead of sending it after. Make a token by logging into slaOS and running
    ``fetch('/api/slaos/v1/users/m2m-token')`` in the browser console.

    Takes the options that apply to a token it cannot renew: ``header_name``,
    ``expires_at``, ``warn_before``, ``clock`` and ``allow_insecure_loopback``
    (see :class:`~requests_multiauth.StaticTokenAuth`). It makes no token call,
    so ``leeway``, ``cache``, ``session``, ``verify``, ``timeout`` and ``retry``
    do not apply.

    Environment: ``RATED_TOKEN``.
    """

    def __init__(
        self,
        token: str,
        *,
        header_name: str = AUTHORIZATION,
        expires_at: Optional[float] = None,
        warn_before: float = EXPIRY_WARNING,
        clock: Clock = time.time,
        allow_insecure_loopback: bool = False,
    ) -> None:
        super().__init__(
            token,
            renew_hint=(
                "make a new one in slaOS: log in, then run "
                f"fetch('{RATED_TOKEN_PAGE}').then(r => r.json()).then(j => console.log(j.jwt)) "
                "in the browser console"
            ),
            header_name=header_name,
            expires_at=expires_at,
            warn_before=warn_before,
            clock=clock,
            allow_insecure_loopback=allow_insecure_loopback,
        )

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any) -> RatedAuth:
        """Build from ``RATED_TOKEN``."""
        env = _env(cls, environ, ["RATED_TOKEN"])
        return cls(env["RATED_TOKEN"], **options)


class OpsNowAuth(ApiKeyTokenAuth):
    """OpsNow: an API key exchanged for a bearer token that lives 3600 s.

    *token_url* defaults to ``api.opsnow.io``; ``OPSNOW_TOKEN_URLS`` lists the
    same exchange on ``api.opsnow360.io`` and ``api.kr.opsnow360.io``.

    Environment: ``OPSNOW_API_KEY``, optionally ``OPSNOW_TOKEN_URL``.
    """

    def __init__(
        self,
        api_key: str,
        *,
        token_url: str = OPSNOW_TOKEN_URL,
        default_lifetime: float = OPSNOW_TOKEN_LIFETIME,
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(api_key, token_url, default_lifetime=default_lifetime, **options)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any) -> OpsNowAuth:
        """Build from ``OPSNOW_API_KEY`` (and ``OPSNOW_TOKEN_URL``, ``OPSNOW_CA_BUNDLE`` if set)."""
        env = _env(cls, environ, ["OPSNOW_API_KEY"], ["OPSNOW_TOKEN_URL", "OPSNOW_CA_BUNDLE"])
        _trust("OPSNOW_CA_BUNDLE", env, options)
        if "OPSNOW_TOKEN_URL" in env:
            options.setdefault("token_url", env["OPSNOW_TOKEN_URL"])
        return cls(env["OPSNOW_API_KEY"], **options)


class CognitoAuth(ClientCredentialsAuth):
    """An API behind AWS Cognito: standard OAuth 2.0 client credentials.

    POSTs ``grant_type=client_credentials`` (and ``scope``) as a form, with the
    client id and secret in an HTTP Basic header (``client_auth="post"`` puts
    them in the body). Cognito issues no refresh token: each renewal is a new
    grant, and Cognito bills each one, so tokens are reused until they expire.

    Environment: ``COGNITO_CLIENT_ID``, ``COGNITO_CLIENT_SECRET``,
    ``COGNITO_TOKEN_URL``, optionally ``COGNITO_SCOPE``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: Optional[str] = None,
        scope: Scope = None,
        *,
        client_auth: ClientAuthSpec = "basic",
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(client_id, client_secret, token_url, scope=scope, client_auth=client_auth, **options)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any) -> CognitoAuth:
        """Build from ``COGNITO_CLIENT_ID``, ``COGNITO_CLIENT_SECRET``,
        ``COGNITO_TOKEN_URL`` and, if set, ``COGNITO_SCOPE`` and ``COGNITO_CA_BUNDLE``."""
        env = _env(
            cls,
            environ,
            ["COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET", "COGNITO_TOKEN_URL"],
            ["COGNITO_SCOPE", "COGNITO_CA_BUNDLE"],
        )
        _trust("COGNITO_CA_BUNDLE", env, options)
        if "COGNITO_SCOPE" in env:
            options.setdefault("scope", env["COGNITO_SCOPE"])
        return cls(env["COGNITO_CLIENT_ID"], env["COGNITO_CLIENT_SECRET"], env["COGNITO_TOKEN_URL"], **options)


class DataloyAuth(AudienceClientCredentialsAuth):
    """Dataloy: client credentials as JSON with an ``audience``.

    *audience* defaults to production's ``https://dataloy``; test and DEV use
    ``https://dataloy.dev``. Dataloy answers an expired token with 401
    ``"Token expired."``, which renews the token and replays the request.

    Environment: ``DATALOY_CLIENT_ID``, ``DATALOY_CLIENT_SECRET``,
    ``DATALOY_TOKEN_URL``, optionally ``DATALOY_AUDIENCE``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: Optional[str] = None,
        token_url: Optional[str] = None,
        audience: Optional[str] = DATALOY_AUDIENCE,
        *,
        params: Optional[Mapping[str, Any]] = None,
        client_auth: ClientAuthSpec = "post",
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(
            client_id, client_secret, token_url, audience=audience, params=params, client_auth=client_auth, **options
        )

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any) -> DataloyAuth:
        """Build from ``DATALOY_CLIENT_ID``, ``DATALOY_CLIENT_SECRET``,
        ``DATALOY_TOKEN_URL`` and, if set, ``DATALOY_AUDIENCE`` and ``DATALOY_CA_BUNDLE``."""
        env = _env(
            cls,
            environ,
            ["DATALOY_CLIENT_ID", "DATALOY_CLIENT_SECRET", "DATALOY_TOKEN_URL"],
            ["DATALOY_AUDIENCE", "DATALOY_CA_BUNDLE"],
        )
        _trust("DATALOY_CA_BUNDLE", env, options)
        if "DATALOY_AUDIENCE" in env:
            options.setdefault("audience", env["DATALOY_AUDIENCE"])
        return cls(env["DATALOY_CLIENT_ID"], env["DATALOY_CLIENT_SECRET"], env["DATALOY_TOKEN_URL"], **options)


class DiagramsAuth(ClientCredentialsAuth):
    """Diagrams Technologies: client credentials with Basic auth, renewed by refresh token.

    The first token comes from ``grant_type=client_credentials``; renewals send
    ``grant_type=refresh_token&scope=data&refresh_token=...`` while the refresh
    token lives, and fall back to a new client-credentials grant if it is
    refused or expired. Renewal follows ``expires_in`` / ``expiration_date``,
    a 401, or the JWT ``exp``, whichever the answer offers. The application
    authenticates with HTTP Basic, as the provider documents; ``client_auth=``
    takes any other method (then *application_secret* is optional where the
    method needs none).

    Environment: ``DIAGRAMS_APPLICATION_ID``, ``DIAGRAMS_APPLICATION_SECRET``,
    optionally ``DIAGRAMS_TOKEN_URL``.
    """

    def __init__(
        self,
        application_id: str,
        application_secret: Optional[str] = None,
        *,
        token_url: str = DIAGRAMS_TOKEN_URL,
        refresh_scope: Scope = DIAGRAMS_REFRESH_SCOPE,
        client_auth: ClientAuthSpec = "basic",
        **options: Unpack[TokenAuthOptions],
    ) -> None:
        super().__init__(
            application_id,
            application_secret,
            token_url,
            client_auth=client_auth,
            refresh_scope=refresh_scope,
            **options,
        )

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any) -> DiagramsAuth:
        """Build from ``DIAGRAMS_APPLICATION_ID``, ``DIAGRAMS_APPLICATION_SECRET``
        and, if set, ``DIAGRAMS_TOKEN_URL`` and ``DIAGRAMS_CA_BUNDLE``."""
        env = _env(
            cls,
            environ,
            ["DIAGRAMS_APPLICATION_ID", "DIAGRAMS_APPLICATION_SECRET"],
            ["DIAGRAMS_TOKEN_URL", "DIAGRAMS_CA_BUNDLE"],
        )
        _trust("DIAGRAMS_CA_BUNDLE", env, options)
        if "DIAGRAMS_TOKEN_URL" in env:
            options.setdefault("token_url", env["DIAGRAMS_TOKEN_URL"])
        return cls(env["DIAGRAMS_APPLICATION_ID"], env["DIAGRAMS_APPLICATION_SECRET"], **options)
