"""Request headers that keep our token on a redirect: ``.netrc`` never replaces it.

requests re-authorises every redirect hop from ``~/.netrc`` (``Session.rebuild_auth``:
when the file has an entry for the host, the hop's ``Authorization`` becomes
``Basic <netrc login>``), after the auth's hooks ran and without asking the auth. A
request that carried our token to a host with a netrc entry would then follow a
same-origin redirect with the netrc credentials instead, get a 401, and never be
replayed, since it no longer carries our token.

:class:`TokenHeaders` is the header mapping our auths give a request that a redirect
answers, before requests follows it (so a request that is not redirected pays nothing):
it refuses a ``Basic`` value over the ``Authorization`` header that
holds our token, and keeps that behaviour on the copies requests makes for each
hop. Removing the header (requests does so when a redirect leaves the host) is
allowed, and a hop without our token is left to requests' rules.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

__all__ = ["TokenHeaders", "keep_token_header"]

_AUTHORIZATION = "authorization"


class TokenHeaders(CaseInsensitiveDict):  # type: ignore[type-arg]
    """Headers whose ``Authorization``, once it carries a token of ours (any scheme but
    Basic), is not replaced by a ``Basic`` value (requests' netrc re-authorisation)."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key.lower() == _AUTHORIZATION and _is_basic(value):
            current = self._store.get(_AUTHORIZATION)
            if current is not None and not _is_basic(current[1]):
                return  # requests' netrc re-authorisation of a redirect hop: our token stays
        super().__setitem__(key, value)

    def copy(self) -> TokenHeaders:
        return TokenHeaders(self._store.values())


def _is_basic(value: Any) -> bool:
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return text[:6].lower() == "basic "


def keep_token_header(request: requests.PreparedRequest) -> None:
    """Make *request*'s headers (and the copies requests makes for its redirect hops) keep our token."""
    if not isinstance(request.headers, TokenHeaders):
        request.headers = TokenHeaders(request.headers)
