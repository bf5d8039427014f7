"""Failure holds: after a failed token call, the same error again for a while, without a new call.

When a token call fails and no valid token is left, :class:`FailureHold` keeps the
error, and the :class:`~requests_multiauth.engine.manager.TokenManager` raises it
again to every caller until the hold ends: rejected credentials are not re-sent by
every request of a busy service. The hold starts at :data:`FAILURE_HOLD_MIN` and
doubles with each failure in a row, up to :data:`FAILURE_HOLD_MAX`.

With a cache that keeps failures
(:class:`~requests_multiauth.caches.base.FailureSharingTokenCache`), the hold is shared:
each failure is recorded beside the token entry, and the other processes and hosts
raise it too, instead of each making its own token call.

Where the request goes next: back to the caller, as the held error; when the hold is
over, to the manager's one token call.
"""

from __future__ import annotations

import copy
import logging
from typing import Callable, Optional

from ..caches.base import FailureSharingTokenCache, SharedFailure, TokenCache
from ..errors import MultiAuthError
from ..telemetry import AuthTelemetry
from ..transport.retry import doubling

__all__ = ["FAILURE_HOLD_MAX", "FAILURE_HOLD_MIN", "FailureHold"]

log = logging.getLogger("requests_multiauth")

#: After a token call fails with no valid token left, callers get the same error
#: without a new call for this long, doubling up to FAILURE_HOLD_MAX: rejected
#: credentials are not re-sent by every request of a busy service.
FAILURE_HOLD_MIN = 1.0
FAILURE_HOLD_MAX = 30.0

#: The count of failures in a row stops growing here: the hold stopped growing long
#: before (at FAILURE_HOLD_MAX), and a count read from a shared cache stays small.
_MAX_FAILURES = 64


class FailureHold:
    """The last failed token call of one token manager, while it is held.

    Not safe for concurrent use by itself: the manager calls it while it holds its
    own lock (the one held by whoever is getting a new token).

    Args:
        name: how logs name the owner (never a secret).
        clock: returns the time in epoch seconds (the manager's).
        telemetry: where each raise of a held failure is recorded.
    """

    def __init__(self, *, name: str, clock: Callable[[], float], telemetry: AuthTelemetry) -> None:
        self.error: Optional[MultiAuthError] = None  # held until self._until, if not None
        self._until = 0.0
        self._failures = 0  # token calls failed in a row
        self._name = name
        self._clock = clock
        self._telemetry = telemetry

    def clear(self) -> None:
        """Forget the failure: a token came, or the held token was invalidated."""
        self.error = None
        self._failures = 0

    def raise_if_held(self, now: float) -> None:
        """Raise the held error again (a copy, without the first raise's traceback) while its hold lasts."""
        error = self.error
        if error is not None and now < self._until:
            self._note(error, self._until - now, "reusing the last token call's failure")
            raise copy.copy(error).with_traceback(None)

    def check_shared(self, cache: TokenCache, key: str, now: float, fresh: bool) -> Optional[SharedFailure]:
        """The fleet's record of the last failed token call, if the cache keeps one.
        Raises the recorded error while its hold lasts (and holds it here too, unless
        *fresh*, so that this process does not ask the cache again before then); returns
        the record otherwise, whose count of failures the next hold grows from. A record
        that outlived its hold by FAILURE_HOLD_MAX is forgotten: the count starts over."""
        shared = cache.get_failure(key) if isinstance(cache, FailureSharingTokenCache) else None
        if shared is None or now >= shared.until + FAILURE_HOLD_MAX:
            return None
        if now < shared.until:
            error = shared.to_error()
            if not fresh:
                self.error, self._until, self._failures = error, shared.until, shared.failures
            self._note(error, shared.until - now, "another process's token call failed; reusing its failure")
            raise error
        return shared

    def failed(
        self, exc: MultiAuthError, shared: Optional[SharedFailure], *, fresh: bool, cache: TokenCache, key: str
    ) -> None:
        """Hold *exc*, the failure of a token call (unless *fresh*: a failed renewal ahead
        of expiry has its own schedule), counting on from *shared*, what :meth:`check_shared`
        returned; and record it for the processes sharing *cache*, held as long."""
        failures = min(max(self._failures, shared.failures if shared is not None else 0), _MAX_FAILURES) + 1
        if not fresh:
            self._failures = failures
            self.error = exc
            self._until = self._clock() + doubling(FAILURE_HOLD_MIN, FAILURE_HOLD_MAX, failures)
        if isinstance(cache, FailureSharingTokenCache):
            hold = doubling(FAILURE_HOLD_MIN, FAILURE_HOLD_MAX, failures)
            until = self._clock() + hold
            cache.set_failure(key, SharedFailure.of(exc, until=until, failures=failures), hold + FAILURE_HOLD_MAX)

    @staticmethod
    def forget_shared(cache: TokenCache, key: str) -> None:
        """Remove the fleet's record of a failure, after a token call that succeeded."""
        if isinstance(cache, FailureSharingTokenCache):
            cache.delete_failure(key)

    def _note(self, error: MultiAuthError, seconds: float, what: str) -> None:
        """Record and log that a held failure is raised again, for *seconds* more: *what* says whose."""
        held = self._telemetry.record_failure_held(error, seconds)
        log.debug("%s: %s for %.1f s more", self._name, what, seconds, extra=held.log_extra())
