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

:func:`token_source` turns any of these into a :class:`TokenSource`. Every source
is safe for concurrent use. What a source reads is a secret: it is in no repr, log
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

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from .errors import ConfigurationError, TokenRequestError, TokenResponseError

if TYPE_CHECKING:
    import requests

    from .grants.base import GrantRequest
    from .transport.endpoint import RetryPolicy, Timeout

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

#: The runner's variables for its OIDC token endpoint, set only when the job has
#: ``permissions: id-token: write``:
#: https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
ACTIONS_ID_TOKEN_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
ACTIONS_ID_TOKEN_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"

#: Below this length a file cannot hold a token (a JWT is hundreds of characters);
#: a shorter file is a half-written or placeholder file, refused as empty.
MIN_TOKEN_LENGTH = 8

#: Characters encodeURIComponent leaves as they are: the runner's own client
#: (actions/toolkit core getIDToken) encodes the audience with it, and so do we.
_URI_COMPONENT_SAFE = "-_.!~*'()"


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


class LiteralToken(TokenSource):
    """A token given as a string, sent as is (it cannot be renewed here)."""

    kind = "literal"

    def __init__(self, value: str, *, label: str = "the token") -> None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{label} is an empty string: pass the token, or a path, callable or auth")
        self._value = value.strip()

    def token(self) -> str:
        return self._value

    def identity(self) -> str:
        # A token is long and random, so its SHA-256 hides it; the prefix keeps kinds apart.
        return "literal:" + hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:32]

    @property
    def secrets(self) -> Tuple[str, ...]:
        return (self._value,)

    def __repr__(self) -> str:
        return "LiteralToken(<hidden>)"


class FileToken(TokenSource):
    """A token in a file, read again whenever the file changes. Thread-safe.

    The file is stat'ed (following symlinks) at every token call and read again
    when its device, inode, size or modification time differ from the last read:
    cheap enough per token call, and a rotation is never missed, including a
    Kubernetes projected token rotated by a symlink swap with the same size and
    modification time (the inode differs).

    Args:
        path: the file.
        field: read the file as a JSON object and take this member (Google's
            ``credential_source.format.subject_token_field_name``); None: the whole
            text, stripped.
        label: who reads it, for messages (``"subject_token"``, ``"ClientAssertion"``).
        holds: what the file should hold, for messages (``"the assertion"``).
        check: read it once at construction, so that a missing or empty file is a
            ConfigurationError there.

    Raises:
        ConfigurationError: (with *check*) the file is missing, unreadable or empty.
    """

    kind = "file"

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        field: Optional[str] = None,
        label: str = "the token file",
        holds: str = "the token",
        check: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        if not isinstance(self.path, str) or not self.path.strip():
            raise ConfigurationError(f"{label}: the path is empty: pass the path of the file holding {holds}")
        self.field = field
        self.label = label
        self.holds = holds
        self._lock = threading.Lock()
        self._seen: Optional[Tuple[int, int, int, int]] = None
        self._value = ""
        if check:
            self.read(ConfigurationError)

    def token(self) -> str:
        return self.read(TokenRequestError)

    def read(self, error: Callable[[str], Exception]) -> str:
        """The token; *error* makes the exception raised when there is none."""
        with self._lock:
            try:
                status = os.stat(self.path)
                signature = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
                if signature == self._seen:
                    return self._value
                with open(self.path, encoding="utf-8") as handle:
                    text = handle.read()
            except FileNotFoundError:
                raise error(f"{self.label}: no file at {self.path!r}; it should hold {self.holds}") from None
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise error(f"{self.label}: cannot read {self.path!r}: {reason}") from None
            value = self._take(text, error)
            if len(value) < MIN_TOKEN_LENGTH:
                raise error(f"{self.label}: the file {self.path!r} is empty: it should hold {self.holds}")
            self._value, self._seen = value, signature
            return value

    def _take(self, text: str, error: Callable[[str], Exception]) -> str:
        if self.field is None:
            return text.strip()
        try:
            document = json.loads(text)
        except ValueError:
            raise error(
                f"{self.label}: the file {self.path!r} is not JSON; {self.field!r} was expected in it"
            ) from None
        value = document.get(self.field) if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise error(f"{self.label}: the file {self.path!r} has no string member {self.field!r}")
        return value.strip()

    def identity(self) -> str:
        where = os.path.abspath(self.path)
        return f"file:{where}" + (f"#{self.field}" if self.field else "")

    def __getstate__(self) -> Dict[str, Any]:
        # What travels to another process (pickle, deepcopy): the path and how to read it.
        # Not the lock, and not the token read here: the receiving process reads the file itself.
        state = dict(self.__dict__)
        del state["_lock"]
        state["_seen"], state["_value"] = None, ""
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        field = f", field={self.field!r}" if self.field else ""
        return f"FileToken({self.path!r}{field})"


