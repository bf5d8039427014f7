"""Malformed token answers: a 2xx that carries no usable token is a TokenResponseError that says
what the answer was (status, content type, a short excerpt with every credential scrubbed),
is not retried, and never shows a token or secret.

The property test at the end feeds arbitrary JSON to the parser itself: it returns a
Token or raises one of the library's two token errors, never anything else.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any, Callable, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from requests_multiauth import (
    ClientCredentialsAuth,
    Token,
    TokenRequestError,
    TokenResponseError,
)
from requests_multiauth.errors import EXCERPT_LENGTH
from requests_multiauth.testing import LocalServer, Reply
from requests_multiauth.token import parse_token_response

from .fixtures_secrets import SecretWatch

CLIENT_ID = "answers-client"
CLIENT_SECRET = "answers-secret-41b7c2"
TOKEN_PATH = "/oauth2/token"
#: The token some malformed answers carry; it must never be quoted.
LEAKY_TOKEN = "leaky-access-token-9c81f0"
NOW = 1_800_000_000.0


def make_auth(server: LocalServer) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(CLIENT_ID, CLIENT_SECRET, server.url + TOKEN_PATH, session=server.session())


def body(fields: Dict[str, Any]) -> Reply:
    return Reply(200, fields)


HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><h1>Service Temporarily Unavailable</h1><p>The gateway is down for maintenance.</p></body></html>"
)

MALFORMED = {
    # id: (reply, the content type it carries, words the message must contain)
    "html-page": (Reply(200, HTML_PAGE, {"Content-Type": "text/html"}), "text/html", ["not JSON", "Service"]),
    "empty-body": (Reply(200, b"", {"Content-Type": "application/json"}), "application/json", ["empty body"]),
    "plain-text": (Reply(200, "OK", {"Content-Type": "text/plain"}), "text/plain", ["not JSON", "OK"]),
    "json-array": (Reply(200, [{"access_token": LEAKY_TOKEN}]), "application/json", ["list", "not an object"]),
    "json-string": (Reply(200, '"just a string"', {"Content-Type": "application/json"}), "application/json", ["str"]),
    "nested-too-deep": (
        Reply(200, "[" * 100_000, {"Content-Type": "application/json"}),
        "application/json",
        ["not JSON"],
    ),
    "json-null": (Reply(200, "null", {"Content-Type": "application/json"}), "application/json", ["null"]),
    "no-access-token": (body({"token_type": "Bearer", "expires_in": 3600}), "application/json", ["no access_token"]),
    "empty-access-token": (body({"access_token": "", "expires_in": 3600}), "application/json", ["empty access_token"]),
    "blank-access-token": (body({"access_token": "   ", "expires_in": 3600}), "application/json", ["empty"]),
    "numeric-access-token": (body({"access_token": 12345678, "expires_in": 3600}), "application/json", ["int"]),
    "object-access-token": (body({"access_token": {"value": LEAKY_TOKEN}}), "application/json", ["dict"]),
    "list-access-token": (body({"access_token": [LEAKY_TOKEN]}), "application/json", ["list"]),
    "negative-expires-in": (body({"access_token": LEAKY_TOKEN, "expires_in": -60}), "application/json", ["-60"]),
    "zero-expires-in": (body({"access_token": LEAKY_TOKEN, "expires_in": 0}), "application/json", ["expires_in is 0"]),
    "sub-second-expires-in": (
        body({"access_token": LEAKY_TOKEN, "expires_in": 0.001}),
        "application/json",
        ["less than a second"],
    ),
    "huge-expires-in": (body({"access_token": LEAKY_TOKEN, "expires_in": 10**12}), "application/json", ["ten years"]),
    "word-expires-in": (
        body({"access_token": LEAKY_TOKEN, "expires_in": "soon"}),
        "application/json",
        ["not a number"],
    ),
    "boolean-expires-in": (
        body({"access_token": LEAKY_TOKEN, "expires_in": True}),
        "application/json",
        ["not a number"],
    ),
    "infinite-expires-in": (
        Reply(
            200, '{"access_token": "' + LEAKY_TOKEN + '", "expires_in": Infinity}', {"Content-Type": "application/json"}
        ),
        "application/json",
        ["not a number"],
    ),
    "mac-token-type": (
        body({"access_token": LEAKY_TOKEN, "token_type": "mac"}),
        "application/json",
        ["'mac'", "Bearer"],
    ),
    "pop-token-type": (body({"access_token": LEAKY_TOKEN, "token_type": "PoP"}), "application/json", ["PoP"]),
    "wrapped-without-token": (body({"data": {"expiresIn": 3600}}), "application/json", ["no access_token"]),
}


@pytest.mark.parametrize(("reply", "content_type", "words"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_a_token_response_error_quoting_content_type_and_a_redacted_excerpt(
    serve: Callable[..., LocalServer],
    secret_strings: SecretWatch,
    reply: Reply,
    content_type: str,
    words: List[str],
) -> None:
    secret_strings.add(CLIENT_SECRET, LEAKY_TOKEN)
    server = serve(lambda _: reply)

    with pytest.raises(TokenResponseError) as caught:
        make_auth(server).get_token()

    message = str(caught.value)
    assert "HTTP 200" in message
    assert content_type in message
    for word in words:
        assert word in message
    assert LEAKY_TOKEN not in message
    assert CLIENT_SECRET not in message
    assert len(message) < 1000  # short: an excerpt, not the page
    assert len(server.received(TOKEN_PATH)) == 1  # an unusable answer is not retried


def test_the_excerpt_of_a_json_answer_shows_its_fields_with_credentials_scrubbed(
    serve: Callable[..., LocalServer],
) -> None:
    answer = {"access_token": LEAKY_TOKEN, "refresh_token": LEAKY_TOKEN + "-r", "token_type": "mac", "expires_in": 60}
    server = serve(lambda _: Reply(200, answer))

    with pytest.raises(TokenResponseError) as caught:
        make_auth(server).get_token()

    message = str(caught.value)
    assert '"access_token": "***"' in message
    assert '"refresh_token": "***"' in message
    assert '"token_type": "mac"' in message
    assert '"expires_in": 60' in message
    assert LEAKY_TOKEN not in message


def test_a_long_error_page_is_cut_to_a_short_excerpt(serve: Callable[..., LocalServer]) -> None:
    page = "<html><body>" + "<p>Something went wrong upstream.</p>" * 500 + "</body></html>"
    server = serve(lambda _: Reply(200, page, {"Content-Type": "text/html; charset=utf-8"}))

    with pytest.raises(TokenResponseError) as caught:
        make_auth(server).get_token()

    message = str(caught.value)
    assert "text/html; charset=utf-8" in message
    assert "..." in message
    assert len(message) < EXCERPT_LENGTH + 300


def test_a_non_json_answer_that_echoes_the_client_secret_is_quoted_redacted(
    serve: Callable[..., LocalServer], secret_strings: SecretWatch
) -> None:
    secret_strings.add(CLIENT_SECRET)
    server = serve(
        lambda _: Reply(200, f"debug: client_secret={CLIENT_SECRET} accepted", {"Content-Type": "text/plain"})
    )

    with pytest.raises(TokenResponseError) as caught:
        make_auth(server).get_token()

    assert CLIENT_SECRET not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_200_carrying_an_error_field_is_a_refusal_not_a_token(serve: Callable[..., LocalServer]) -> None:
    server = serve(lambda _: Reply(200, {"error": "invalid_scope", "error_description": "scope unknown"}))

    with pytest.raises(TokenRequestError) as caught:
        make_auth(server).get_token()

    assert caught.value.error == "invalid_scope"
    assert "scope unknown" in str(caught.value)


@pytest.mark.parametrize(
    "access_token",
    ["abc\r\nX-Injected: yes", "line\nbreak-token", "tab\ttoken-value", "t\u00f6ken-with-umlaut", "two words token"],
    ids=["crlf", "lf", "tab", "non-ascii", "space"],
)
def test_an_access_token_that_cannot_travel_in_a_header_is_refused_without_quoting_it(
    serve: Callable[..., LocalServer], access_token: str
) -> None:
    server = serve(lambda _: Reply(200, {"access_token": access_token, "expires_in": 3600}))

    with pytest.raises(TokenResponseError) as caught:
        make_auth(server).get_token()

    assert "header" in str(caught.value)
    assert access_token not in str(caught.value)
    assert access_token.split()[0] not in str(caught.value)


# -- the parser against arbitrary JSON ------------------------------------------------------

FIELD_NAMES = [
    "access_token",
    "accessToken",
    "token",
    "token_type",
    "tokenType",
    "expires_in",
    "expiresIn",
    "expires_at",
    "expiresAt",
    "expires_on",
    "expiresOn",
    "expiration_date",
    "expirationDate",
    "refresh_token",
    "refreshToken",
    "refresh_token_expires_in",
    "refreshTokenExpiresIn",
    "refresh_expires_in",
    "refresh_token_expires_at",
    "refresh_token_expiration_date",
    "scope",
    "scopes",
    "error",
    "error_description",
    "data",
]


def _jwt(claims: Any) -> str:
    segment = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{segment}.c2ln"


numbers = st.one_of(
    st.integers(),  # unbounded: JSON allows integers no float can hold
    st.floats(allow_nan=True, allow_infinity=True),  # json.loads accepts NaN and Infinity
    st.sampled_from([10**400, -(10**400), 1e308, -1e20, 1e20, 1e11, 1e14, -1, 0, 2**63]),  # the edges of time
)
strings = st.one_of(
    st.text(max_size=40),
    numbers.map(str),
    st.sampled_from(["Bearer", "bearer", "BEARER", "mac", "", " ", "null", "3600", "-1", "1e400", "0x10", "NaN"]),
    st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "2030-01-01", "2030-01-01T00:00:00.1234567Z"]
    ),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.text(alphabet="0123456789-:T.+Z", max_size=32),
    st.dictionaries(st.sampled_from(["exp", "iat", "sub"]), st.one_of(numbers, st.text(max_size=12))).map(_jwt),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=3),
    ),
    max_leaves=6,
)
token_objects = st.dictionaries(st.sampled_from(FIELD_NAMES), st.one_of(scalars, nested), max_size=6)
answers = st.one_of(
    token_objects,
    st.builds(lambda outer, inner: {**outer, "data": inner}, token_objects, token_objects),
    nested,
)


@settings(max_examples=400, deadline=None)
@given(payload=answers, default_lifetime=st.one_of(st.none(), st.floats(min_value=1, max_value=10**6)))
def test_the_parser_returns_a_token_or_raises_a_token_error_for_any_json(payload: Any, default_lifetime: Any) -> None:
    try:
        token = parse_token_response(payload, now=NOW, default_lifetime=default_lifetime, secrets=(CLIENT_SECRET,))
    except (TokenResponseError, TokenRequestError) as error:
        message = str(error)
    else:
        message = ""
        check_token(token)
    assert CLIENT_SECRET not in message


def check_token(token: Token) -> None:
    assert isinstance(token, Token)
    assert isinstance(token.access_token, str)
    assert token.access_token
    assert all("\x21" <= char <= "\x7e" for char in token.access_token)  # fit for a header
    assert token.token_type == "Bearer"
    if token.expires_at is not None:
        assert math.isfinite(token.expires_at)
        assert token.expires_at > NOW
    assert token.refresh_token is None or isinstance(token.refresh_token, str)
