"""Vendor advice on a refused token call: the vendor's own error code, its documented meaning, what to do.

The presets of Zoom, GitHub Apps and Entra ID wrap their token calls in :func:`advise`,
which rewrites the "What to do" part of a :class:`~requests_multiauth.TokenRequestError`
with the vendor's advice for the code it answered. The error's class and attributes stay.
"""

from __future__ import annotations

import copy
from typing import Optional, TypeVar

from ..errors import TokenRequestError, with_what_to_do

__all__ = ["advise"]

E = TypeVar("E", bound=TokenRequestError)


def advise(exc: E, meaning: Optional[str], hint: Optional[str]) -> E:
    """*exc* with the vendor's *meaning* of its code added and *hint* as what to do.

    *meaning* and *hint* are our words from the vendor's documents (never server text),
    so they need no redaction. Returns *exc* itself when there is nothing to add.
    """
    if meaning is None and hint is None:
        return exc
    message = str(exc)
    if exc.hint is not None and f"What to do: {exc.hint}" in message:
        message = message.replace(f". What to do: {exc.hint}", "", 1).replace(f"What to do: {exc.hint}", "", 1)
    message = message.rstrip(". ")
    if meaning is not None:
        message = f"{message} ({meaning})"
    advice = hint if hint is not None else exc.hint  # no advice of the vendor's: keep the general one
    changed = copy.copy(exc)
    changed.args = (with_what_to_do(message, advice) if advice is not None else message,)
    changed.hint = advice
    return changed.with_traceback(None)
