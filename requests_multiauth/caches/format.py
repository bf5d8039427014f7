"""How a token is written into a shared cache entry, and read back.

:class:`~requests_multiauth.caches.file.FileTokenCache` and
:class:`~requests_multiauth.caches.redis.RedisTokenCache` store the same bytes:
a small JSON object with a format number and the token's fields. Reading is
defensive: anything that is not such an object (a truncated write, another
program's data, a future format) raises :class:`DamagedEntry`, whose message
never quotes the entry, since the entry holds the token.

Beside a token entry, a cache may keep a failure record
(:class:`~requests_multiauth.caches.base.SharedFailure`): the same kind of object,
with ``failure`` in place of ``token``, and no secret in it.

Where the request goes next: the entry read back goes to the engine (engine/manager.py).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Union

from ..errors import TokenResponseError
from ..token import Token
from .base import SharedFailure

__all__ = [
    "FORMAT",
    "MAX_ENTRY_SIZE",
    "DamagedEntry",
    "decode_entry",
    "decode_failure",
    "encode_entry",
    "encode_failure",
]

#: The entry layout's version. An entry of another version is treated as
#: missing (and then replaced), so an upgrade never misreads an old entry.
FORMAT = 1

#: Most entries take a few kilobytes (a JWT and a refresh token), but a token
#: answer may be far larger (an Entra ID token listing many groups, an ID token
#: beside the access token): an entry holds any token an endpoint may answer (the
#: answers are bounded at 1 MiB by default) with room for JSON's escapes. A larger
#: one is not ours, and is not read into memory whole. A token too large for it is
#: kept in memory only (:func:`encode_entry` refuses it, the cache logs why).
MAX_ENTRY_SIZE = 4 * 1024 * 1024


class DamagedEntry(ValueError):
    """A cache entry that cannot be read back as a token. The message says why,
    without quoting the entry."""


def encode_entry(token: Token) -> bytes:
    """The entry for *token*: compact JSON, UTF-8. It holds the secret token.

    Raises:
        DamagedEntry: the entry would exceed MAX_ENTRY_SIZE, so it could not be read back.
    """
    data = json.dumps({"format": FORMAT, "token": token.to_dict()}, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_ENTRY_SIZE:
        raise DamagedEntry(f"the token's entry would take {len(data)} bytes, more than {MAX_ENTRY_SIZE}")
    return data


def decode_entry(data: Union[bytes, str]) -> Token:
    """The token of an entry written by :func:`encode_entry`; raises :class:`DamagedEntry`."""
    fields = _decode(data, "token")
    try:
        return Token.from_dict(fields)
    except TokenResponseError:
        raise DamagedEntry("its token fields are malformed") from None


def encode_failure(failure: SharedFailure) -> bytes:
    """The record of a shared failure: compact JSON, UTF-8. It holds no secret."""
    return json.dumps({"format": FORMAT, "failure": failure.to_dict()}, separators=(",", ":")).encode("utf-8")


def decode_failure(data: Union[bytes, str]) -> SharedFailure:
    """The failure of a record written by :func:`encode_failure`; raises :class:`DamagedEntry`."""
    fields = _decode(data, "failure")
    try:
        return SharedFailure.from_dict(fields)
    except ValueError as exc:
        raise DamagedEntry(f"its failure fields are malformed ({exc})") from None


def _decode(data: Union[bytes, str], kind: str) -> Dict[str, Any]:
    """The *kind* object of a cache entry; raises :class:`DamagedEntry` for anything else."""
    if len(data) > MAX_ENTRY_SIZE:
        raise DamagedEntry(f"it is larger than {MAX_ENTRY_SIZE} bytes, more than any {kind} entry")
    if not data:
        raise DamagedEntry("it is empty")
    try:
        document = json.loads(data)
    except ValueError:  # also UnicodeDecodeError
        raise DamagedEntry("it is not JSON (a truncated or overwritten entry)") from None
    if not isinstance(document, dict) or not isinstance(document.get(kind), dict):
        raise DamagedEntry(f"it is not a {kind} entry")
    version = document.get("format")
    if version != FORMAT:
        shown = repr(version) if isinstance(version, int) else "unknown"
        raise DamagedEntry(f"it has format {shown}; this version reads format {FORMAT}")
    fields: Dict[str, Any] = document[kind]
    return fields
