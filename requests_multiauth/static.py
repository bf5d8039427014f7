"""StaticTokenAuth: a token made elsewhere, sent as is, never renewed.

A source of one token for the shared request flow (:mod:`requests_multiauth.flow`):
before each use the token's expiry (its JWT ``exp``, read unverified, or the
one given) is checked, warned about a month ahead and refused once past; a 401
cannot be answered with a new token, so it is returned with a logged hint.

Where the request goes next: the flow presents the token (presentation.py).
"""

from __future__ import annotations

import logging
import time
import warnings
from datetime import datetime, timezone
from typing import Any, Dict, Optional

import requests

from ._display import Rows, describe_expiry
from .engine.manager import Clock
from .errors import ConfigurationError, TokenExpiredError, TokenExpiryWarning
from .flow import RequestFlow
from .presentation import AUTHORIZATION, presenter_for
from .telemetry import AuthTelemetry, log_fields
from .token import Token, jwt_expiry
from .transport.urls import origin, safe_url

__all__ = ["EXPIRY_WARNING", "StaticTokenAuth"]

log = logging.getLogger("requests_multiauth")

#: How long before a static token's expiry users are warned (the Rated token
#: lives a year; a month leaves time to make a new one).
EXPIRY_WARNING = 30 * 24 * 3600.0


class StaticTokenAuth(RequestFlow):
    """A fixed bearer token, made elsewhere: a token source that never renews.

    Safe for concurrent use. It makes no token call, so nothing is retried. It
    goes through the same request flow as :class:`TokenAuth` (header, response
    hook, redirects, the replay path of :class:`~requests_multiauth.AuthAdapter`),
    except that a 401 cannot be answered with a new token.

    If the token is a JWT with an ``exp`` claim (read, not verified), a
    :class:`~requests_multiauth.TokenExpiryWarning` is issued once when fewer
    than *warn_before* seconds remain, and :class:`~requests_multiauth.TokenExpiredError`
    is raised, before any connection, instead of sending it once it has expired.
    Any other token is sent as is. A 401 is returned to the caller with a logged
    hint: there is nothing to renew.

    Args:
        token: the bearer token.
        expires_at: the expiry in epoch seconds, if known and not in the token.
        warn_before: seconds before expiry from which to warn.
        renew_hint: where a new token is made, for messages.
        clock, allow_insecure_loopback, header_name: as for :class:`TokenAuth`.

    Attributes:
        telemetry: the 401s it could not answer (``not_replayed``), as for :class:`TokenAuth`.
    """

    _renews = False

    def __init__(
        self,
        token: str,
        *,
        expires_at: Optional[float] = None,
        warn_before: float = EXPIRY_WARNING,
        renew_hint: str = "make a new token where this one was made",
        clock: Clock = time.time,
        allow_insecure_loopback: bool = False,
        header_name: str = AUTHORIZATION,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ConfigurationError("the token is missing or empty: pass it as a non-empty string")
        token = token.strip()
        self._presenter = presenter_for(header_name)
        self.allow_insecure_loopback = allow_insecure_loopback
        self.renew_hint = renew_hint
        self.telemetry = AuthTelemetry(type(self).__name__)
        self._clock = clock
        expiry = expires_at if expires_at is not None else jwt_expiry(token)
        self._fixed = Token(access_token=token, expires_at=expiry)
        self._warn_at = expiry - warn_before if expiry is not None else None
        self._warned = False

    def get_token(self) -> Token:
        """The token, after the expiry check (which may warn or raise)."""
        return self._token()

    def close(self) -> None:
        """Nothing to release: present so that every auth can be closed alike."""

    def __getstate__(self) -> Dict[str, Any]:
        # Pickled with its token and settings (a session holding it may be); its
        # telemetry counts this process's events and starts anew in the other.
        state = self.__dict__.copy()
        del state["telemetry"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.telemetry = AuthTelemetry(type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={self._fixed!r})"

    def display_rows(self) -> Rows:
        """What IPython and Jupyter show of this auth; never the token."""
        expiry = self._fixed.expires_at
        now = self._clock()
        if expiry is None:
            state = "sent as is (no expiry known); cannot be renewed here"
        elif now >= expiry:
            state = f"expired: requests raise TokenExpiredError; {self.renew_hint}"
        elif self._warn_at is not None and now >= self._warn_at:
            state = "valid, expires soon; cannot be renewed here"
        else:
            state = "valid; cannot be renewed here"
        rows = [("token", state), ("expires", describe_expiry(expiry, now))]
        if self.header_name != AUTHORIZATION:
            rows.append(("header", self.header_name))
        rows.append(("token calls so far", "none: the token was made elsewhere"))
        return rows

    # -- the source: one token, checked for expiry before each use ------------------------------

    def _token(self) -> Token:
        if self._warn_at is not None:
            self._check_expiry()
        return self._fixed

    def _check_expiry(self) -> None:
        expiry = self._fixed.expires_at
        if expiry is None or self._warn_at is None:
            return
        now = self._clock()
        if now < self._warn_at:
            return
        when = datetime.fromtimestamp(expiry, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if now >= expiry:
            raise TokenExpiredError(
                f"the token expired on {when}; it cannot be renewed automatically: {self.renew_hint}"
            )
        if not self._warned:
            self._warned = True
            days = (expiry - now) / 86400
            warnings.warn(
                TokenExpiryWarning(f"the token expires on {when} (in {days:.0f} days): {self.renew_hint}"),
                stacklevel=5,
            )

    def _not_replayed(
        self, response: requests.Response, token: Token, sent_url: str, reason: str, decision: Any
    ) -> None:
        """A static token cannot be renewed: a 401 from its origin is logged with where to make a new one."""
        where = safe_url(response.url or sent_url)
        if origin(response.url or sent_url) != origin(sent_url):
            return
        log.warning(
            "%s answered 401 to the static token: it may be revoked or expired; %s",
            where,
            self.renew_hint,
            extra=log_fields("static_token.rejected", auth=type(self).__name__, url=where),
        )
