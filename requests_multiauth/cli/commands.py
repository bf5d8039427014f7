"""The four commands, each given the parsed arguments and the streams it writes to:
``token`` prints a token, ``request`` sends one authenticated request, ``providers``
lists what the registry knows, ``demo`` hands over to :mod:`.demo`.

Each returns its exit status (:mod:`.status`) or raises; :func:`~.app.main` turns what
they raise into one line on standard error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from datetime import datetime, timezone
from typing import IO, Any, Dict, Optional, Tuple

import requests

from ..providers import registry
from ..token import Token
from ..transport.urls import check_transport
from .credentials import build_auth, configuration_is_usage
from .settings import AuthObject, Provider, command_setting, provider_named
from .status import EXIT_FAILED, EXIT_OK, UsageError

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "command_demo",
    "command_list_providers",
    "command_request",
    "command_token",
    "parse_header",
    "provider_listing",
    "read_body_argument",
    "request_body",
    "token_metadata",
]

#: Connect and read timeout of the API request of ``multiauth request``, in
#: seconds: long enough for a slow API, short enough that a hung one is noticed.
DEFAULT_REQUEST_TIMEOUT = 30.0


def token_metadata(token: Token, *, now: float, show_token: bool) -> Dict[str, Any]:
    """What ``token --output json`` prints: when the token expires, its scope and type.

    The access token only with *show_token*; the refresh token never (only
    whether there is one).
    """
    data: Dict[str, Any] = {"token_type": token.token_type}
    if token.expires_at is None:
        data.update(expires_at=None, expires_at_epoch=None, expires_in=None)
    else:
        moment = datetime.fromtimestamp(token.expires_at, timezone.utc)
        data.update(
            expires_at=moment.isoformat(timespec="seconds"),
            expires_at_epoch=math.floor(token.expires_at),
            expires_in=max(math.floor(token.expires_at - now), 0),
        )
    data["scope"] = token.scope
    data["has_refresh_token"] = token.refresh_token is not None
    if show_token:
        data["access_token"] = token.access_token
    return data


def command_token(args: argparse.Namespace, out: IO[str]) -> int:
    """Print the access token (or its metadata as JSON) and nothing else on stdout."""
    provider = provider_named(args.provider)
    if args.json_alias:
        warnings.warn(
            "--json on 'token' is deprecated: use --output json (on 'request', --json is the request body)",
            FutureWarning,
            stacklevel=1,
        )
        args.output = "json"
    if args.show_token and args.output != "json":
        raise UsageError("--show-token goes with --output json (the token alone is what 'token' prints)")
    auth = build_auth(provider, args)
    try:
        token = auth.get_token()
    finally:
        _close(auth)
    if args.output == "json":
        metadata = token_metadata(token, now=_now(), show_token=args.show_token)
        out.write(json.dumps({"provider": provider.name, **metadata}, indent=2) + "\n")
    else:
        out.write(token.access_token + "\n")
    return EXIT_OK


def parse_header(text: str) -> Tuple[str, str]:
    """``"Name: value"`` as a pair; a usage error otherwise."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise UsageError(f"-H expects 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def read_body_argument(value: str, option: str, stdin: IO[str]) -> bytes:
    """The body an option names, as curl reads it: ``-`` is standard input,
    ``@path`` a file, anything else the text itself. Bytes are sent as read
    (like curl's ``--data-binary``: line breaks are kept)."""
    if value == "-":
        stream = getattr(stdin, "buffer", None)
        return stream.read() if stream is not None else stdin.read().encode("utf-8")
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as exc:
            raise UsageError(f"{option} @{path}: cannot read the file ({exc.strerror or type(exc).__name__})") from None
    return value.encode("utf-8")