class CallableToken(TokenSource):
    """A token returned by a function, called at every token call."""

    kind = "callable"

    def __init__(self, call: Callable[[], str], *, label: str = "the token source") -> None:
        self.call = call
        self.label = label

    def token(self) -> str:
        value = self.call()
        if not isinstance(value, str) or not value.strip():
            got = "an empty string" if isinstance(value, str) else type(value).__name__
            raise TokenRequestError(f"{self.label}: the callable {_name(self.call)} returned {got}, not a token")
        return value.strip()

    def identity(self) -> str:
        # Stable across processes (a shared cache), unlike id(): the function's full name.
        module = getattr(self.call, "__module__", None) or type(self.call).__module__
        return f"callable:{module}.{_name(self.call)}"

    def __repr__(self) -> str:
        return f"CallableToken({_name(self.call)})"


class AuthToken(TokenSource):
    """The current access token of another auth of this package (``auth.get_token()``).

    The other auth keeps, renews and single-flights its token as always, so a chain
    of auths (an exchange whose subject token is another auth's token) makes one
    token call per link however many threads wait.
    """

    kind = "auth"

    def __init__(self, auth: Any) -> None:
        self.auth = auth

    def token(self) -> str:
        token: str = self.auth.get_token().access_token
        return token

    def rejected(self, token: str) -> bool:
        # Only when that token is still the auth's: another thread may have renewed it already.
        if self.auth.get_token().access_token != token:
            return True
        self.auth.invalidate()
        return True

    def identity(self) -> str:
        key = getattr(self.auth, "cache_key", None)
        return f"auth:{type(self.auth).__name__}:{key if isinstance(key, str) else ''}"

    def __repr__(self) -> str:
        return f"AuthToken({type(self.auth).__name__})"


class _FetchedToken(TokenSource):
    """What the sources fetched over HTTP share: a token endpoint of their own, a GET
    through it at every token call (with its retries and transport rules), and a
    JSON answer's string member as the token. A subclass says what the GET sends."""

    #: The call's name in telemetry and logs.
    call: str = "subject_token"

    def _open(
        self,
        url: str,
        *,
        secrets: Tuple[str, ...],
        plain_http_hosts: Tuple[str, ...] = (),
        session: Optional[requests.Session],
        verify: Union[bool, str, None],
        timeout: Optional[Timeout],
        retry: Optional[RetryPolicy],
        allow_insecure_loopback: bool,
    ) -> None:
        from .transport.endpoint import DEFAULT_TOKEN_TIMEOUT, TokenEndpoint

        self._endpoint = TokenEndpoint(
            url,
            session=session,
            verify=verify,
            timeout=timeout if timeout is not None else DEFAULT_TOKEN_TIMEOUT,
            retry=retry,
            allow_insecure_loopback=allow_insecure_loopback,
            secrets=secrets,
            plain_http_hosts=plain_http_hosts,
        )

    def token(self) -> str:
        value: str = self._endpoint.call(self._request, parse=self._read, grant=self.call)
        return value

    def _request(self) -> GrantRequest:
        """What one try of the GET sends."""
        raise NotImplementedError

    def _read(self, answer: Any) -> str:
        """The token in the decoded answer; TokenResponseError when it holds none."""
        raise NotImplementedError


def _string_member(answer: Any, field: str, missing: str) -> str:
    """The non-empty string *field* of a JSON object *answer*, stripped; else a
    TokenResponseError saying *missing*."""
    value = answer.get(field) if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise TokenResponseError(missing)
    return value.strip()


