"""Token sources: where a token that another request carries comes from.

A token exchange (RFC 8693) trades a *subject token* the workload already holds
for another; a client assertion (RFC 7521) proves a client with a token its
platform signed. Both read that token at every token call, from a source:

==================================  ============================================================
what is given                       what is read at every token call
==================================  ============================================================
``pathlib.Path`` or ``FileToken``   the file, read again whenever it changed (device, inode,
                                    size, modification time, after following symlinks: a
                                    Kubernetes projected token is rotated by swapping a symlink)
a callable                          its return value
another auth of this package        its current access token (``auth.get_token()``): the two
                                    auths share the engine, so a chain renews once per link
``GitHubActionsToken(aud)``         the runner's OIDC token for *aud*
``UrlToken(url, field=...)``        a JSON answer's member, from a GET (Google's URL source)
a ``str``                           the string itself, a literal token (for
                                    :class:`~requests_multiauth.TokenExchangeAuth`;
                                    :class:`~requests_multiauth.ClientAssertion` reads a
                                    ``str`` as a path, as it always has)
==================================  ============================================================

:func:`token_source` (here) turns any of these into a :class:`TokenSource` (``base``);
the sources read in this process are in ``local``, those fetched over HTTP in
``fetched``. Every source is safe for concurrent use. What a source reads is a secret: it is in no repr, log
record or error message, and its public :meth:`~TokenSource.identity` (a path, a
function's name, a digest) is what enters cache keys.

Failures: a source that cannot be read at construction (a missing or empty file,
an unknown kind of source, a GitHub Actions job without its variables) is a
:class:`~requests_multiauth.ConfigurationError`; at a token call, a
:class:`~requests_multiauth.TokenRequestError` naming the path or function, so a
renewal ahead of expiry that meets it keeps the valid token and retries.

Where the request goes next: the token read goes into the grant's request
(:mod:`requests_multiauth.grants.token_exchange`, or a client assertion through
:mod:`requests_multiauth.client_auth`), then to the token endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Union

from ..errors import ConfigurationError
from .base import TokenSource
from .fetched import ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL, GitHubActionsToken, UrlToken
from .local import AuthToken, CallableToken, FileToken, LiteralToken

__all__ = [
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "AuthToken",
    "CallableToken",
    "FileToken",
    "GitHubActionsToken",
    "LiteralToken",
    "TokenSource",
    "TokenSourceSpec",
    "UrlToken",
    "token_source",
]

#: What a token source may be given as (see the module's table).
TokenSourceSpec = Union[TokenSource, str, "os.PathLike[str]", Callable[[], str], Any]


def token_source(value: TokenSourceSpec, *, label: str = "the token", holds: str = "the token") -> TokenSource:
    """The :class:`TokenSource` *value* stands for (see the module's table): a ``str``
    is a literal token, a path a :class:`FileToken`, an object with ``get_token()``
    an :class:`AuthToken`, any other callable a :class:`CallableToken`.

    Raises:
        ConfigurationError: *value* is none of these, or an empty string, or names
            a missing or empty file.
    """
    if isinstance(value, TokenSource):
        return value
    if isinstance(value, str):
        return LiteralToken(value, label=label)
    if isinstance(value, (Path, os.PathLike)):
        return FileToken(value, label=label, holds=holds)
    if callable(getattr(value, "get_token", None)):
        return AuthToken(value)
    if callable(value):
        return CallableToken(value, label=label)
    raise ConfigurationError(
        f"{label}: a {type(value).__name__} is not a token source: pass a str (the token), a pathlib.Path, "
        "a callable returning the token, another auth, or GitHubActionsToken(audience)"
    )