def request_body(args: argparse.Namespace, provider: Provider, stdin: IO[str]) -> Dict[str, Any]:
    """The ``data=`` or ``json=`` keyword of the API request, from ``--data`` or ``--json``."""
    option, value = ("--json", args.json_body) if args.json_body is not None else ("--data", args.data)
    if value is None:
        return {}
    if value == "-":
        reading = [s.option for s in provider.settings if s.secret and getattr(args, s.dest, False)]
        if reading:
            raise UsageError(f"{option} - and {reading[0]} both read standard input: give the body as @file")
    raw = read_body_argument(value, option, stdin)
    if option == "--data":
        return {"data": raw}
    try:
        return {"json": json.loads(raw.decode("utf-8"))}
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from None


def command_request(args: argparse.Namespace, out: IO[str], err: IO[str], stdin: Optional[IO[str]] = None) -> int:
    """Send one authenticated request; print the status line (stderr) and the body (stdout)."""
    provider = provider_named(args.provider)
    headers = dict(parse_header(h) for h in args.header)
    body = request_body(args, provider, stdin or sys.stdin)
    with configuration_is_usage():
        check_transport(args.url, allow_insecure_loopback=args.allow_insecure_loopback, what="the token")
    auth = build_auth(provider, args)
    try:
        with requests.Session() as session:
            # A token bound to a client certificate (mutual TLS) is only accepted with it.
            session.cert = getattr(auth, "cert", None)
            response = session.request(
                args.method.upper(),
                args.url,
                headers=headers,
                auth=auth,
                timeout=args.timeout or DEFAULT_REQUEST_TIMEOUT,
                **body,
            )
    finally:
        _close(auth)
    replayed = " (after renewing the token and replaying)" if response.history else ""
    err.write(f"HTTP {response.status_code} {response.reason or ''}".rstrip() + replayed + "\n")
    text = response.text
    if text:
        out.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK if 200 <= response.status_code < 300 else EXIT_FAILED


def provider_listing(record: registry.Provider) -> Dict[str, Any]:
    """What ``multiauth providers --output json`` says of one provider: its name, scheme,
    documentation and variables (each with its option, meaning, and whether it is
    required and a secret)."""
    return {
        "name": record.name,
        "scheme": record.scheme,
        "docs_url": record.docs_url,
        "preset": f"{record.auth_class.__module__}.{record.auth_class.__qualname__}",
        "emulator": record.emulator is not None,
        "variables": [
            {
                "name": var.name,
                "option": command_setting(var, record.auth_class).option,
                "meaning": var.meaning,
                "required": var.required,
                "secret": var.secret,
            }
            for var in record.env
        ],
    }


def command_list_providers(args: argparse.Namespace, out: IO[str]) -> int:
    """List every registered provider: its scheme, its variables, its documentation."""
    listings = [provider_listing(record) for record in registry.list_providers()]
    if args.output == "json":
        out.write(json.dumps(listings, indent=2) + "\n")
        return EXIT_OK
    for listing in listings:
        out.write(f"{listing['name']}: {listing['scheme']}\n  docs: {listing['docs_url']}\n")
        for var in listing["variables"]:
            need = "required" if var["required"] else "optional"
            kind = ", secret" if var["secret"] else ""
            out.write(f"  {var['name']:<30} {var['option']:<28} {need}{kind}: {var['meaning']}\n")
        out.write("\n")
    return EXIT_OK


def command_demo(args: argparse.Namespace, out: IO[str]) -> int:
    """Run every preset against the local providers; see :mod:`requests_multiauth.cli.demo`."""
    from .demo import run_demo  # imports the local providers only when asked for

    try:
        return run_demo(out, tls=args.tls, providers=args.provider or None)
    except RuntimeError as exc:  # --tls without trustme
        raise UsageError(str(exc)) from None


def _close(auth: AuthObject) -> None:
    """Close *auth* before the command exits (a renewal under way is given a moment to end)."""
    close = getattr(auth, "close", None)
    if close is not None:
        close()


def _now() -> float:
    """The time now, as the epoch seconds a token's expiry is given in."""
    return datetime.now(timezone.utc).timestamp()
