"""``multiauth demo``: every preset through its life, against the local providers.

The emulator of every preset the provider registry knows (the five built in, and
those of plug-ins; ``--provider oauth2`` runs the generic OAuth 2.0 server's; see
:mod:`requests_multiauth.testing`) runs on loopback (HTTPS with a throwaway CA when ``trustme`` is installed, plain HTTP
otherwise). One :class:`~requests_multiauth.testing.ManualClock` drives both
the providers and the auths, so "a day later" takes no time. Each renewing
preset goes through:

1. first call: one token call, then the API answers 200;
2. reuse: a second call, no token call;
3. renewal at expiry: the clock passes the token's lifetime, the next call
   gets a new token first (Diagrams: by refresh token), no 401 on the way;
4. revocation: the provider revokes every token; the API answers 401, the auth
   renews once and replays, the caller sees 200.

Rated's token is made in a browser and cannot be renewed, so its life is
different: sent as is, a warning 30 days before it expires, a revocation's 401
returned to the caller with a logged hint, and, once expired, an error instead
of a request.

Every step checks the providers' counters, not only the status code. The
sessions ignore ``REQUESTS_CA_BUNDLE`` (they trust the providers' CA
explicitly), and every token call has a short timeout and a small retry
budget, so the demo ends in seconds even when something is broken.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, List, Optional, Sequence, Tuple

import requests

from ..errors import TokenExpiredError, TokenExpiryWarning
from ..testing import ManualClock, ProviderEmulator
from ..testing._local import preset_names
from ..testing._server import _trustme, trustme_for
from ..transport.endpoint import RetryPolicy

__all__ = ["DEMO_PATHS", "StepFailed", "demo_names", "run_demo"]

#: A resource of each provider's protected API (under its ``api_url``), shaped
#: like the provider's own examples.
DEMO_PATHS = {
    "rated": "slos/",
    "opsnow": "resources",
    "cognito": "items",
    "dataloy": "Cargo",
    "diagrams": "assets",
}

#: The resource a provider not listed above (a plug-in's, the generic oauth2 server's) is asked for.
DEFAULT_DEMO_PATH = "resource"

#: Token calls go to loopback: a try that takes a second has failed, and one
#: retry is enough to show a fault without keeping the demo waiting.
DEMO_TIMEOUT = (2.0, 5.0)
DEMO_RETRY = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1, budget=5.0)

#: How long before a static token's expiry the Rated step looks (its warning
#: starts 30 days before).
RATED_WARNING_AHEAD = 10 * 24 * 3600.0


class StepFailed(Exception):
    """A step of the demo did not behave as the library promises."""


@dataclass
class Row:
    """One line of a provider's table."""

    step: str
    api_calls: int
    token_calls: int
    ok: bool
    outcome: str


