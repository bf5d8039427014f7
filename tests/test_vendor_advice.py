"""providers/_advice.py: a vendor's meaning and advice replace the general advice of a refusal."""

from __future__ import annotations

from requests_multiauth import InvalidClientError, TokenRequestError
from requests_multiauth.errors import with_what_to_do
from requests_multiauth.providers._advice import advise


def refused() -> InvalidClientError:
    return InvalidClientError(
        with_what_to_do("the token endpoint refused (HTTP 401 invalid_client)", "check the client id"),
        hint="check the client id",
        status_code=401,
        error="invalid_client",
    )


def test_the_vendors_advice_replaces_the_general_one_and_the_class_and_fields_stay() -> None:
    changed = advise(refused(), "Zoom 4702: the secret is wrong", "copy it again")
    assert str(changed) == (
        "the token endpoint refused (HTTP 401 invalid_client) (Zoom 4702: the secret is wrong). "
        "What to do: copy it again"
    )
    assert isinstance(changed, InvalidClientError)
    assert (changed.status_code, changed.error, changed.hint) == (401, "invalid_client", "copy it again")


def test_a_meaning_without_advice_keeps_the_general_advice() -> None:
    changed = advise(refused(), "AADSTS90002: the tenant was not found", None)
    assert str(changed).endswith("(AADSTS90002: the tenant was not found). What to do: check the client id")
    assert changed.hint == "check the client id"


def test_nothing_to_add_returns_the_error_itself() -> None:
    error = TokenRequestError("refused", status_code=400)
    assert advise(error, None, None) is error
