"""The Token record and the token-answer parser (requests_multiauth/token.py), as DESIGN.md describes them."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Dict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from requests_multiauth import (
    InvalidClientError,
    MultiAuthError,
    Token,
    TokenRequestError,
    TokenResponseError,
)
from requests_multiauth.token import jwt_expiry, parse_token_response

#: A fixed "now" for every parse: 2025-01-01T00:00:00Z.
NOW = 1_735_689_600.0

ACCESS = "at-7Hq2Lr9Vx0Pz"
REFRESH = "rt-Kd83Jf02Mx1Q"


def jwt(claims: Dict[str, Any]) -> str:
    """An unsigned-looking JWT carrying *claims* (the parser reads, never verifies)."""

    def segment(value: Dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


def parse(payload: Any, **options: Any) -> Token:
    return parse_token_response(payload, now=NOW, **options)


def iso(seconds_from_now: float, *, offset_hours: float = 0, fraction_digits: int = 0, zulu: bool = False) -> str:
    """NOW + seconds as an ISO 8601 string in the given form."""
    zone = timezone(timedelta(hours=0 if zulu else offset_hours))
    moment = datetime.fromtimestamp(NOW + seconds_from_now, timezone.utc).astimezone(zone)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits:
        text += "." + "5" + "0" * (fraction_digits - 1)  # half a second
    if zulu:
        return text + "Z"
    return text + moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


# -- expires_in ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [3600, 3600.0, "3600", " 3600 ", "3600.0"])
def test_expires_in_as_number_or_numeric_string_sets_an_absolute_expiry(value: Any) -> None:
    token = parse({"access_token": ACCESS, "token_type": "Bearer", "expires_in": value})
    assert token.expires_at == NOW + 3600
    assert token.issued_at == NOW


@pytest.mark.parametrize("value", [0, -5, "-1"])
def test_expires_in_zero_or_negative_is_an_unusable_answer(value: Any) -> None:
    with pytest.raises(TokenResponseError, match="expires_in"):
        parse({"access_token": ACCESS, "expires_in": value})


@pytest.mark.parametrize("value", ["soon", True, [3600], {"s": 1}, "nan", "inf"])
def test_expires_in_that_is_not_a_number_is_named_in_the_error(value: Any) -> None:
    with pytest.raises(TokenResponseError, match="expires_in is not a number"):
        parse({"access_token": ACCESS, "expires_in": value})


def test_expires_in_beyond_ten_years_is_rejected_as_implausible() -> None:
    with pytest.raises(TokenResponseError, match="ten years"):
        parse({"access_token": ACCESS, "expires_in": 11 * 365 * 86400})


def test_expires_in_too_large_for_a_float_is_a_token_response_error() -> None:
    with pytest.raises(TokenResponseError, match="expires_in"):
        parse({"access_token": ACCESS, "expires_in": 10**400})


# -- absolute expiry ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["expires_at", "expires_on", "expiration_date", "expiresAt", "expiresOn"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NOW + 1800, NOW + 1800),  # epoch seconds
        (int(NOW + 1800), NOW + 1800),
        (str(int(NOW + 1800)), NOW + 1800),  # as a string
        ((NOW + 1800) * 1000, NOW + 1800),  # epoch milliseconds
        (str(int((NOW + 1800) * 1000)), NOW + 1800),
    ],
)
def test_absolute_expiry_in_epoch_seconds_or_milliseconds(key: str, value: Any, expected: float) -> None:
    token = parse({"access_token": ACCESS, key: value})
    assert token.expires_at == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        iso(1800, zulu=True),
        iso(1800, offset_hours=0),
        iso(1800, offset_hours=2),
        iso(1800, offset_hours=-5),
        iso(1800, offset_hours=5.5),
        iso(1800, offset_hours=0).replace("+00:00", ""),  # no offset: UTC
    ],
)
def test_absolute_expiry_as_iso_8601_with_z_or_offsets(value: str) -> None:
    token = parse({"access_token": ACCESS, "expiration_date": value})
    assert token.expires_at == NOW + 1800


@pytest.mark.parametrize("digits", [1, 3, 6, 7, 9])
@pytest.mark.parametrize("zulu", [True, False])
def test_absolute_expiry_as_iso_8601_with_fractional_seconds(digits: int, zulu: bool) -> None:
    token = parse({"access_token": ACCESS, "expires_at": iso(1800, fraction_digits=digits, zulu=zulu, offset_hours=1)})
    assert token.expires_at == pytest.approx(NOW + 1800.5)


def test_absolute_expiry_in_the_past_is_an_unusable_answer_that_mentions_the_clock() -> None:
    with pytest.raises(TokenResponseError, match="clock"):
        parse({"access_token": ACCESS, "expires_at": NOW - 10})


@pytest.mark.parametrize(
    "value",
    [
        -1e20,  # no datetime can show this moment
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "soon",
        "2025-13-45T99:00:00Z",
        [NOW + 60],
    ],
)
def test_absolute_expiry_that_is_no_usable_time_is_a_token_response_error(value: Any) -> None:
    with pytest.raises(TokenResponseError, match="expires_at"):
        parse({"access_token": ACCESS, "expires_at": value})


def test_absolute_expiry_beyond_ten_years_is_rejected() -> None:
    with pytest.raises(TokenResponseError, match="ten years"):
        parse({"access_token": ACCESS, "expires_at": "9999-12-31T23:59:59Z"})


# -- order of preference ----------------------------------------------------------------


def test_relative_lifetime_wins_over_an_absolute_date() -> None:
    # Diagrams' documented answer: expires_in plus an expiration_date from the server's clock.
    token = parse(
        {
            "access_token": ACCESS,
            "token_type": "bearer",
            "expires_in": 172800,
            "expiration_date": "2021-10-27T12:06:28.828Z",  # long past by our clock: ignored
            "refresh_token": REFRESH,
            "refresh_token_expires_in": 31557600,
            "refresh_token_expiration_date": "2022-10-25T18:06:28.849Z",
        }
    )
    assert token.expires_at == NOW + 172800
    assert token.refresh_token == REFRESH
    assert token.refresh_expires_at == NOW + 31557600


def test_absolute_date_wins_over_the_jwt_exp_claim() -> None:
    token = parse({"access_token": jwt({"exp": NOW + 9000}), "expires_at": NOW + 600})
    assert token.expires_at == NOW + 600


def test_jwt_exp_claim_is_used_when_the_answer_states_no_expiry() -> None:
    token = parse({"access_token": jwt({"exp": int(NOW) + 7200, "sub": "client"})}, default_lifetime=60)
    assert token.expires_at == NOW + 7200


def test_jwt_exp_claim_in_the_past_is_an_unusable_answer() -> None:
    with pytest.raises(TokenResponseError, match="JWT exp"):
        parse({"access_token": jwt({"exp": NOW - 1})})


def test_provider_default_lifetime_comes_last() -> None:
    token = parse({"access_token": "opaque-token"}, default_lifetime=3600)
    assert token.expires_at == NOW + 3600


def test_no_expiry_anywhere_leaves_expires_at_unknown() -> None:
    token = parse({"access_token": "opaque-token"})
    assert token.expires_at is None
    assert token.expires_in(NOW) is None


@pytest.mark.parametrize(
    "token_string",
    [
        "a.b.c",  # three parts, not base64 JSON
        "abc.%%%.def",
        jwt({"sub": "no exp"}),
        "x." + base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=") + ".y",  # claims not an object
        "x." + base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=") + ".y",  # not UTF-8
    ],
)
def test_jwt_expiry_is_none_for_anything_that_is_not_a_jwt_with_exp(token_string: str) -> None:
    assert jwt_expiry(token_string) is None


# -- shapes: data wrapper, camelCase, token_type --------------------------------------


def test_fields_under_a_data_wrapper_and_in_camel_case_are_read() -> None:
    # OpsNow-style: {"data": {"accessToken": ..., "expiresIn": ...}}
    token = parse({"code": 0, "data": {"accessToken": ACCESS, "tokenType": "Bearer", "expiresIn": "3600"}})
    assert token.access_token == ACCESS
    assert token.expires_at == NOW + 3600


def test_camel_case_refresh_token_and_scope_list_are_read() -> None:
    token = parse(
        {
            "accessToken": ACCESS,
            "expiresIn": 60,
            "refreshToken": REFRESH,
            "refreshTokenExpiresIn": 600,
            "scopes": ["read", "write"],
        }
    )
    assert token.refresh_token == REFRESH
    assert token.refresh_expires_at == NOW + 600
    assert token.scope == "read write"


def test_top_level_token_wins_over_a_data_wrapper() -> None:
    token = parse({"access_token": ACCESS, "data": {"access_token": "other"}})
    assert token.access_token == ACCESS


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER", "bEaReR", None])
def test_token_type_is_case_insensitive_and_always_bearer(token_type: Any) -> None:
    payload = {"access_token": ACCESS, "expires_in": 60}
    if token_type is not None:
        payload["token_type"] = token_type
    assert parse(payload).token_type == "Bearer"


@pytest.mark.parametrize("token_type", ["mac", "PoP", 7])
def test_a_token_type_other_than_bearer_is_refused_by_name(token_type: Any) -> None:
    with pytest.raises(TokenResponseError, match="token_type"):
        parse({"access_token": ACCESS, "token_type": token_type})


def test_access_token_is_stripped_of_surrounding_whitespace() -> None:
    assert parse({"access_token": f"  {ACCESS}\n"}).access_token == ACCESS


# -- 200 answers that carry an error ------------------------------------------------------


def test_a_200_answer_with_invalid_client_error_is_an_invalid_client_error() -> None:
    with pytest.raises(InvalidClientError) as caught:
        parse({"error": "invalid_client", "error_description": "Client authentication failed"})
    assert caught.value.status_code == 200
    assert caught.value.error == "invalid_client"
    assert caught.value.error_description == "Client authentication failed"
    assert "client id and secret" in str(caught.value)


def test_a_200_answer_with_another_error_is_a_token_request_error() -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse({"access_token": ACCESS, "error": "invalid_scope"})  # an error wins over a token
    assert not isinstance(caught.value, InvalidClientError)
    assert caught.value.error == "invalid_scope"


def test_an_error_under_the_data_wrapper_is_a_failure_too() -> None:
    with pytest.raises(TokenRequestError, match="access_denied"):
        parse({"data": {"error": "access_denied"}})


@pytest.mark.parametrize("empty", [None, "", False])
def test_an_empty_error_field_is_not_a_failure(empty: Any) -> None:
    assert parse({"access_token": ACCESS, "error": empty}).access_token == ACCESS


def test_an_error_description_that_echoes_the_secret_is_redacted() -> None:
    with pytest.raises(InvalidClientError) as caught:
        parse({"error": "invalid_client", "error_description": "secret s3cr3t-XYZ is wrong"}, secrets=["s3cr3t-XYZ"])
    assert "s3cr3t-XYZ" not in str(caught.value)
    assert "s3cr3t-XYZ" not in (caught.value.error_description or "")


# -- unusable answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({}, "no access_token"),
        ({"token_type": "Bearer", "expires_in": 3600}, "no access_token; fields present: expires_in, token_type"),
        ({"access_token": ""}, "an empty access_token"),
        ({"access_token": "   "}, "an empty access_token"),
        ({"access_token": 12345}, "an access_token that is a int"),
        ({"access_token": None}, "no access_token"),
        ({"data": "nope"}, "no access_token; fields present: data"),
        ({"data": [{"access_token": ACCESS}]}, "no access_token"),
        ([{"access_token": ACCESS}], "JSON list, not an object"),
        ("a string", "JSON str, not an object"),
        (None, "JSON null, not an object"),
        ({"access_token": ACCESS, "refresh_token": 5}, "refresh_token that is a int"),
        ({"access_token": ACCESS, "refresh_token": REFRESH, "refresh_token_expires_in": "x"}, "refresh_token_expires"),
    ],
)
def test_every_unusable_answer_is_a_token_response_error_naming_what_is_missing(payload: Any, named: str) -> None:
    with pytest.raises(TokenResponseError) as caught:
        parse(payload)
    assert named in str(caught.value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_field_values = st.one_of(
    _json,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.datetimes(
        timezones=st.none()
        | st.just(timezone.utc)
        | st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439))
    ).map(lambda d: d.isoformat()),
)
_FIELDS = ("access_token", "accessToken", "token", "token_type", "expires_in", "expiresIn", "expires_at", "expires_on",
     "expiration_date", "refresh_token", "refresh_token_expires_in", "refresh_token_expires_at", "scope", "error",
     "error_description", "data")  # fmt: skip
_field_names = st.sampled_from(_FIELDS)


_answers = st.one_of(
    _json,
    st.dictionaries(_field_names, _field_values, max_size=6),
    # with a usable token, so that the expiry and refresh fields are reached
    st.fixed_dictionaries({"access_token": st.just(ACCESS)}, optional={name: _field_values for name in _FIELDS[1:]}),
)


@settings(max_examples=200, deadline=None)
@given(payload=_answers)
def test_any_answer_gives_a_token_or_a_typed_error_never_a_key_or_value_error(payload: Any) -> None:
    try:
        token = parse(payload)
    except (TokenResponseError, TokenRequestError):
        return  # typed: the only failures allowed
    else:
        assert token.access_token
        assert token.token_type == "Bearer"
        assert token.expires_at is None or token.expires_at >= NOW  # never already in the past
        repr(token)


def test_parse_errors_are_multiauth_errors_and_not_key_or_value_errors() -> None:
    for cls in (TokenResponseError, TokenRequestError):
        assert issubclass(cls, MultiAuthError)
        assert not issubclass(cls, (KeyError, ValueError))


# -- the Token record ---------------------------------------------------------------------


def test_token_repr_and_str_show_the_expiry_but_never_the_tokens() -> None:
    token = parse({"access_token": ACCESS, "expires_in": 3600, "refresh_token": REFRESH, "scope": "read"})
    for text in (repr(token), str(token), f"{token}", repr([token])):
        assert ACCESS not in text
        assert REFRESH not in text
    assert "refresh_token=yes" in repr(token)
    assert "scope='read'" in repr(token)
    assert "2025-01-01T01:00:00+00:00" in repr(token)


@pytest.mark.parametrize("expires_at", [1e300, -1e20, float("inf")])
def test_token_repr_survives_an_absurd_hand_made_expiry(expires_at: float) -> None:
    text = repr(Token(ACCESS, expires_at=expires_at))
    assert text.startswith("Token(")
    assert ACCESS not in text


def test_token_is_immutable() -> None:
    token = Token(ACCESS)
    with pytest.raises(AttributeError):
        token.access_token = "other"  # type: ignore[misc]


def test_token_to_dict_and_from_dict_round_trip() -> None:
    token = parse({"access_token": ACCESS, "expires_in": 3600, "refresh_token": REFRESH, "scope": "a b"})
    data = json.loads(json.dumps(token.to_dict()))  # what a file or Redis cache stores
    assert Token.from_dict(data) == token


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"access_token": ""},
        {"access_token": 5},
        {"access_token": ACCESS, "expires_at": "tomorrow"},
        {"access_token": ACCESS, "issued_at": True},
        {"access_token": ACCESS, "unknown_field": 1, "token_type": "Bearer", "bogus": 2, "expires_at": [1]},
    ],
)
def test_from_dict_refuses_a_damaged_cache_entry_with_a_token_response_error(data: Dict[str, Any]) -> None:
    with pytest.raises(TokenResponseError):
        Token.from_dict(data)


def test_from_dict_ignores_fields_it_does_not_know() -> None:
    assert Token.from_dict({"access_token": ACCESS, "written_by": "a newer version"}) == Token(ACCESS)
