"""How tokens and auths show themselves in IPython and Jupyter: a few labelled rows.

:class:`~requests_multiauth.Token` and the auths describe themselves as
``(label, value)`` rows; this module renders them as an HTML table
(``_repr_html_``) or as indented text (``_repr_pretty_``). Rows hold only what a
``repr`` may hold: never a secret or a token. Every label and value is
HTML-escaped, since a client id or a scope can contain anything.

Where the request goes next: nowhere; this module only describes objects.
"""

from __future__ import annotations

import html
import math
import time
from datetime import datetime, timezone
from typing import Any, Optional, Sequence, Tuple

__all__ = ["Rows", "describe_expiry", "describe_seconds", "render_html", "render_text"]

#: What an object shows: its title and its rows.
Rows = Sequence[Tuple[str, str]]


def describe_seconds(seconds: float) -> str:
    """``"59 min"``, ``"3 h 20 min"``, ``"364 days"``: how long, roughly."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds / 86400:.0f} days"


def describe_expiry(expires_at: Optional[float], now: Optional[float] = None) -> str:
    """``"2026-12-01 23:10 UTC (in 59 min)"``, ``"... (12 min ago)"`` or ``"not stated"``."""
    if expires_at is None:
        return "not stated"
    if not math.isfinite(expires_at):
        return repr(expires_at)
    try:
        moment = datetime.fromtimestamp(expires_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a hand-made Token with an absurd expiry
        return repr(expires_at)
    left = expires_at - (time.time() if now is None else now)
    return f"{moment} ({'in ' + describe_seconds(left) if left >= 0 else describe_seconds(left) + ' ago'})"


def render_html(title: str, rows: Rows) -> str:
    """A small two-column table, everything escaped."""
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(label)}</th>"
        f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
        for label, value in rows
    )
    return f"<div><strong>{html.escape(title)}</strong><table>{body}</table></div>"


def render_text(title: str, rows: Rows) -> str:
    """The title, then one ``label: value`` line per row."""
    return "\n".join([title, *(f"  {label}: {value}" for label, value in rows)])


def pretty(printer: Any, cycle: bool, title: str, rows: Rows) -> None:
    """IPython's ``_repr_pretty_`` protocol: write the text rendering to *printer*."""
    printer.text(title if cycle else render_text(title, rows))
