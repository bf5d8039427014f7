"""Token sources fetched over HTTP at every token call: the GitHub Actions runner's OIDC
token, and a JSON member of any URL's answer (Google's URL ``credential_source``). Each
GETs through a token endpoint of its own, with its retries and transport rules.

Where the request goes next: the token fetched goes into a grant's request or a client
assertion (see :mod:`requests_multiauth.sources`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from ..errors import ConfigurationError, TokenResponseError
from .base import TokenSource

if TYPE_CHECKING:
    import requests

    from ..grants.base import GrantRequest
    from ..transport.endpoint import RetryPolicy, Timeout

__all__ = ["ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "GitHubActionsToken", "UrlToken"]

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


class _FetchedToken(TokenSource):
    """What the sources fetched over HTTP share: a token endpoint of their own, a GET
    through it at every token call (with its retries and transport rules), and a
    JSON answer's string member as the token. A subclass says what the GET sends."""

    #: The name of the GET in telemetry and logs.
    call_name: str = "subject_token"

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
        from ..transport.endpoint import DEFAULT_TOKEN_TIMEOUT, TokenEndpoint

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
        value: str = self._endpoint.call(self._request, parse=self._read, grant=self.call_name)
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
    call_name = "github_actions_oidc"

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
        from ..grants.base import GrantRequest

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
        from ..transport.urls import safe_url

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
        from ..transport.urls import metadata_origin

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
        from ..grants.base import GrantRequest

        return GrantRequest(method="GET", headers=dict(self.headers), secrets=self.secrets)

    def _read(self, answer: Any) -> str:
        return _string_member(answer, self.field, f"{self.label}: the answer has no string member {self.field!r}")

    def identity(self) -> str:
        from ..transport.urls import safe_url

        return f"url:{safe_url(self.url)}#{self.field}"

    @property
    def secrets(self) -> Tuple[str, ...]:
        return tuple(self.headers.values())

    def __repr__(self) -> str:
        from ..transport.urls import safe_url

        return f"UrlToken({safe_url(self.url)!r}, field={self.field!r})"
