"""What tests expect on the wire, written independently of the code under test."""

from __future__ import annotations

import base64

FORM = "application/x-www-form-urlencoded"


def basic_credentials(user: str, password: str) -> str:
    """The Base64 part of an HTTP Basic header (``curl -u user:password``): as good as the password."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def basic(user: str, password: str) -> str:
    """The whole ``Authorization`` value of HTTP Basic, as the providers' pages send it."""
    return "Basic " + basic_credentials(user, password)