class GitHubActionsToken(_FetchedToken):
    """The GitHub Actions runner's OIDC token for *audience*, fetched at every token call.

    GitHub's "OpenID Connect" pages and the runner's own client (actions/toolkit,
    ``core.getIDToken``) say how: ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>``
    with ``Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN``, answered
    ``{"value": "<JWT>"}``. The runner sets both variables only in a job with
    ``permissions: id-token: write``.
    (https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-cloud-providers)

    Use it as a subject token (``TokenExchangeAuth(GitHubActionsToken("sts.amazonaws.com"), ...)``)
    or a client assertion (``ClientAssertion(GitHubActionsToken("api://AzureADTokenExchange"))``).

    Args:
        audience: the ``aud`` the token is for (what the cloud's trust names); None:
            GitHub's default (the repository owner's URL).
        environ: where the variables are read, default ``os.environ`` (read once, here).
        session, verify, timeout, retry, allow_insecure_loopback: as for
            :class:`~requests_multiauth.TokenAuth`, for the call to the runner.

    Raises:
        ConfigurationError: a variable is missing (the message names it and says
            the job needs ``permissions: id-token: write``).
        TokenRequestError, TokenResponseError: at a token call, the runner refused
            or answered no ``value``.
    """

    kind = "github_actions"
    call = "github_actions_oidc"

    def __init__(
        self,
        audience: Optional[str] = None,
        *,
        environ: Optional[Mapping[str, str]] = None,
        session: Optional[requests.Session] = None,
        verify: Union[bool, str, None] = None,
        timeout: Optional[Timeout] = None,
        retry: Optional[RetryPolicy] = None,
        allow_insecure_loopback: bool = False,
    ) -> None:
        source = os.environ if environ is None else environ
        url = source.get(ACTIONS_ID_TOKEN_REQUEST_URL, "").strip()
        request_token = source.get(ACTIONS_ID_TOKEN_REQUEST_TOKEN, "").strip()
        missing = [
            name
            for name, value in ((ACTIONS_ID_TOKEN_REQUEST_URL, url), (ACTIONS_ID_TOKEN_REQUEST_TOKEN, request_token))
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"GitHubActionsToken: {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not set: this is "
                "not a GitHub Actions job, or the job may not ask for an OIDC token. Give the job "
                "'permissions: id-token: write' in the workflow (the runner then sets both variables)"
            )
        if audience is not None and (not isinstance(audience, str) or not audience.strip()):
            raise ConfigurationError(
                "GitHubActionsToken: audience is empty: pass the audience your cloud expects, or None"
            )
        self.audience = audience
        self._request_token = request_token
        self._url = url
        self._open(
            url,
            secrets=(request_token,),
            session=session,
            verify=verify,
            timeout=timeout,
            retry=retry,
            allow_insecure_loopback=allow_insecure_loopback,
        )

    def _request(self) -> GrantRequest:
        from .grants.base import GrantRequest

        url = self._url
        if self.audience is not None:
            # The runner's client appends "&audience=" to the URL as it is (it already has a query).
            url += "&audience=" + quote(self.audience, safe=_URI_COMPONENT_SAFE)
        return GrantRequest(
            method="GET",
            url=url,
            headers={"Authorization": f"Bearer {self._request_token}", "Accept": "application/json"},
            secrets=(self._request_token,),
        )

    def _read(self, answer: Any) -> str:
        return _string_member(answer, "value", "the GitHub Actions runner's answer has no 'value' (the OIDC token)")

    def identity(self) -> str:
        # The repository and job are in the runner's URL; no secret is.
        from .transport.urls import safe_url

        return f"github_actions:{safe_url(self._url)}:{self.audience or ''}"

    @property
    def secrets(self) -> Tuple[str, ...]:
        return (self._request_token,)

    def __repr__(self) -> str:
        return f"GitHubActionsToken(audience={self.audience!r})"


class UrlToken(_FetchedToken):
    """A token fetched with a GET from a URL at every token call (Google's URL
    ``credential_source``: a local token server, Azure's IMDS, the Actions runner).

    The answer must be a JSON object holding the token under *field* (an answer of
    bare text is not read: the token-call transport decodes JSON answers only).

    Args:
        url: where to GET it; HTTPS, or plain HTTP to loopback with
            *allow_insecure_loopback*, or to the link-local metadata address
            169.254.169.254 (Azure IMDS: HTTP by design, no secret sent).
        headers: headers of the GET; their values are treated as secrets.
        field: the JSON member holding the token.
        label: who reads it, for messages.
        session, verify, timeout, retry, allow_insecure_loopback: as for
            :class:`~requests_multiauth.TokenAuth`, for the GET.

    Raises:
        ConfigurationError: no *field*, or the URL is neither HTTPS nor an exception above.
        TokenRequestError, TokenResponseError: at a token call, the GET failed or its
            answer has no *field*.
    """

    kind = "url"

    def __init__(
        self,
        url: str,
        *,
        field: Optional[str],
        headers: Optional[Mapping[str, str]] = None,
        label: str = "the token URL",
        session: Optional[requests.Session] = None,
        verify: Union[bool, str, None] = None,
        timeout: Optional[Timeout] = None,
        retry: Optional[RetryPolicy] = None,
        allow_insecure_loopback: bool = False,
    ) -> None:
        from .transport.urls import metadata_origin

        if not field:
            raise ConfigurationError(
                f"{label}: a URL source is read as a JSON answer: give the member holding the token "
                "(format type 'json' with subject_token_field_name)"
            )
        self.url = url
        self.field = field
        self.label = label
        self.headers: Dict[str, str] = {str(k): str(v) for k, v in (headers or {}).items()}
        allowed = metadata_origin(url)  # a link-local metadata address only: no platform variable names one here
        self._open(
            url,
            secrets=self.secrets,
            plain_http_hosts=(allowed,) if allowed is not None else (),
            session=session,
            verify=verify,
            timeout=timeout,
            retry=retry,
            allow_insecure_loopback=allow_insecure_loopback,
        )

    def _request(self) -> GrantRequest:
        from .grants.base import GrantRequest

        return GrantRequest(method="GET", headers=dict(self.headers), secrets=self.secrets)

    def _read(self, answer: Any) -> str:
        return _string_member(answer, self.field, f"{self.label}: the answer has no string member {self.field!r}")

    def identity(self) -> str:
        from .transport.urls import safe_url

        return f"url:{safe_url(self.url)}#{self.field}"

    @property
    def secrets(self) -> Tuple[str, ...]:
        return tuple(self.headers.values())

    def __repr__(self) -> str:
        from .transport.urls import safe_url

        return f"UrlToken({safe_url(self.url)!r}, field={self.field!r})"


def _name(call: Any) -> str:
    return str(getattr(call, "__qualname__", None) or type(call).__name__)


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
