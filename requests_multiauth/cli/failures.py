"""The one line a failed command writes on standard error, after ``multiauth: error:``.

The library's own messages are already scrubbed of secrets and are kept; its advice,
written as keywords of Python calls, is said again with this command's variables and
options (:func:`_shell_hint`). A TLS verification failure is named as a certificate
problem with the CA settings that fix it. requests' own errors are named by their class
only, since they quote URLs that may carry secrets.
"""

from __future__ import annotations

import argparse
from typing import Optional

import requests

from ..errors import (
    TLS_HINT,
    UNREACHABLE_HINT,
    ConfigurationError,
    InvalidClientError,
    MultiAuthError,
    TokenRequestError,
)
from ..transport.urls import safe_url
from .output import one_line
from .settings import CA_BUNDLE_OPTION, Provider, Setting, provider_named

__all__ = ["TLS_FAILURE", "describe_failure"]

#: What a TLS verification failure is, in every command's error: a certificate
#: problem (not a network one), named as such, with the CA settings that fix it.
TLS_FAILURE = (
    "failed TLS verification: a certificate problem (the server's certificate is not trusted), not a network one"
)


def _tls_failure(exc: BaseException, args: argparse.Namespace) -> Optional[str]:
    """The error line for a TLS verification failure (of a token call, discovery or the API
    request), naming the CA settings of this command; None for any other failure."""
    api_request = isinstance(exc, requests.exceptions.SSLError)  # the API's (the library wraps its own)
    if api_request:
        url = getattr(args, "url", None)
        where = f"{safe_url(url)} " if url else ""
    elif isinstance(exc, MultiAuthError) and "failed TLS verification" in str(exc):
        where = str(exc).split(" failed TLS verification", 1)[0] + " "  # "the token endpoint https://... "
    elif isinstance(exc, OSError) and "CA certificate bundle" in str(exc):  # requests: the bundle path is wrong
        where = "the CA bundle cannot be read, so the call "
    else:
        return None
    bundle = _ca_bundle_setting(getattr(args, "provider", None)) if not api_request else None
    token_only = f" (or {bundle.variable} / {bundle.option} for the token calls only)" if bundle is not None else ""
    return (
        f"{where}{TLS_FAILURE}. What to do: set REQUESTS_CA_BUNDLE=/path/to/ca.pem to the CA bundle that signed "
        f"the server's certificate{token_only}"
    )


def _ca_bundle_setting(name: Optional[str]) -> Optional[Setting]:
    """The CA bundle setting (variable and option) of the command's provider *name*, or None."""
    if not name:
        return None
    try:
        provider = provider_named(name)
    except (ConfigurationError, KeyError):
        return None
    return provider.setting_for(CA_BUNDLE_OPTION)


def describe_failure(exc: BaseException, args: argparse.Namespace) -> str:
    """What went wrong with *exc*, on one line and without a secret, for the command *args* ran."""
    tls = _tls_failure(exc, args)
    if tls is not None:
        return one_line(tls)
    if isinstance(exc, TokenRequestError) and args.command in ("token", "request"):
        provider = provider_named(args.provider)
        exc = exc.with_hint(_shell_hint(exc, provider)) if exc.hint else exc
    if isinstance(exc, (MultiAuthError, ConfigurationError)):
        return one_line(str(exc))  # the library's messages are already scrubbed of secrets
    # requests' own errors quote the URL, which may carry a query with secrets: name the class only.
    url = getattr(args, "url", None)
    where = f" ({safe_url(url)})" if url else ""
    return f"{type(exc).__name__}{where}: {one_line(_short_reason(exc))}"


def _shell_hint(exc: TokenRequestError, provider: Provider) -> str:
    """The library's advice (keywords of Python calls) said with this command's
    variables and options, for *provider*; the library's own when none fits better."""
    assert exc.hint is not None  # noqa: S101 - only called for errors with advice
    if exc.hint == TLS_HINT:
        bundle = provider.setting_for(CA_BUNDLE_OPTION)
        alone = f" (or {bundle.variable} for the token calls only)" if bundle is not None else ""
        return f"set REQUESTS_CA_BUNDLE=/path/to/ca.pem to trust the CA that signed the server's certificate{alone}"
    if exc.hint == UNREACHABLE_HINT:
        url = provider.setting_for("--token-url")
        where = f" ({url.variable} or {url.option})" if url is not None else ""
        return f"check that the endpoint{where} is up and reachable, or raise --timeout"
    if isinstance(exc, InvalidClientError):
        names = [s.variable for s in provider.settings if s.credential]
        what = " and ".join(names)
        return f"check {what} (or the options that override {'them' if len(names) > 1 else 'it'})"
    scope = provider.setting_for("--scope")
    if exc.error == "invalid_scope" and scope is not None:
        return f"the scope is unknown or not allowed for this client: check {scope.variable} or {scope.option}"
    return exc.hint


def _short_reason(exc: BaseException) -> str:
    """The reason of one of requests' errors, short: what happened, not the URL it quotes."""
    reason = str(exc.args[0]) if exc.args else type(exc).__name__
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    return reason if len(reason) <= 200 else reason[:200] + "..."
