"""Rated's slaOS API: a year-long JWT made in the logged-in browser, sent as a bearer token.

The page (https://docs.rated.co/api-beta/authentication) says: run
``fetch('/api/slaos/v1/users/m2m-token')`` in the browser console of a logged-in
slaOS session; "the token has an expiry date of one year"; it is sent as
``Authorization: Bearer <token>``; "all API requests must be made over HTTPS".
Nothing can renew it, so the preset warns ahead of its expiry and refuses to send
it after.
"""

from __future__ import annotations

import time
from typing import Optional

from ..engine.manager import Clock
from ..presentation import AUTHORIZATION
from ..static import EXPIRY_WARNING, StaticTokenAuth
from .registry import EnvVar, FromEnv, LazyEmulator, Provider

__all__ = ["PROVIDER", "RATED_TOKEN_PAGE", "RatedAuth"]

#: Where slaOS makes a machine-to-machine token (run in the logged-in browser);
#: https://docs.rated.co/api-beta/authentication, "Create token flow".
RATED_TOKEN_PAGE = "/api/slaos/v1/users/m2m-token"


class RatedAuth(FromEnv, StaticTokenAuth):
    """Rated's slaOS API: the year-long JWT made in the browser, sent as a bearer token.

    Warns 30 days before the token expires and raises ``TokenExpiredError``
    instead of sending it after. Make a token by logging into slaOS and running
    ``fetch('/api/slaos/v1/users/m2m-token')`` in the browser console.

    Takes the options that apply to a token it cannot renew: ``header_name``,
    ``expires_at``, ``warn_before``, ``clock`` and ``allow_insecure_loopback``
    (see :class:`~requests_multiauth.StaticTokenAuth`). It makes no token call,
    so ``leeway``, ``cache``, ``session``, ``verify``, ``timeout`` and ``retry``
    do not apply.

    ``from_env()`` reads the variables ``multiauth providers`` lists for ``rated``.
    """

    provider_name = "rated"

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


PROVIDER = Provider(
    name="rated",
    auth_class=RatedAuth,
    env=(EnvVar("RATED_TOKEN", "token", "the slaOS m2m token", secret=True),),
    docs_url="https://docs.rated.co/api-beta/authentication",
    emulator=LazyEmulator("requests_multiauth.testing._providers:RatedEmulator"),
    scheme="static bearer JWT made in the browser (lives a year; not renewable)",
)
