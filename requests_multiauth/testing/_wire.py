"""What an emulated endpoint reads from a request and how it refuses one.

Every emulation checks a token request the same few ways before its provider's own rules:
the media type, the form (no repeated field), HTTP Basic credentials, a secret compared in
constant time. A request that deviates is refused by raising :class:`Refusal`, which carries
the reply the provider would send; :func:`oauth_refusal` words the RFC 6749 §5.2 one. No
state: the emulations (:class:`~requests_multiauth.testing.ProviderEmulator` and its
subclasses) call these from their token endpoints and APIs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from typing import Dict, List, Mapping, Optional, Tuple, Union

from ._server import Reply, Request

__all__ = [
    "Refusal",
    "basic_credentials",
    "media_type",
    "oauth_form",
    "oauth_refusal",
    "random_id",
    "same_secret",
    "seconds",
    "single_values",
]


class Refusal(Exception):
    """A request deviates from the provider's page: answer *reply* instead."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def media_type(request: Request) -> str:
    """The request's media type, lower case, without parameters such as charset."""
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def basic_credentials(request: Request) -> Optional[Tuple[str, str]]:
    """The id and secret of an HTTP Basic header, or None when there is no
    Basic header. A malformed one yields ``("", "")``, which matches no client."""
    value = request.headers.get("Authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else ("", "")


def single_values(form: Mapping[str, List[str]]) -> Optional[Dict[str, str]]:
    """A form's fields as single values, or None if any field is repeated."""
    if any(len(values) != 1 for values in form.values()):
        return None
    return {name: values[0] for name, values in form.items()}


def same_secret(given: str, expected: str) -> bool:
    """Compare secrets in constant time, as a provider would."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def seconds(value: float) -> Union[int, float]:
    """A lifetime as JSON shows it: an integer when it is whole."""
    return int(value) if float(value).is_integer() else value


def random_id(length: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    """A random identifier, shaped like the provider's (a Cognito client id, say)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def oauth_refusal(error: str, description: str, *, status: int = 400) -> Refusal:
    """An RFC 6749 §5.2 error answer: ``{"error": ..., "error_description": ...}``."""
    return Refusal(Reply(status, {"error": error, "error_description": description}))


def oauth_form(request: Request) -> Dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` token request, or
    a 400 ``invalid_request`` refusal: another content type, a malformed body,
    a repeated field."""
    if media_type(request) != "application/x-www-form-urlencoded":
        raise oauth_refusal("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    try:
        fields = single_values(request.form())
    except (ValueError, UnicodeDecodeError):
        raise oauth_refusal("invalid_request", "the body is not a valid form") from None
    if fields is None:
        raise oauth_refusal("invalid_request", "a parameter is repeated")
    return fields
