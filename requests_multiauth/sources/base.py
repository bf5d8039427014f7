"""The token source interface: what every source gives (a token, a public identity, its
own secrets) and how it hears that a token it gave was refused.

Where the request goes next: a grant or a client assertion reads the source at every
token call (see :mod:`requests_multiauth.sources`).
"""

from __future__ import annotations

from typing import Tuple

__all__ = ["TokenSource"]


class TokenSource:
    """Something that gives a token (a secret) at every token call. Safe for concurrent use.

    Subclasses define :meth:`token` and :meth:`identity`; the repr shows where the
    token comes from, never the token.
    """

    #: What this source is, for reprs and messages ("file", "callable" ...).
    kind: str = "source"

    def token(self) -> str:
        """The current token (a secret).

        Raises:
            TokenRequestError: there is none now (the message says where it was looked for).
        """
        raise NotImplementedError

    def identity(self) -> str:
        """Public text that tells this source's tokens apart from another's, for cache
        keys: a path, a function's name, a digest. Never the token."""
        raise NotImplementedError

    @property
    def secrets(self) -> Tuple[str, ...]:
        """Long-lived secrets of the source itself (a request token), kept out of messages."""
        return ()

    def rejected(self, token: str) -> bool:
        """The server refused *token*, which this source gave (a 401 for a revoked token):
        drop it if the source keeps one. True when the next :meth:`token` gives another."""
        return False
