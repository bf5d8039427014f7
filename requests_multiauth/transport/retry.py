"""The one retry policy of the HTTP calls the package makes on its own, with its one backoff and jitter.

Token calls (:mod:`.endpoint`), discovery (:mod:`requests_multiauth.discovery`)
and metadata endpoints retry a transient fault (a connection error, a timeout,
429, 5xx) the same way: :class:`RetryPolicy` says how many tries, how long to
wait before each (``Retry-After`` when the server says, else an exponential
backoff with :func:`jitter`), and within what total budget; :func:`retrying`
runs one call under it. :class:`~requests_multiauth.MultiAuthSession` keeps
urllib3's ``Retry`` for the user's own API requests, with its numbers and its
jitter from here. The file and Redis caches' lock waits jitter with :func:`jitter` too.

Where the request goes next: the caller's one try (a token POST, a discovery GET).
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Callable, FrozenSet, NoReturn, Optional, Tuple, TypeVar, Union

from ..errors import ConfigurationError
from .answer import DEFAULT_MAX_ANSWER_BYTES

__all__ = [
    "DEFAULT_RETRY",
    "TRANSIENT_STATUSES",
    "RetryPolicy",
    "Timeout",
    "Transient",
    "doubling",
    "jitter",
    "parse_retry_after",
    "retrying",
    "timeouts",
]

T = TypeVar("T")

#: A timeout as requests takes it: one number for connect and read, or a (connect, read) pair.
Timeout = Union[float, Tuple[float, float]]

#: The share of a wait that jitter may take off (up to half), so that many
#: clients failing together do not retry in step.
JITTER = 0.5


def jitter(seconds: float) -> float:
    """*seconds* less a random share of up to :data:`JITTER` (the one jitter of the package)."""
    return seconds * random.uniform(1.0 - JITTER, 1.0)  # noqa: S311 - jitter, not cryptography


def doubling(first: float, most: float, failures: int) -> float:
    """The wait after *failures* failures in a row: *first*, doubling with each, at most *most*
    (the one backoff of the package: retries, renewals ahead of expiry, failure holds, Redis
    reconnects). The exponent stops at 30, so that a count read from a shared cache cannot overflow.
    """
    return min(most, first * 2.0 ** min(failures - 1, 30))


def timeouts(timeout: Timeout) -> Tuple[float, float]:
    """The (connect, read) timeouts of *timeout*, as requests reads it (one number is both)."""
    if isinstance(timeout, tuple):
        return float(timeout[0]), float(timeout[1])
    return float(timeout), float(timeout)


#: Statuses that mean "try again later" rather than "no".
TRANSIENT_STATUSES: FrozenSet[int] = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How a call the package makes on its own is retried after a transient fault.

    Transient faults are connection errors, timeouts, an answer cut off midway,
    HTTP 408/425/429/5xx and (for token calls) a 400 whose body says "Rate
    exceeded" (AWS Cognito's throttling answer). Refusals are never retried, and
    neither are answers that break HTTP or pass *max_answer_bytes*.

    A token call is bounded as a whole by its :meth:`deadline`, and each try by
    its connect + read timeout in all (headers and body together), so that a
    server that trickles its answer a byte at a time is cut off, not waited on.

    Attributes:
        attempts: how many times the request is sent at most, first try included.
        backoff: the wait before the first retry, in seconds; it doubles on each
            further retry, with up to 50% random jitter so that many clients do
            not retry in step.
        max_backoff: the longest wait between two tries, in seconds.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds; a
            server asking for more is waited on this long, then retried.
        budget: the longest a token call may take, in seconds, tries and waits
            included: the call's :meth:`deadline` is never later.
        max_answer_bytes: the largest answer read, in bytes of decoded body
            (a compressed answer counts what it decompresses to); a larger one
            is abandoned where it passes the cap, with
            :class:`~requests_multiauth.errors.AnswerTooLargeError`.
        statuses: the HTTP statuses retried (:data:`TRANSIENT_STATUSES`). A
            metadata endpoint retries more: Azure IMDS answers 404 and 410 while
            it updates (see the Azure managed identity preset).
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    budget: float = 60.0
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    statuses: FrozenSet[int] = TRANSIENT_STATUSES

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be at least 1")
        if min(self.backoff, self.max_backoff, self.max_retry_after, self.budget) < 0:
            raise ConfigurationError("RetryPolicy durations must not be negative")
        if isinstance(self.max_answer_bytes, bool) or not isinstance(self.max_answer_bytes, int):
            raise ConfigurationError("RetryPolicy.max_answer_bytes must be a whole number of bytes")
        if self.max_answer_bytes < 1:
            raise ConfigurationError("RetryPolicy.max_answer_bytes must be at least 1")

    def deadline(self, timeout: Timeout) -> float:
        """The longest a token call with these retries and *timeout* takes, in seconds.

        The rule: every try within its connect + read timeout (headers and body
        together), every wait between tries at most its backoff (``Retry-After``
        waits count against the same total), and the whole never past
        :attr:`budget`::

            deadline = min(budget, attempts * (connect + read) + sum of the backoffs)

        With the defaults (``timeout=(3.05, 10)``, 4 attempts, backoffs 0.5 + 1 + 2 s)
        that is 55.7 s; with ``timeout=(2, 2)`` 19.5 s. A thread waiting for
        another's token call waits as long at most.
        """
        connect, read = timeouts(timeout)
        waits = sum(doubling(self.backoff, self.max_backoff, retry) for retry in range(1, self.attempts))
        return min(self.budget, self.attempts * (connect + read) + waits)

    def delay(self, retry: int, retry_after: Optional[float]) -> float:
        """Seconds to wait before retry number *retry* (1 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return jitter(doubling(self.backoff, self.max_backoff, retry))


#: Used when none is given: four tries within a minute.
DEFAULT_RETRY = RetryPolicy()


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(moment.timestamp() - now, 0.0)


class Transient(Exception):
    """A failed try that may succeed if repeated: what a try raises to be retried."""

    def __init__(
        self,
        reason: str,
        status_code: Optional[int] = None,
        retry_after: Optional[float] = None,
        *,
        timed_out: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after
        self.timed_out = timed_out  # the try ran out of time (a timeout or its share of the deadline)


def retrying(
    policy: RetryPolicy,
    attempt: Callable[[int], T],
    *,
    on_retry: Callable[[Transient, float, int], None],
    give_up: Callable[[Transient, int, Optional[float]], NoReturn],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    deadline: Optional[float] = None,
) -> T:
    """Call ``attempt(n)`` (n = 1, 2 ...) until it returns, retrying what it raises as :class:`Transient`.

    Before each retry, ``on_retry(fault, wait, n)`` is told (to log it) and the
    wait is slept. When the tries are spent, or the next wait would end past the
    *deadline* (seconds from the start; default the policy's budget),
    ``give_up(last_fault, tries_made, deadline_or_None)`` raises the caller's
    error. Anything else *attempt* raises ends the call at once.
    """
    limit = policy.budget if deadline is None else deadline
    started = monotonic()
    last: Optional[Transient] = None
    for number in range(1, policy.attempts + 1):
        if last is not None:
            wait = policy.delay(number - 1, last.retry_after)
            if monotonic() - started + wait > limit:
                give_up(last, number - 1, limit)
            on_retry(last, wait, number)
            sleep(wait)
        try:
            return attempt(number)
        except Transient as fault:
            last = fault
    give_up(last or Transient("no attempt was made"), policy.attempts, None)
