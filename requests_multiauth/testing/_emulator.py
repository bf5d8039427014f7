"""What every local provider emulation shares.

A :class:`ProviderEmulator` is one provider on its own :class:`LocalServer`
(its own origin): a token endpoint that speaks exactly what the provider's
page documents, and a protected API that accepts only the access tokens the
endpoint issued, until they expire or are revoked. Each provider subclass
(:mod:`._providers`) only says how its token endpoint reads a request and
words its answers; the base class owns the request log, the counters, the
issued tokens, the injected faults and the settings every provider has.

A request that deviates from the provider's page is refused the way that
provider would refuse it: the check raises :class:`Refusal` carrying the reply.
The checks every provider's token endpoint starts with (the form, Basic
credentials, a secret compared in constant time) are in :mod:`._wire`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

import requests
from requests.auth import AuthBase

from .._jose import b64url
from ._server import LocalServer, Reply, Request
from ._wire import Refusal

if TYPE_CHECKING:
    from ..transport.session import MultiAuthSession

__all__ = ["ManualClock", "ProviderEmulator"]

Clock = Callable[[], float]
E = TypeVar("E", bound="ProviderEmulator")

#: Where an injected fault applies: the token endpoint or the protected API.
FAULT_PLACES = ("token", "api")

#: Why the protected API turns a bearer token away.
MISSING, UNKNOWN, EXPIRED, REVOKED = "missing", "unknown", "expired", "revoked"


class ManualClock:
    """A clock that moves only when told to. Safe for concurrent use.

    Pass the same clock to an emulator (``clock=``) and to an auth (``clock=``,
    which :meth:`ProviderEmulator.auth` does for you) to test expiry without
    sleeping::

        clock = ManualClock()
        provider.clock = clock
        auth = provider.auth()
        clock.advance(3600)   # every token the provider issued has now expired
    """

    def __init__(self, start: Optional[float] = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by *seconds*; returns the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self():.3f})"


@dataclass
class Issued:
    """What the emulated provider remembers of an access token it issued."""

    subject: str
    expires_at: Optional[float]
    scope: Optional[str] = None
    revoked: bool = False


class ProviderEmulator:
    """One provider's token endpoint and protected API on a loopback server.

    Safe for concurrent use: the settings are plain attributes, read once per
    request; counters, issued tokens and faults are kept under a lock.

    Args:
        tls: serve HTTPS (needs ``trustme``); default: HTTPS when ``trustme``
            is installed, plain HTTP on loopback otherwise.
        ca: a ``trustme.CA`` to share with other servers (see :class:`LocalProviders`).
        lifetime: seconds an access token lives; default: the provider's documented one.
        latency: seconds the token endpoint waits before each answer.
        clock: the provider's time, for token expiry; a :class:`ManualClock` in tests.

    Attributes:
        server: the :class:`LocalServer`; ``server.requests`` logs every request.
        lifetime, latency, clock: as above, settable at any time.
    """

    #: The short name LocalProviders and the command line use.
    name: ClassVar[str] = ""
    #: The token endpoint's path.
    token_path: ClassVar[str] = ""
    #: The protected API: every path under this prefix (other than the token path).
    api_path: ClassVar[str] = ""
    #: The lifetime of an access token, as the provider documents it.
    default_lifetime: ClassVar[float] = 3600.0

    def __init__(
        self,
        *,
        tls: Optional[bool] = None,
        ca: Any = None,
        lifetime: Optional[float] = None,
        latency: float = 0.0,
        clock: Clock = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._initial_lifetime = self.default_lifetime if lifetime is None else float(lifetime)
        self._initial_latency = latency
        self.lifetime = self._initial_lifetime
        self.latency = latency
        self.clock = clock
        self._tokens: Dict[str, Issued] = {}
        self._faults: Dict[str, List[Tuple[Reply, int]]] = {place: [] for place in FAULT_PLACES}
        self._counts: Dict[str, int] = {}
        self._signing_key = os.urandom(32)
        self._sessions: List[requests.Session] = []
        self._make_credentials()
        self.server = LocalServer(self._handle, tls=tls, ca=ca, **self._server_options())
        self._reset_settings()

    # -- life cycle --------------------------------------------------------------

    def start(self: E) -> E:
        """Start serving; returns self."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the sessions handed out by this emulator."""
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        self.server.stop()

    def __enter__(self: E) -> E:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def reset(self) -> None:
        """Zero the counters, empty the request log, drop pending faults, and put
        ``lifetime``, ``latency`` and the provider's own settings back to their
        values at construction. The clock, the credentials and the tokens
        already issued stay as they are."""
        with self._lock:
            self._counts.clear()
            for faults in self._faults.values():
                faults.clear()
        self.server.clear()
        self.lifetime = self._initial_lifetime
        self.latency = self._initial_latency
        self._reset_settings()

    def _make_credentials(self) -> None:
        """Make up the client's credentials, once (subclasses)."""

    def _server_options(self) -> Dict[str, Any]:
        """More options for this emulator's :class:`LocalServer` (subclasses)."""
        return {}

    def _reset_settings(self) -> None:
        """Set the provider's own settings to their defaults (subclasses)."""

    # -- where it is -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The origin, e.g. ``https://127.0.0.1:50123``."""
        return self.server.url

    @property
    def token_url(self) -> str:
        """The token endpoint's URL."""
        return self.url + self.token_path

    @property
    def api_url(self) -> str:
        """The protected API's base URL (ends with ``/``)."""
        return self.url + self.api_path

    @property
    def tls(self) -> bool:
        """True when serving HTTPS."""
        return self.server.tls

    @property
    def verify(self) -> Union[str, bool]:
        """What to pass as ``verify=``: the CA bundle path, or True over plain HTTP."""
        return self.server.verify

    def api_session(self) -> requests.Session:
        """A new ``requests.Session`` that trusts this provider's certificate.

        It ignores the environment (``trust_env = False``): REQUESTS_CA_BUNDLE
        would otherwise replace its CA, and a proxy setting would route loopback
        traffic away. Closed by :meth:`stop`.
        """
        session = requests.Session()
        session.verify = self.verify
        session.trust_env = False
        self._sessions.append(session)
        return session

    def multiauth_session(self, auth: Optional[AuthBase] = None, **options: Any) -> MultiAuthSession:
        """A new :class:`~requests_multiauth.MultiAuthSession` for this provider's API:
        ``base_url`` is :attr:`api_url`, it trusts this provider's certificate
        (``verify=``, which wins over REQUESTS_CA_BUNDLE there), and *auth*
        (default: :meth:`auth`) authenticates its requests::

            with provider.multiauth_session() as session:
                session.get("Cargo").raise_for_status()   # relative to api_url

        *options* go to ``MultiAuthSession`` (``timeout``, ``retries``). Like
        :meth:`api_session` it ignores proxy settings (``trust_env = False``).
        Closed, with its auth, by :meth:`stop` if not before.
        """
        from ..transport.session import MultiAuthSession  # the testing helpers stay importable on their own

        options.setdefault("base_url", self.api_url)
        options.setdefault("verify", self.verify)
        session = MultiAuthSession(auth if auth is not None else self.auth(), **options)
        session.trust_env = False
        self._sessions.append(session)
        return session

    def auth(self, **options: Any) -> AuthBase:
        """The provider's preset, pointed at this emulator (see subclasses)."""
        raise NotImplementedError

    @property
    def credentials(self) -> Dict[str, str]:
        """The preset's credential arguments, by name."""
        raise NotImplementedError

    def environ(self) -> Dict[str, str]:
        """The environment variables the preset's ``from_env()`` reads, set for this emulator.

        Generated from the provider's registry record (``get_provider(name).env``) and
        :meth:`~requests_multiauth.testing.ProviderEmulator.environ_values`, so a variable
        name is written only in the record.
        Over HTTPS they include the preset's CA bundle variable (``<PROVIDER>_CA_BUNDLE``,
        the one that fills ``verify``), the CA bundle that the preset's token
        calls then trust, so that ``DataloyAuth.from_env(provider.environ())`` works
        without touching ``REQUESTS_CA_BUNDLE``. (The API requests still need a session that
        trusts the CA: :meth:`~requests_multiauth.testing.ProviderEmulator.api_session` or
        :meth:`~requests_multiauth.testing.ProviderEmulator.multiauth_session`.) They also
        include ``<PROVIDER>_API_URL`` (``DATALOY_API_URL`` ...), the protected API's base
        URL, which the quick start's examples read.
        """
        from ..providers.registry import get_provider  # the testing helpers stay importable on their own

        values: Dict[str, Any] = dict(self.environ_values())
        if isinstance(self.verify, str):
            values.setdefault("verify", self.verify)
        record = get_provider(self.name).env
        variables = {var.name: str(values[var.parameter]) for var in record if var.parameter in values}
        return {**variables, **self._api_environ()}

    def environ_values(self) -> Dict[str, str]:
        """The values :meth:`~requests_multiauth.testing.ProviderEmulator.environ` gives, by
        the preset's parameter name (``client_id``, ``token_url`` ...); the CA bundle
        (``verify``) is added over HTTPS. Subclasses say."""
        raise NotImplementedError

    def _api_environ(self) -> Dict[str, str]:
        """``{"<PROVIDER>_API_URL": <the protected API's base URL>}``: what the quick start's
        examples read, so that they run from :meth:`environ` alone."""
        return {f"{self.name.upper().replace('-', '_')}_API_URL": self.api_url}

    def _trust_environ(self) -> Dict[str, str]:
        """The preset's CA bundle variable over HTTPS, nothing over plain HTTP (from the record)."""
        from ..providers.registry import get_provider

        var = get_provider(self.name).variable("verify")
        return {var.name: self.verify} if var is not None and isinstance(self.verify, str) else {}

    def _auth_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """Fill in the options that point a renewing auth at this emulator."""
        if "session" not in options:
            options["session"] = self.api_session()
        options.setdefault("clock", self.clock)
        options.setdefault("allow_insecure_loopback", not self.tls)
        return options

    # -- what tests look at -----------------------------------------------------------

    @property
    def token_calls(self) -> int:
        """Requests the token endpoint received, whatever it answered."""
        return self._count("token")

    @property
    def api_calls(self) -> int:
        """Requests the protected API received, whatever it answered."""
        return self._count("api")

    @property
    def tokens_issued(self) -> int:
        """Access tokens issued so far."""
        return self._count("issued")

    def token_requests(self) -> List[Request]:
        """The requests the token endpoint received, in order."""
        return [r for r in self.server.received() if r.path == self.token_path]

    def api_requests(self) -> List[Request]:
        """The requests the protected API received, in order."""
        return [r for r in self.server.received() if self._is_api(r.path)]

    def _count(self, what: str) -> int:
        with self._lock:
            return self._counts.get(what, 0)

    def _bump(self, what: str) -> None:
        with self._lock:
            self._counts[what] = self._counts.get(what, 0) + 1

    # -- what tests change ----------------------------------------------------------------

    def revoke(self) -> int:
        """Make every access token issued so far fail at the API (401), as a
        provider does after a key rotation. Returns how many were still live."""
        with self._lock:
            live = [issued for issued in self._tokens.values() if not issued.revoked]
            for issued in live:
                issued.revoked = True
            return len(live)

    def inject(self, reply: Reply, *, times: int = 1, at: str = "token") -> None:
        """Answer the next *times* requests to the token endpoint (``at="token"``)
        or to the API (``at="api"``) with *reply* instead. ``DROP_CONNECTION``
        closes the connection without an answer. Faults queue up in order."""
        if at not in FAULT_PLACES:
            raise ValueError(f"at={at!r}: expected one of {FAULT_PLACES}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults[at].append((reply, times))

    def _take_fault(self, at: str) -> Optional[Reply]:
        with self._lock:
            queue = self._faults[at]
            if not queue:
                return None
            reply, times = queue[0]
            if times > 1:
                queue[0] = (reply, times - 1)
            else:
                queue.pop(0)
            return reply

    # -- issuing and checking tokens ----------------------------------------------------------

    def _issue(
        self,
        subject: str,
        *,
        claims: Optional[Mapping[str, Any]] = None,
        lifetime: Optional[float] = None,
        scope: Optional[str] = None,
        jwt: bool = True,
        with_exp: bool = True,
    ) -> Tuple[str, Issued]:
        """Make an access token and remember it. With *jwt*, an HS256 JWT whose
        ``exp`` (unless not *with_exp*) is when the token expires; otherwise an
        opaque string."""
        now = self.clock()
        lifetime = self.lifetime if lifetime is None else lifetime
        expires_at = now + lifetime if with_exp else None
        if jwt:
            payload: Dict[str, Any] = {"sub": subject, "iat": int(now), "jti": secrets.token_hex(8)}
            if expires_at is not None:
                payload["exp"] = int(expires_at)
            if scope is not None:
                payload["scope"] = scope
            payload.update(claims or {})
            token = self._sign(payload)
        else:
            token = secrets.token_urlsafe(32)
        issued = Issued(subject=subject, expires_at=expires_at, scope=scope)
        with self._lock:
            self._tokens[token] = issued
            self._counts["issued"] = self._counts.get("issued", 0) + 1
        return token, issued

    def _sign(self, claims: Mapping[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{body}".encode("ascii")
        signature = hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()
        return f"{header}.{body}.{b64url(signature)}"

    def _check_bearer(self, request: Request) -> Union[Issued, str]:
        """The issued token the request carries, or why it is turned away."""
        token = request.bearer
        if token is None:
            return MISSING
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return UNKNOWN
        if issued.revoked:
            return REVOKED
        if issued.expires_at is not None and self.clock() >= issued.expires_at:
            return EXPIRED
        return issued

    # -- the request flow ------------------------------------------------------------------------

    def _is_api(self, path: str) -> bool:
        return path.startswith(self.api_path) and path != self.token_path

    def _handle(self, request: Request) -> Reply:
        if request.path == self.token_path:
            return self._serve("token", self._token, request)
        if self._is_api(request.path):
            return self._serve("api", self._api, request)
        return Reply(404, {"message": f"no such path: {request.path}"})

    def _serve(self, place: str, answer: Callable[[Request], Reply], request: Request) -> Reply:
        """Count a request to *place* (``token`` or ``api``), wait out ``latency`` at the
        token endpoint, then answer it as :meth:`_respond` does."""
        self._bump(place)
        if place == "token" and self.latency > 0:
            time.sleep(self.latency)
        return self._respond(place, answer, request)

    def _respond(self, place: str, answer: Callable[[Request], Reply], request: Request) -> Reply:
        """The fault injected at *place*, if one is queued; otherwise *answer*'s reply to
        *request*, or the reply of the :class:`Refusal` it raised."""
        fault = self._take_fault(place)
        if fault is not None:
            return fault
        try:
            return answer(request)
        except Refusal as refusal:
            return refusal.reply

    def _token(self, request: Request) -> Reply:
        """Answer a token request, or raise :class:`Refusal` (subclasses)."""
        raise NotImplementedError

    def _api(self, request: Request) -> Reply:
        checked = self._check_bearer(request)
        if isinstance(checked, str):
            return self._api_refusal(request, checked)
        return Reply(200, self._api_answer(request, checked))

    def _api_refusal(self, request: Request, reason: str) -> Reply:
        """The provider's 401 for a missing, unknown, expired or revoked token."""
        return Reply(401, {"message": "Unauthorized"}, {"WWW-Authenticate": "Bearer"})

    def _api_answer(self, request: Request, issued: Issued) -> Dict[str, Any]:
        """What the protected API answers an authorized request: an echo that
        tests can check (the body arrives whole on a replay, say)."""
        try:
            received: Any = request.json() if request.body else None
        except ValueError:
            received = {"bytes": len(request.body)}
        return {
            "provider": self.name,
            "method": request.method,
            "path": request.path,
            "subject": issued.subject,
            "received": received,
        }

    # -- checks the providers share ------------------------------------------------------------

    @staticmethod
    def _require_method(request: Request, method: str) -> None:
        if request.method != method:
            raise Refusal(Reply(405, {"message": f"method {request.method} not allowed"}, {"Allow": method}))