@dataclass
class Life:
    """One provider's run: what it is, and how each step went."""

    name: str
    preset: str
    api_url: str
    rows: List[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


def _describe(response: requests.Response) -> str:
    return f"HTTP {response.status_code}"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Scenario:
    """The steps of one provider, sharing its emulator, auth, session and clock."""

    def __init__(self, emulator: ProviderEmulator, clock: ManualClock) -> None:
        self.emulator = emulator
        self.clock = clock
        self.session = emulator.api_session()  # trusts the providers' CA; ignores REQUESTS_CA_BUNDLE
        self.url = emulator.api_url + DEMO_PATHS.get(emulator.name, DEFAULT_DEMO_PATH)
        if emulator.name == "rated":
            self.auth: Any = emulator.auth()
        else:
            self.auth = emulator.auth(timeout=DEMO_TIMEOUT, retry=DEMO_RETRY)
        #: What the library logged during the current step (Rated's 401 hint).
        self.log = _Records()

    def close(self) -> None:
        close = getattr(self.auth, "close", None)
        if close is not None:
            close()

    def get(self) -> requests.Response:
        return self.session.get(self.url, auth=self.auth, timeout=DEMO_TIMEOUT)

    def refresh_calls(self) -> int:
        return int(getattr(self.emulator, "refresh_calls", 0))

    def steps(self) -> List[Tuple[str, Callable[[], str]]]:
        if self.emulator.name == "rated":
            return [
                ("first call", self.static_first_call),
                ("expiry warning", self.static_expiry_warning),
                ("revoked by provider", self.static_revoked),
                ("expired", self.static_expired),
            ]
        return [
            ("first call", self.first_call),
            ("reuse", self.reuse),
            ("renewal at expiry", self.renewal_at_expiry),
            ("revoked by provider", self.revoked),
        ]

    # -- renewing presets ----------------------------------------------------------------------

    def first_call(self) -> str:
        response = self.get()
        _expect(response.status_code == 200, f"the API answered {_describe(response)}")
        _expect(self.emulator.token_calls == 1, f"{self.emulator.token_calls} token calls, expected 1")
        return "200; one token call"

    def reuse(self) -> str:
        before = self.emulator.token_calls
        response = self.get()
        _expect(response.status_code == 200, f"the API answered {_describe(response)}")
        _expect(self.emulator.token_calls == before, "a token call although the token was valid")
        return "200; token reused, no token call"

    def renewal_at_expiry(self) -> str:
        before, refreshes = self.emulator.token_calls, self.refresh_calls()
        self.clock.advance(self.emulator.lifetime)  # the provider now rejects the first token too
        response = self.get()
        _expect(response.status_code == 200, f"the API answered {_describe(response)}")
        _expect(not response.history, "the expired token was sent (the API answered 401 first)")
        _expect(self.emulator.token_calls == before + 1, "not exactly one token call at expiry")
        how = " by refresh token" if self.refresh_calls() > refreshes else ""
        if self.emulator.name == "diagrams":
            _expect(bool(how), "Diagrams renewed without its refresh token")
        return f"200; renewed{how} before sending, no 401"

    def revoked(self) -> str:
        before_tokens, before_api, refreshes = self.emulator.token_calls, self.emulator.api_calls, self.refresh_calls()
        _expect(self.emulator.revoke() >= 1, "the provider had no live token to revoke")
        response = self.get()
        _expect(
            [r.status_code for r in response.history] == [401],
            f"expected one 401 then a replay, got {[r.status_code for r in response.history]}",
        )
        _expect(response.status_code == 200, f"the replay was answered {_describe(response)}")
        _expect(self.emulator.token_calls == before_tokens + 1, "not exactly one token call after the 401")
        _expect(self.emulator.api_calls == before_api + 2, "not exactly one replay")
        how = " by refresh token" if self.refresh_calls() > refreshes else ""
        return f"401 -> renewed{how}, replayed -> 200"

    # -- Rated's static token --------------------------------------------------------------------

    def static_first_call(self) -> str:
        response = self.get()
        _expect(response.status_code == 200, f"the API answered {_describe(response)}")
        _expect(self.emulator.token_calls == 0, "a token call for a static token")
        return "200; the browser-made JWT sent as is"

    def static_expiry_warning(self) -> str:
        expires_at = self.auth.get_token().expires_at
        _expect(expires_at is not None, "the token's exp claim was not read")
        self.clock.advance(expires_at - RATED_WARNING_AHEAD - self.clock())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            response = self.get()
        expiry = [w for w in caught if issubclass(w.category, TokenExpiryWarning)]
        _expect(response.status_code == 200, f"the API answered {_describe(response)}")
        _expect(len(expiry) == 1, f"{len(expiry)} expiry warnings, expected 1")
        return f"200; warned: expires in {RATED_WARNING_AHEAD / 86400:.0f} days"

    def static_revoked(self) -> str:
        before = self.emulator.api_calls
        _expect(self.emulator.revoke() >= 1, "the provider had no live token to revoke")
        response = self.get()
        _expect(response.status_code == 401, f"the API answered {_describe(response)}, expected 401")
        _expect(not response.history and self.emulator.api_calls == before + 1, "a static token was replayed")
        _expect(self.emulator.token_calls == 0, "a token call for a static token")
        hinted = any(r.levelno == logging.WARNING and "401" in r.getMessage() for r in self.log.records)
        _expect(hinted, "no hint was logged with the 401")
        return "401 returned to the caller, hint logged (cannot renew)"

    def static_expired(self) -> str:
        before = self.emulator.api_calls
        self.clock.advance(RATED_WARNING_AHEAD + 1)
        try:
            self.get()
        except TokenExpiredError:
            _expect(self.emulator.api_calls == before, "the expired token reached the API")
            return "TokenExpiredError raised, nothing sent"
        raise StepFailed("the expired token was sent instead of raising TokenExpiredError")


def _run_step(step: Callable[[], str]) -> Tuple[bool, str]:
    try:
        return True, step()
    except StepFailed as failure:
        return False, f"FAILED: {failure}"
    except Exception as exc:  # noqa: BLE001 - a demo step reports any error, and the demo goes on
        return False, f"FAILED: {type(exc).__name__}: {' '.join(str(exc).split())}"


def _run_life(emulator: ProviderEmulator, clock: ManualClock) -> Life:
    scenario = _Scenario(emulator, clock)
    life = Life(emulator.name, type(scenario.auth).__name__, scenario.url)
    logger = logging.getLogger("requests_multiauth")
    logger.addHandler(scenario.log)
    try:
        for label, step in scenario.steps():
            scenario.log.records.clear()
            ok, outcome = _run_step(step)
            life.rows.append(Row(label, emulator.api_calls, emulator.token_calls, ok, outcome))
            if not ok:
                break  # the later steps build on this one
    finally:
        logger.removeHandler(scenario.log)
        scenario.close()
    return life


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


#: The two counter columns: what the provider received so far, from the first step on.
API_CALLS_HEADER = "API calls, total"
TOKEN_CALLS_HEADER = "token calls, total"


def _table(life: Life) -> Iterator[str]:
    yield f"{life.name:<9} {life.preset} -> {life.api_url}"
    yield f"  {'step':<20}  {API_CALLS_HEADER:>16}  {TOKEN_CALLS_HEADER:>18}  outcome"
    for row in life.rows:
        yield f"  {row.step:<20}  {row.api_calls:>16}  {row.token_calls:>18}  {row.outcome}"


def demo_names() -> List[str]:
    """Every registered provider (plug-ins' too) that has a local emulator, by name:
    what ``--provider`` accepts."""
    from ..providers.registry import list_providers

    return [provider.name for provider in list_providers() if provider.emulator is not None]


def _emulators(
    names: Sequence[str], *, tls: bool, clock: ManualClock, asked: bool
) -> Tuple[List[ProviderEmulator], List[str]]:
    """The emulators of *names*, made by their registry records and sharing one CA, and
    the lines saying which could not be made here (only when the user did not *ask* for
    them by name: then it is an error)."""
    from ..providers.registry import get_provider

    ca = _trustme().CA() if tls else None
    made: List[ProviderEmulator] = []
    skipped: List[str] = []
    for name in names:
        factory = get_provider(name).emulator
        try:
            if factory is None:
                raise RuntimeError("it has no local emulator")
            made.append(factory(tls=tls, ca=ca, clock=clock))
        except (RuntimeError, ImportError) as exc:  # HTTPS only, or an optional package missing
            if asked:
                for emulator in made:
                    emulator.stop()
                raise RuntimeError(f"cannot run {name} here: {exc}") from None
            skipped.append(f"{name}: skipped ({' '.join(str(exc).split())})")
    return made, skipped


def run_demo(out: IO[str], *, tls: Optional[bool] = None, providers: Optional[Sequence[str]] = None) -> int:
    """Run the demo, writing the tables to *out*; return 0 if every step worked, else 1.

    Args:
        tls: HTTPS (needs ``trustme``), plain HTTP on loopback, or (None) HTTPS
            when ``trustme`` is installed.
        providers: the provider names to run, any of :func:`demo_names`; default every
            preset with a local emulator (``LocalProviders.NAMES``: the five built in and
            those of plug-ins).

    Raises:
        RuntimeError: ``tls=True`` without ``trustme``, or a provider asked for by
            name that cannot run here.
    """
    started = time.monotonic()
    clock = ManualClock()
    tls = trustme_for(tls, "the demo over HTTPS (--tls)") is not None
    names = list(providers) if providers else list(preset_names())
    emulators, skipped = _emulators(names, tls=tls, clock=clock, asked=bool(providers))
    lives: List[Life] = []
    with contextlib.ExitStack() as running:
        for emulator in emulators:
            running.enter_context(emulator)
        transport = (
            "HTTPS, certificates from a throwaway CA (trustme)"
            if tls
            else "plain HTTP on loopback (install trustme for HTTPS)"
        )
        out.write(f"multiauth demo: {_count(len(emulators), 'provider scheme')} against local providers, {transport}\n")
        out.write("no credentials, no network beyond loopback; one manual clock plays the days\n")
        out.write("the call columns are running totals: what each provider received up to and including the step\n\n")
        for line in skipped:
            out.write(line + "\n\n")
        for emulator in emulators:
            life = _run_life(emulator, clock)
            lives.append(life)
            for line in _table(life):
                out.write(line + "\n")
            out.write("\n")
            out.flush()
    failed = [life.name for life in lives if not life.ok]
    steps = sum(len(life.rows) for life in lives)
    elapsed = time.monotonic() - started
    if failed:
        out.write(f"FAILED: {', '.join(failed)} ({_count(steps, 'step')} run in {elapsed:.1f} s)\n")
        return 1
    out.write(f"ok: {_count(len(lives), 'provider')}, {_count(steps, 'step')}, each as promised ({elapsed:.1f} s)\n")
    return 0
