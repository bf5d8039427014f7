"""Token sources: which source a value stands for, what they refuse, and what they show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from requests_multiauth import ConfigurationError, InsecureTransportError, TokenRequestError
from requests_multiauth.sources import (
    AuthToken,
    CallableToken,
    FileToken,
    LiteralToken,
    UrlToken,
    token_source,
)
from requests_multiauth.testing import TokenExchangeEmulator

TOKEN = "sources-literal-token-8d1c77e0"


def platform_token() -> str:
    return TOKEN


def test_each_kind_of_value_stands_for_its_source(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert isinstance(token_source(TOKEN), LiteralToken)
    assert isinstance(token_source(path), FileToken)
    assert isinstance(token_source(platform_token), CallableToken)
    with TokenExchangeEmulator() as server:
        auth = server.auth()
        assert isinstance(token_source(auth), AuthToken)  # an auth is callable too: get_token() decides
        assert token_source(auth).token() == auth.get_token().access_token
    assert [token_source(v).token() for v in (TOKEN, path, platform_token)] == [TOKEN] * 3
    with pytest.raises(ConfigurationError, match="a int is not a token source"):
        token_source(3)
    with pytest.raises(ConfigurationError, match="empty string"):
        token_source("  ")


def test_identities_tell_sources_apart_and_never_hold_the_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    identities = [token_source(v).identity() for v in (TOKEN, "another-token-value-1234", path, platform_token)]
    assert len(set(identities)) == 4
    assert not any(TOKEN in identity for identity in identities)
    assert identities[2] == f"file:{path}"
    assert identities[3] == f"callable:{__name__}.platform_token"
    assert TOKEN not in repr(token_source(TOKEN))


def test_a_json_file_source_names_the_path_and_the_member_when_it_cannot_read_it(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"access_token": TOKEN}))
    assert FileToken(path, field="access_token").token() == TOKEN
    with pytest.raises(ConfigurationError, match=f"the file '{path}' has no string member 'id_token'"):
        FileToken(path, field="id_token", label="credential_source")
    source = FileToken(path, field="access_token")
    path.write_text("not json")
    with pytest.raises(TokenRequestError, match=f"the file '{path}' is not JSON"):
        source.token()


def test_a_url_source_needs_https_or_loopback_and_a_json_member() -> None:
    with pytest.raises(InsecureTransportError):
        UrlToken("http://tokens.example.test/token", field="value")
    with pytest.raises(ConfigurationError, match="read as a JSON answer"):
        UrlToken("https://tokens.example.test/token", field=None)
    # The link-local metadata address (Azure IMDS) is HTTP by design and may be used as is.
    imds = UrlToken(
        "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01", field="access_token"
    )
    assert "169.254.169.254" in repr(imds)


def test_a_file_source_travels_as_its_path_and_reads_the_file_again_where_it_arrives(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "token"
    path.write_text("first-subject-token-0123456789", encoding="utf-8")
    source = FileToken(path)
    assert source.token() == "first-subject-token-0123456789"
    sent = pickle.dumps(source)
    assert b"first-subject-token" not in sent  # the token read here stays here
    path.write_text("second-subject-token-0123456789", encoding="utf-8")
    received = pickle.loads(sent)  # noqa: S301
    assert received.token() == "second-subject-token-0123456789"
    assert received.identity() == source.identity()
