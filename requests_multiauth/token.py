"""The :class:`Token` record and the parsing of token answers. No I/O happens here.

Token endpoints disagree on how to say when a token expires, so
:func:`parse_token_response` accepts every form met in the wild and turns it into
one :class:`Token` with an absolute ``expires_at``, or raises
:class:`~requests_multiauth.errors.TokenResponseError` naming what is missing.
The rules, in order of preference:

1. a relative lifetime, ``expires_in`` (``expiresIn``), as a number or numeric string;
   preferred because it does not depend on the server's clock agreeing with ours;
2. an absolute ``expires_at`` / ``expires_on`` / ``expiration_date`` (camelCase
   accepted), as epoch seconds, epoch milliseconds or ISO 8601;
3. the ``exp`` claim of the access token when it is a JWT (read, not verified);
4. the provider's documented default lifetime, when the caller gives one.

Fields are looked up at the top level and, failing that, under a ``data``
wrapper. An answer carrying an ``error`` field is a failure even with status 200.

Where the request goes next: the Token goes to the engine (engine/manager.py), which
keeps it in a cache (caches/) and hands it to the flow (flow.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from ._display import Rows, describe_expiry, pretty, render_html
from ._jose import unverified_claims
from .errors import TokenResponseError, excerpt, oauth_error, scrub_credentials

__all__ = ["Token", "jwt_expiry", "parse_token_response"]

#: Longest lifetime believed from a token answer (ten years). Anything longer is
#: a unit mix-up or garbage, and trusting it would keep a dead token forever.
MAX_LIFETIME = 10 * 365.25 * 24 * 3600

#: Shortest lifetime accepted from ``expires_in``. A token that lives less than a
#: second is expired before a request can carry it, and accepting it would make
#: every request a token call.
MIN_LIFETIME = 1.0

#: Epoch values above this are milliseconds: 1e11 seconds is the year 5138,
#: while 1e11 milliseconds is March 1973, long before any token was issued.
MILLISECONDS_THRESHOLD = 1e11

#: The token types this library can present, by their case-insensitive names:
#: Bearer (RFC 6750) and DPoP-bound tokens (RFC 9449).
TOKEN_TYPES = {"bearer": "Bearer", "dpop": "DPoP"}

_ACCESS_TOKEN_KEYS = ("access_token", "accessToken", "token")
_TOKEN_TYPE_KEYS = ("token_type", "tokenType")
_EXPIRES_IN_KEYS = ("expires_in", "expiresIn")
_EXPIRES_AT_KEYS = (
    "expires_at",
    "expiresAt",
    "expires_on",
    "expiresOn",
    "expiration_date",
    "expirationDate",
)
_REFRESH_TOKEN_KEYS = ("refresh_token", "refreshToken")
_REFRESH_EXPIRES_IN_KEYS = (
    "refresh_token_expires_in",
    "refreshTokenExpiresIn",
    "refresh_expires_in",
    "refreshExpiresIn",
)
_REFRESH_EXPIRES_AT_KEYS = (
    "refresh_token_expires_at",
    "refreshTokenExpiresAt",
    "refresh_token_expiration_date",
    "refreshTokenExpirationDate",
)
_SCOPE_KEYS = ("scope", "scopes")

#: The fields :class:`Token` has a place for; every other field of an answer goes to ``Token.extra``.
_KNOWN_KEYS = frozenset(
    (
        *_ACCESS_TOKEN_KEYS,
        *_TOKEN_TYPE_KEYS,
        *_EXPIRES_IN_KEYS,
        *_EXPIRES_AT_KEYS,
        *_REFRESH_TOKEN_KEYS,
        *_REFRESH_EXPIRES_IN_KEYS,
        *_REFRESH_EXPIRES_AT_KEYS,
        *_SCOPE_KEYS,
    )
)


class ReadOnlyMap(Dict[str, Any]):
    """A dict that refuses changes: ``Token.extra``. (A dict, so that it pickles,
    copies and serialises like one.)"""

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise TypeError("Token.extra is read-only: make a new Token with dataclasses.replace()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __ior__(self, other: Any) -> ReadOnlyMap:  # type: ignore[override,misc]
        raise TypeError("Token.extra is read-only: make a new Token with dataclasses.replace()")

    def __reduce__(self) -> Any:
        return (ReadOnlyMap, (dict(self),))

    def __repr__(self) -> str:
        return f"<{len(self)} extra fields: {', '.join(sorted(self))}>"


_EMPTY = ReadOnlyMap()

#: What an access token may consist of: visible ASCII, as in RFC 6750's b64token
#: and every opaque or JWT token met in practice. Anything else (a line break, a
#: space, a non-Latin letter) would fail or be split when put in a header.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, repr=False)
class Token:
    """An access token and what is known about its life. Immutable, so safe to share between threads.

    Attributes:
        access_token: the token itself, sent as ``Authorization: Bearer <token>``
            (or ``DPoP <token>`` with a proof, for a DPoP-bound token).
        token_type: ``"Bearer"``, or ``"DPoP"`` for a token bound to the
            client's DPoP key (RFC 9449), which is never sent as a bearer token.
        expires_at: when the token expires, in epoch seconds, or None if unknown.
        refresh_token: a token that renews the access token, if the server gave one.
        refresh_expires_at: when the refresh token expires, if known.
        scope: the granted scope as a space-separated string, if the server said.
        issued_at: when this client received the token, in epoch seconds. With
            ``expires_at`` it gives the lifetime, which sizes the renewal window.
        extra: what the answer said beyond RFC 6749 (``instance_url``,
            ``issued_token_type``, ``id_token`` ...), read-only. Kept by the shared
            caches with the token; never shown in a ``repr``, since it may hold
            tokens too.

    The ``repr`` shows the expiry, never the token or the refresh token.
    """

    access_token: str
    token_type: str = "Bearer"
    expires_at: Optional[float] = None
    refresh_token: Optional[str] = None
    refresh_expires_at: Optional[float] = None
    scope: Optional[str] = None
    issued_at: Optional[float] = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=lambda: _EMPTY, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.extra, ReadOnlyMap):
            object.__setattr__(self, "extra", ReadOnlyMap(self.extra))

    def __repr__(self) -> str:
        parts = [f"token_type={self.token_type!r}"]
        if self.expires_at is None:
            parts.append("expires_at=None")
        else:
            try:
                shown = repr(datetime.fromtimestamp(self.expires_at, timezone.utc).isoformat(timespec="seconds"))
            except (OverflowError, OSError, ValueError):  # a hand-made Token with an absurd expiry
                shown = repr(self.expires_at)
            parts.append(f"expires_at={shown}")
            parts.append(f"expires_in={_describe_seconds(self.expires_at - time.time())}")
        if self.scope is not None:
            parts.append(f"scope={self.scope!r}")
        parts.append(f"refresh_token={'yes' if self.refresh_token else 'no'}")
        return f"Token({', '.join(parts)})"

    __str__ = __repr__

    def display_rows(self, now: Optional[float] = None) -> Rows:
        """What IPython and Jupyter show of the token (never the token itself)."""
        rows = [("type", self.token_type), ("expires", describe_expiry(self.expires_at, now))]
        if self.scope is not None:
            rows.append(("scope", self.scope))
        rows.append(("refresh token", "yes" if self.refresh_token else "no"))
        return rows

    def _repr_html_(self) -> str:
        return render_html("Token", self.display_rows())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        pretty(printer, cycle, "Token", self.display_rows())

    def expires_in(self, now: Optional[float] = None) -> Optional[float]:
        """Seconds until expiry (negative once expired), or None if unknown."""
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def to_dict(self) -> Dict[str, Any]:
        """The token as a JSON-ready dict, for token caches. Holds the secret."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["extra"] = dict(self.extra)
        return fields

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Rebuild a token written by :meth:`to_dict`; raises ``TokenResponseError``
        if *data* is not such a dict."""
        try:
            token = cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})
        except TypeError as exc:
            raise TokenResponseError(f"a cached token is malformed: {exc}") from None
        if not isinstance(token.access_token, str) or not token.access_token:
            raise TokenResponseError("a cached token has no access_token")
        if token.token_type not in TOKEN_TYPES.values():
            raise TokenResponseError("a cached token has an unknown token_type")
        if not all(isinstance(key, str) for key in token.extra):
            raise TokenResponseError("a cached token's extra fields are not named by strings")
        for name in ("expires_at", "refresh_expires_at", "issued_at"):
            value = getattr(token, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TokenResponseError(f"a cached token has a non-numeric {name}")
        return token


def _describe_seconds(seconds: float) -> str:
    if seconds < 0:
        return "'expired'"
    if seconds < 120:
        return f"'{seconds:.0f}s'"
    if seconds < 7200:
        return f"'{seconds / 60:.0f}m'"
    if seconds < 172800:
        return f"'{seconds / 3600:.0f}h'"
    return f"'{seconds / 86400:.0f}d'"


def parse_token_response(
    payload: Any,
    *,
    now: float,
    default_lifetime: Optional[float] = None,
    secrets: Iterable[Optional[str]] = (),
) -> Token:
    """Turn a decoded token answer into a :class:`Token`.

    Args:
        payload: the decoded JSON body of the answer.
        now: the current time in epoch seconds (the caller's clock).
        default_lifetime: the provider's documented lifetime in seconds, used only
            when the answer gives no expiry of any kind.
        secrets: strings to scrub from error messages (the client secret, ...).

    Raises:
        TokenResponseError: the answer is not a JSON object, carries no usable
            access token, or states an expiry that is not a plausible time.
        TokenRequestError: the answer carries an OAuth ``error`` field.
    """
    secrets = list(secrets)
    if not isinstance(payload, Mapping):
        kind = type(payload).__name__ if payload is not None else "null"
        raise TokenResponseError(
            f"the token answer is a JSON {kind}, not an object: "
            f"{excerpt(json.dumps(scrub_credentials(payload), default=str), secrets)}"
        )
    fields = _token_fields(payload, secrets)

    access_token = _first(fields, _ACCESS_TOKEN_KEYS)
    if not isinstance(access_token, str) or not access_token.strip():
        what = (
            "an empty access_token"
            if isinstance(access_token, str)
            else (
                "no access_token"
                if access_token is None
                else f"an access_token that is a {type(access_token).__name__}, not a string"
            )
        )
        raise TokenResponseError(f"the token answer has {what}; fields present: {_field_names(fields)}")
    access_token = access_token.strip()
    if not _HEADER_SAFE.fullmatch(access_token):
        raise TokenResponseError(
            "the token answer's access_token contains spaces, control or non-ASCII characters: "
            "it cannot be sent in an HTTP header"
        )
    secrets.append(access_token)

    stated_type = _first(fields, _TOKEN_TYPE_KEYS)
    token_type = TOKEN_TYPES.get(stated_type.lower()) if isinstance(stated_type, str) else None
    if stated_type is not None and token_type is None:
        raise TokenResponseError(
            f"the token answer has token_type {excerpt(str(stated_type), secrets)!r}; "
            "only Bearer and DPoP tokens are supported"
        )

    expires_at = _expiry(fields, _EXPIRES_IN_KEYS, _EXPIRES_AT_KEYS, now, secrets)
    if expires_at is None:
        jwt_exp = jwt_expiry(access_token)
        if jwt_exp is not None:
            expires_at = _check_absolute(jwt_exp, now, "the JWT exp claim")
        elif default_lifetime is not None:
            expires_at = now + default_lifetime

    refresh_token = _first(fields, _REFRESH_TOKEN_KEYS)
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise TokenResponseError(
            f"the token answer has a refresh_token that is a {type(refresh_token).__name__}, not a string"
        )
    refresh_expires_at = None
    if refresh_token:
        refresh_expires_at = _expiry(fields, _REFRESH_EXPIRES_IN_KEYS, _REFRESH_EXPIRES_AT_KEYS, now, secrets)

    return Token(
        access_token=access_token,
        token_type=token_type or "Bearer",
        expires_at=expires_at,
        refresh_token=refresh_token or None,
        refresh_expires_at=refresh_expires_at,
        scope=_scope(_first(fields, _SCOPE_KEYS)),
        issued_at=now,
        extra={key: value for key, value in fields.items() if key not in _KNOWN_KEYS},
    )


def _token_fields(payload: Mapping[str, Any], secrets: list[Optional[str]]) -> Mapping[str, Any]:
    """The mapping that holds the token: the payload itself or its ``data`` wrapper."""
    _raise_for_error_field(payload, secrets)
    if _first(payload, _ACCESS_TOKEN_KEYS) is None:
        data = payload.get("data")
        if isinstance(data, Mapping):
            _raise_for_error_field(data, secrets)
            return data
    return payload


def _raise_for_error_field(fields: Mapping[str, Any], secrets: list[Optional[str]]) -> None:
    error = fields.get("error")
    if error in (None, "", False):
        return
    description = fields.get("error_description")
    raise oauth_error(
        status_code=200,
        error=str(error),
        description=str(description) if description is not None else None,
        secrets=secrets,
    )


def _first(fields: Mapping[str, Any], keys: Iterable[str]) -> Any:
    """The value of the first of *keys* that the answer holds (not null), or None."""
    found = _first_present(fields, keys)
    return found[1] if found is not None else None


def _first_present(fields: Mapping[str, Any], keys: Iterable[str]) -> Optional[Tuple[str, Any]]:
    """The first of *keys* that the answer holds (not null), with its value; None if none."""
    return next(((key, fields[key]) for key in keys if fields.get(key) is not None), None)


def _field_names(fields: Mapping[str, Any]) -> str:
    names = sorted(str(key) for key in fields)[:20]
    return ", ".join(names) if names else "none"


def _expiry(
    fields: Mapping[str, Any],
    relative_keys: Iterable[str],
    absolute_keys: Iterable[str],
    now: float,
    secrets: list[Optional[str]],
) -> Optional[float]:
    """Absolute expiry from a relative field if present, else an absolute one."""
    relative = _first_present(fields, relative_keys)
    if relative is not None:
        return now + _lifetime(*relative, secrets)
    absolute = _first_present(fields, absolute_keys)
    if absolute is not None:
        return _moment(*absolute, now, secrets)
    return None


def _lifetime(key: str, value: Any, secrets: list[Optional[str]]) -> float:
    """The seconds a relative expiry field (``expires_in``) gives the token, checked as plausible."""
    seconds = _number(value)
    if seconds is None:
        raise TokenResponseError(f"the token answer's {key} is not a number: {excerpt(repr(value), secrets)}")
    if seconds <= 0:
        raise TokenResponseError(f"the token answer's {key} is {seconds:g}: the token is already expired")
    if seconds < MIN_LIFETIME:
        raise TokenResponseError(
            f"the token answer's {key} is {seconds:g} seconds, less than a second: "
            "the token would expire before any request could use it"
        )
    if seconds > MAX_LIFETIME:
        raise TokenResponseError(
            f"the token answer's {key} is {seconds:g} seconds, more than ten years: not a plausible token lifetime"
        )
    return seconds


def _moment(key: str, value: Any, now: float, secrets: list[Optional[str]]) -> float:
    """The epoch time an absolute expiry field (``expires_at``) names, checked as plausible."""
    moment = _timestamp(value)
    if moment is None:
        raise TokenResponseError(
            f"the token answer's {key} is neither an epoch time nor an ISO 8601 date: {excerpt(repr(value), secrets)}"
        )
    return _check_absolute(moment, now, f"the token answer's {key}")


def _check_absolute(moment: float, now: float, what: str) -> float:
    if moment <= now:
        try:
            stamp = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):  # before year 1: no date can show it
            stamp = f"{moment:g} epoch seconds"
        raise TokenResponseError(
            f"{what} says the token expired at {stamp}, before it arrived; "
            "if the token is new, this machine's clock or the server's is wrong"
        )
    if moment - now > MAX_LIFETIME:
        raise TokenResponseError(f"{what} lies more than ten years ahead: not a plausible expiry")
    return moment


def _number(value: Any) -> Optional[float]:
    """A finite float from a JSON number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


_ISO_FRACTION = re.compile(r"(\.\d+)")


def _timestamp(value: Any) -> Optional[float]:
    """Epoch seconds from epoch seconds, epoch milliseconds or an ISO 8601 string."""
    number = _number(value)
    if number is not None:
        return number / 1000.0 if number > MILLISECONDS_THRESHOLD else number
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11 accepts only 3 or 6 fraction digits; normalise to 6.
    text = _ISO_FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # RFC 3339 answers without offset mean UTC
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):  # 0001-01-01T00:00+01:00 lies before year 1 in UTC
        return None


def _scope(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return " ".join(value) or None
    return None


def jwt_expiry(token: str) -> Optional[float]:
    """The ``exp`` claim of *token* if it is a JWT, in epoch seconds; else None.

    The signature is not verified: the claim only tells us when to renew, and a
    forged claim can make us renew early or send a token the server will reject,
    nothing worse.
    """
    claims = unverified_claims(token)
    if claims is None:
        return None
    exp = _number(claims.get("exp"))
    return exp
