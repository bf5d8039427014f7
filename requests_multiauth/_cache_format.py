"""How a token is written into a shared cache entry, and read back.

:class:`~requests_multiauth.cache_file.FileTokenCache` and
:class:`~requests_multiauth.cache_redis.RedisTokenCache` store the same bytes:
a small JSON object with a format number and the token's fields. Reading is
defensive: anything that is not such an object (a truncated write, another
program's data, a future format) raises :class:`DamagedEntry`, whose message
never quotes the entry, since the entry holds the token.
"""

from __future__ import annotations

import json
from typing import Union

from .errors import TokenResponseError
from .token import Token

__all__ = ["FORMAT", "MAX_ENTRY_SIZE", "DamagedEntry", "decode_entry", "encode_entry"]

#: The entry layout's version. An entry of another version is treated as
#: missing (and then replaced), so an upgrade never misreads an old entry.
FORMAT = 1

#: Real entries take a few kilobytes at most (a JWT and a refresh token); a
#: larger one is not ours, and is not read into memory whole.
MAX_ENTRY_SIZE = 64 * 1024


class DamagedEntry(ValueError):
    """A cache entry that cannot be read back as a token. The message says why,
    without quoting the entry."""


def encode_entry(token: Token) -> bytes:
    """The entry for *token*: compact JSON, UTF-8. It holds the secret token."""
    return json.dumps({"format": FORMAT, "token": token.to_dict()}, separators=(",", ":")).encode("utf-8")


def decode_entry(data: Union[bytes, str]) -> Token:
    """The token of an entry written by :func:`encode_entry`; raises :class:`DamagedEntry`."""
    if len(data) > MAX_ENTRY_SIZE:
        raise DamagedEntry(f"it is larger than {MAX_ENTRY_SIZE} bytes, more than any token entry")
    if not data:
        raise DamagedEntry("it is empty")
    try:
        document = json.loads(data)
    except ValueError:  # also UnicodeDecodeError
        raise DamagedEntry("it is not JSON (a truncated or overwritten entry)") from None
    if not isinstance(document, dict) or not isinstance(document.get("token"), dict):
        raise DamagedEntry("it is not a token entry")
    version = document.get("format")
    if version != FORMAT:
        shown = repr(version) if isinstance(version, int) else "unknown"
        raise DamagedEntry(f"it has format {shown}; this version reads format {FORMAT}")
    try:
        return Token.from_dict(document["token"])
    except TokenResponseError:
        raise DamagedEntry("its token fields are malformed") from None
