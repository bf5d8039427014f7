"""The ``multiauth`` command: tokens for curl, one-off requests, and the demo.

::

    multiauth token PROVIDER [--output json [--show-token]]  print a token (for curl)
    multiauth request PROVIDER METHOD URL [-H ...] [--data ... | --json ...]
    multiauth providers [--output json]                     the providers, their variables and docs
    multiauth demo                                          every scheme against local providers

Credentials come from the presets' environment variables (the ``from_env()``
variables of each provider's registry record, :mod:`requests_multiauth.providers`),
which options may override; the providers, their options and the help are made
from the registry, plug-ins included. Secrets are never taken
as command-line arguments, where ``ps`` and shell history would show them: a
``--...-stdin`` option reads one line from standard input instead.

``token`` and ``request`` keep tokens between runs in a ``FileTokenCache``
in the user's cache directory (``MULTIAUTH_CACHE_DIR`` overrides it), as cloud
CLIs do, so that a loop of ``multiauth token`` makes one token call; ``--no-cache``
skips it. See docs/cli-cache.rst.

Exit status: 0 success; 1 the provider or the API refused, or could not be
reached; 2 a usage error or missing configuration; 141 standard output was
closed early (``multiauth demo | head -1``), as for any command killed by SIGPIPE. Errors are one line on
standard error, naming what is missing; they never contain a secret (the
library scrubs every message it raises).

The demo itself lives in :mod:`requests_multiauth.cli.demo`.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import inspect
import json
import logging
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, Mapping, NoReturn, Optional, Sequence, Tuple, Union, cast

import requests

from .. import __version__
from ..auth import TokenAuth
from ..caches.base import TokenCache
from ..errors import (
    TLS_HINT,
    UNREACHABLE_HINT,
    ConfigurationError,
    InsecureTransportError,
    InvalidClientError,
    MultiAuthError,
    TokenRequestError,
)
from ..providers import registry
from ..static import StaticTokenAuth
from ..telemetry import CacheRead, Event, TokenRequest, log_fields
from ..token import Token
from ..transport.urls import check_transport, safe_url

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

#: The command worked (for ``request``: the API answered 2xx).
EXIT_OK = 0
#: The provider refused the credentials, the API answered non-2xx, or a server
#: could not be reached: the configuration is complete, the outcome is not.
EXIT_FAILED = 1
#: A usage error or missing configuration; argparse uses 2 for usage errors too.
EXIT_USAGE = 2
#: The conventional status of a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: The conventional status of a command whose output was closed early (128 + SIGPIPE),
#: as when ``multiauth demo | head -1`` has read what it wanted.
EXIT_BROKEN_PIPE = 141

#: Where the command keeps tokens between runs, if set; else the user's cache
#: directory (see ``requests_multiauth.caches.file.default_directory``).
CACHE_DIR_VARIABLE = "MULTIAUTH_CACHE_DIR"

#: Connect and read timeout of the API request of ``multiauth request``, in
#: seconds: long enough for a slow API, short enough that a hung one is noticed.
DEFAULT_REQUEST_TIMEOUT = 30.0

PROG = "multiauth"

log = logging.getLogger("requests_multiauth")

AuthObject = Union[TokenAuth, StaticTokenAuth]


@dataclass(frozen=True)
class Setting:
    """One credential or option of a provider: its environment variable and its option.

    A *secret* setting has no option taking its value: its option is a flag
    that reads the value from standard input.
    """

    variable: str
    option: str
    help: str
    required: bool = True
    secret: bool = False
    default: Optional[str] = None
    aliases: Tuple[str, ...] = ()
    #: Part of the credentials a refusal is about (the id and the secret).
    credential: bool = False


@dataclass(frozen=True)
class Provider:
    """A preset as the command line knows it: its name, its settings, how to build it.

    Made from the provider registry's record (:func:`command_provider`): the
    command line writes no variable name of its own.
    """

    name: str
    summary: str
    settings: Tuple[Setting, ...]
    build: Callable[..., AuthObject]
    renews: bool = True
    docs_url: str = ""

    def describe_environment(self) -> str:
        """The settings as help text: one line per variable, with its option."""
        lines = []
        for setting in self.settings:
            need = "required" if setting.required else "optional"
            if setting.default:
                need += f", default {setting.default}"
            lines.append(f"  {setting.variable:<30} {setting.option:<28} {setting.help} ({need})")
        return "\n".join(lines)


#: The option of the parameter that names a CA bundle: named for what it holds.
CA_BUNDLE_OPTION = "--ca-bundle"


def command_setting(var: registry.EnvVar, auth_class: type) -> Setting:
    """The command line's setting for one variable of a provider's record.

    The option is the parameter's name (``client_id``: ``--client-id``); a secret's
    is a flag that reads it from standard input (``--client-secret-stdin``); the
    ``verify`` parameter's is ``--ca-bundle``. The default shown is the class's own.
    """
    dashed = var.parameter.replace("_", "-")
    if var.secret:
        option, what = f"--{dashed}-stdin", f"{var.meaning}, read from stdin"
    elif var.parameter == "verify":
        option, what = CA_BUNDLE_OPTION, f"{var.meaning} (the API request: REQUESTS_CA_BUNDLE)"
    else:
        option, what = f"--{dashed}", var.meaning
    return Setting(
        var.name,
        option,
        what,
        required=var.required,
        secret=var.secret,
        default=_class_default(auth_class, var.parameter),
        credential=var.secret or (var.required and var.parameter.endswith("_id")),
    )


def _class_default(auth_class: type, parameter: str) -> Optional[str]:
    """The default the class gives *parameter*, when it is text (a documented URL, an audience)."""
    try:
        found = inspect.signature(auth_class).parameters.get(parameter)
    except (TypeError, ValueError):  # a class whose signature cannot be read shows no default
        return None
    return found.default if found is not None and isinstance(found.default, str) else None


def command_provider(record: registry.Provider) -> Provider:
    """*record* as the command line knows it: its settings, and how to build it."""
    return Provider(
        record.name,
        record.scheme or record.auth_class.__name__,
        tuple(command_setting(var, record.auth_class) for var in record.env),
        record.build,
        renews=not issubclass(record.auth_class, StaticTokenAuth),
        docs_url=record.docs_url,
    )


def command_providers() -> Dict[str, Provider]:
    """Every registered provider (plug-ins' too) as the command line knows it, by name."""
    return {record.name: command_provider(record) for record in registry.list_providers()}


def __getattr__(name: str) -> Any:
    if name == "PROVIDERS":  # read from the registry when asked, so importing this module loads no plug-in
        return command_providers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UsageError(Exception):
    """The command line or the configuration is incomplete: exit status 2."""


# -- building an auth from the environment and the options ------------------------------------


def _dest(setting: Setting) -> str:
    return setting.variable.lower()


def read_secret(setting: Setting, stdin: IO[str]) -> str:
    """One line of *stdin* (without echo when it is a terminal), stripped; never empty."""
    value = getpass.getpass(f"{setting.variable}: ") if stdin.isatty() else stdin.readline()
    value = value.strip()
    if not value:
        raise UsageError(f"{setting.option} read nothing from standard input: pipe {setting.variable} in")
    return value


def build_auth(
    provider: Provider,
    args: argparse.Namespace,
    *,
    environ: Optional[Mapping[str, str]] = None,
    stdin: Optional[IO[str]] = None,
) -> AuthObject:
    """The provider's preset built from *environ* (default ``os.environ``), options winning.

    Raises:
        UsageError: a required setting is missing (the message names its variable
            and its option) or an option is invalid.
    """
    settings: Dict[str, str] = dict(os.environ if environ is None else environ)
    for setting in provider.settings:
        given = getattr(args, _dest(setting), None)
        if setting.secret and given:
            settings[setting.variable] = read_secret(setting, stdin or sys.stdin)
        elif not setting.secret and given is not None:
            settings[setting.variable] = given
    missing = [s for s in provider.settings if s.required and not settings.get(s.variable, "").strip()]
    if missing:
        first = missing[0]
        names = ", ".join(s.variable for s in missing)
        how = f"pipe it to {first.option}" if first.secret else f"pass {first.option}"
        raise UsageError(
            f"{names} {'are' if len(missing) > 1 else 'is'} not set: export {first.variable}=... or {how} "
            f"(see {PROG} {args.command} {provider.name} --help)"
        )
    options: Dict[str, Any] = {"allow_insecure_loopback": args.allow_insecure_loopback}
    if provider.renews and args.timeout is not None:
        options["timeout"] = args.timeout
    if provider.renews and not getattr(args, "no_cache", True):
        cache = open_token_cache(os.environ if environ is None else environ)
        if cache is not None:
            options["cache"] = cache
    try:
        auth = provider.build(settings, **options)
    except (ConfigurationError, InsecureTransportError) as exc:
        raise UsageError(_for_the_command_line(str(exc))) from None
    if getattr(args, "verbose", False):
        _report_token_source(auth, sys.stderr)
    return auth


def _report_token_source(auth: AuthObject, stream: IO[str]) -> None:
    """With ``-v``: say whether the token came from a cache or a token call, and how long the call took."""
    telemetry = getattr(auth, "telemetry", None)
    if telemetry is None:
        return  # a static token, taken from the environment

    def show(event: Event) -> None:
        if isinstance(event, TokenRequest):
            status = f", HTTP {event.status_code}" if event.status_code is not None else ""
            error = f" ({event.error})" if event.error else ""
            stream.write(
                f"{PROG}: token call to {event.server_address} ({event.grant}, attempt {event.attempt}): "
                f"{event.outcome}{status}{error} in {event.duration * 1000:.0f} ms\n"
            )
        elif isinstance(event, CacheRead):
            found = "token taken from the cache, no token call" if event.result == "hit" else "no usable token cached"
            stream.write(f"{PROG}: {found}\n")

    telemetry.subscribe(show)


def token_cache_directory(environ: Mapping[str, str]) -> Path:
    """Where ``token`` and ``request`` keep tokens: ``$MULTIAUTH_CACHE_DIR``, else the
    directory a ``FileTokenCache`` uses by default (``$XDG_CACHE_HOME`` or
    ``~/.cache``, then ``requests_multiauth/tokens``), shared with programs that use it."""
    from ..caches.file import default_directory

    configured = environ.get(CACHE_DIR_VARIABLE, "").strip()
    return Path(configured).expanduser() if configured else default_directory()


def open_token_cache(environ: Mapping[str, str]) -> Optional[TokenCache]:
    """The command's token cache, or None (logged) when it cannot be used: the
    command then works as with ``--no-cache``, it does not fail because of its cache."""
    from ..caches.file import FileTokenCache

    directory = token_cache_directory(environ)
    try:
        return FileTokenCache(directory)  # needs no extra: its lock is the operating system's
    except (ConfigurationError, OSError) as exc:
        log.warning(
            "no token cache: %s (set %s to a directory of your own, or pass --no-cache)",
            exc,
            CACHE_DIR_VARIABLE,
            extra=log_fields("cli.cache_unavailable", reason=type(exc).__name__),
        )
    return None


def _for_the_command_line(message: str) -> str:
    """A library message with its keyword advice turned into the matching option."""
    return message.replace("allow_insecure_loopback=True", "--allow-insecure-loopback")


# -- the commands --------------------------------------------------------------------------------


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
    provider = command_provider(registry.get_provider(args.provider))
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
        reading = [s.option for s in provider.settings if s.secret and getattr(args, _dest(s), False)]
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
    provider = command_provider(registry.get_provider(args.provider))
    headers = dict(parse_header(h) for h in args.header)
    body = request_body(args, provider, stdin or sys.stdin)
    try:
        check_transport(args.url, allow_insecure_loopback=args.allow_insecure_loopback, what="the token")
    except (ConfigurationError, InsecureTransportError) as exc:
        raise UsageError(_for_the_command_line(str(exc))) from None
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
    close = getattr(auth, "close", None)
    if close is not None:
        close()


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()


# -- the parser ----------------------------------------------------------------------------------

EXIT_STATUS_HELP = """\
exit status:
  0  success
  1  the provider refused the credentials, the API answered non-2xx, or a server was unreachable
  2  usage error or missing configuration (the message names the variable)
  141  standard output was closed early (multiauth demo | head -1)
"""

TRUST_HELP = """\
TLS: certificates are checked against the system's CA bundle; to trust another CA
(a proxy's, a test server's) set REQUESTS_CA_BUNDLE=/path/to/ca.pem, or
<PROVIDER>_CA_BUNDLE (listed above) for the provider's token calls only.

Tokens are kept between runs in $MULTIAUTH_CACHE_DIR, else the user's cache directory
(~/.cache/requests_multiauth/tokens): files only you can read, holding no secret.
--no-cache skips it (a Rated token is never fetched, so never kept).
"""


#: Option names that look like an attempt to pass a secret as an argument.
_SECRET_LIKE = ("secret", "key", "token", "password", "passwd")


class _Parser(argparse.ArgumentParser):
    """An argument parser that takes no abbreviated options and never echoes unknown values.

    Abbreviations are off so that ``--client-secret`` is not taken for
    ``--client-secret-stdin``. A secret typed on the command line by mistake is
    an unrecognised argument: the error names the options, not the values, and
    says where secrets go; any other unknown option is reported as just that.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            words = message[len(prefix) :].split(" ")
            message = prefix + " ".join(_mask_argument(word) for word in words)
            if any(_looks_like_a_secret_option(word) for word in words):
                message += (
                    "; secrets are never taken as arguments: set the variable, or pipe the secret "
                    "to the --...-stdin option (see --help)"
                )
        super().error(message)


def _looks_like_a_secret_option(word: str) -> bool:
    name = word.partition("=")[0].lower()
    return name.startswith("-") and not name.endswith("-stdin") and any(part in name for part in _SECRET_LIKE)


#: What an option name looks like (``--client-secret``, ``-x``). Anything else, even
#: starting with a dash, may be a secret (random secrets can begin with ``-``).
_OPTION_NAME = re.compile(r"--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_OPTION_NAME_MAX = 32


def _mask_argument(word: str) -> str:
    name, sep, _ = word.partition("=")
    if len(name) > _OPTION_NAME_MAX or not _OPTION_NAME.fullmatch(name):
        return "..."
    return name + ("=..." if sep else "")


def _environment_help(providers: Sequence[Provider]) -> str:
    blocks = [f"{p.name}: {p.summary}\n{p.describe_environment()}" for p in providers]
    return "environment variables (options override them):\n\n" + "\n\n".join(blocks)


def _add_provider_options(parser: argparse.ArgumentParser, provider: Provider) -> None:
    group = parser.add_argument_group(f"{provider.name} credentials (default: the environment variables)")
    for setting in provider.settings:
        if setting.secret:
            group.add_argument(
                setting.option,
                *setting.aliases,
                dest=_dest(setting),
                action="store_true",
                help=f"read {setting.variable} from one line of standard input",
            )
        else:
            group.add_argument(
                setting.option,
                *setting.aliases,
                dest=_dest(setting),
                metavar=setting.variable,
                help=f"{setting.help} (default: ${setting.variable})",
            )
    _add_verbose(parser)
    if provider.renews:
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help=(
                "neither read nor keep a token in the token cache "
                f"(default: reuse tokens between runs, in ${CACHE_DIR_VARIABLE} or the user's cache directory)"
            ),
        )
    common = parser.add_argument_group("connection")
    common.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=(
            "connect and read timeout of each request (default: the library's token-call timeout, "
            f"and {DEFAULT_REQUEST_TIMEOUT:.0f} s for the API request)"
        ),
    )
    common.add_argument(
        "--allow-insecure-loopback",
        action="store_true",
        help="allow plain http:// to 127.0.0.1/::1/localhost (local test servers only)",
    )


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v`` after the command too (``multiauth token cognito -v``); SUPPRESS keeps a
    ``-v`` given before the command when this one is absent."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log token calls and renewals to stderr (also accepted before the command)",
    )


def _provider_parsers(
    command: argparse.ArgumentParser,
    providers: Sequence[Provider],
    *,
    command_name: str,
    epilog_extra: str,
    add: Callable[..., None],
) -> None:
    sub = command.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    for provider in providers:
        parser = sub.add_parser(
            provider.name,
            help=provider.summary,
            description=f"{PROG} {command_name} {provider.name}: {provider.summary}.",
            epilog=_environment_help([provider]) + "\n\n" + epilog_extra,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add(parser)
        _add_provider_options(parser, provider)


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        choices=("token", "json"),
        default="token",
        help="token: the access token alone (default); json: its metadata (expiry, scope, type) instead",
    )
    parser.add_argument(
        "--json",
        dest="json_alias",
        action="store_true",
        help="deprecated: the same as --output json (on 'request', --json is the request body)",
    )
    parser.add_argument(
        "--show-token",
        action="store_true",
        help="with --output json: include the access token too (the refresh token is never printed)",
    )


def _request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", metavar="METHOD", help="GET, POST, PUT, PATCH, DELETE ...")
    parser.add_argument("url", metavar="URL", help="the https:// URL of the API")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument(
        "--data",
        metavar="TEXT|@FILE|-",
        help="the request body, sent as given; @FILE reads a file, - standard input (byte for byte)",
    )
    body.add_argument(
        "--json",
        dest="json_body",
        metavar="JSON|@FILE|-",
        help="a JSON request body (Content-Type: application/json); @FILE reads a file, - standard input",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``multiauth`` argument parser: ``token``, ``request``, ``providers`` and ``demo``,
    with a sub-command per registered provider (plug-ins' too)."""
    providers = list(command_providers().values())
    parser = _Parser(
        prog=PROG,
        description="Machine-to-machine API tokens from the shell, by requests_multiauth.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} (requests_multiauth) {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log token calls and renewals to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    token = commands.add_parser(
        "token",
        help="print an access token, e.g. for curl",
        description=(
            "Print an access token and nothing else, so that\n"
            f'  curl -H "Authorization: Bearer $({PROG} token dataloy)" https://...\n'
            "works. With --output json, print when it expires, its scope and type instead.\n"
            "Tokens are reused between runs (see --no-cache)."
        ),
        epilog=_environment_help(providers) + "\n\n" + EXIT_STATUS_HELP + "\n" + TRUST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbose(token)
    _provider_parsers(
        token, providers, command_name="token", epilog_extra=EXIT_STATUS_HELP + "\n" + TRUST_HELP, add=_token_arguments
    )

    request = commands.add_parser(
        "request",
        help="send one authenticated request and print the answer",
        description=(
            "Send one request with the provider's token, renewing and replaying once on a 401,\n"
            "and print the status line (stderr) and the body (stdout)."
        ),
        epilog=_environment_help(providers) + "\n\n" + EXIT_STATUS_HELP + "\n" + TRUST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbose(request)
    _provider_parsers(
        request,
        providers,
        command_name="request",
        epilog_extra=EXIT_STATUS_HELP + "\n" + TRUST_HELP,
        add=_request_arguments,
    )

    listing = commands.add_parser(
        "providers",
        help="list the providers: scheme, variables, documentation",
        description=(
            "List every provider this installation knows (the built-in ones and those of\n"
            "installed plug-ins): what it speaks, the variables it reads (required or optional,\n"
            "secret or not) and where it is documented."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbose(listing)
    listing.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text: one block per provider (default); json: the same as a JSON list",
    )

    demo_names = [record.name for record in registry.list_providers() if record.emulator is not None]
    demo = commands.add_parser(
        "demo",
        help="run every provider scheme against local providers on loopback",
        description=(
            "Start local emulations of the providers on loopback and run each preset\n"
            "through its life: first token, reuse, renewal at expiry, server-side revocation.\n"
            "Needs no credentials and no network; reads no environment variables.\n"
            "HTTPS with a throwaway CA when trustme is installed, plain HTTP on loopback otherwise."
        ),
        epilog="exit status: 0 if every step worked, 1 otherwise",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbose(demo)
    demo.add_argument(
        "--tls",
        dest="tls",
        action="store_true",
        default=None,
        help="require HTTPS (fails without trustme)",
    )
    demo.add_argument("--no-tls", dest="tls", action="store_false", help="use plain HTTP on loopback")
    demo.add_argument(
        "--provider",
        action="append",
        choices=sorted(demo_names),
        help="run only this provider (repeatable; default: every preset with a local emulator)",
    )
    return parser


# -- running ---------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _LogHandler(logging.Handler):
    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(f"{PROG}: {record.levelname.lower()}: {_one_line(record.getMessage())}\n")
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def _logging_to(stream: Optional[IO[str]], *, verbose: bool) -> Iterator[None]:
    """Show the library's log records (warnings; everything with *verbose*) as one line each."""
    if stream is None:
        yield
        return
    logger = logging.getLogger("requests_multiauth")
    handler = _LogHandler(stream)
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


class _OutputClosed(Exception):
    """Standard output's reader went away (``multiauth demo | head -1``)."""


class _Output:
    """Standard output, telling a closed pipe apart from every other OSError."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise _OutputClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise _OutputClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _stop_writing_to_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit does not
    report the closed pipe on stderr (the recipe of the ``signal`` module's docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured in tests)
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``multiauth`` command with *argv* (default ``sys.argv[1:]``); return the exit status."""
    with warnings.catch_warnings(record=True) as loading:  # a broken plug-in: one line, not a traceback
        warnings.simplefilter("always")
        parser = build_parser()
    for warning in loading:
        sys.stderr.write(f"{PROG}: warning: {_one_line(str(warning.message))}\n")
    args = parser.parse_args(argv)  # exits 2 on a usage error, 0 after --help / --version
    out: IO[str] = cast(IO[str], _Output(sys.stdout))
    err = sys.stderr
    commands: Dict[str, Callable[[], int]] = {
        "token": lambda: command_token(args, out),
        "request": lambda: command_request(args, out, err),
        "providers": lambda: command_list_providers(args, out),
        "demo": lambda: command_demo(args, out),
    }
    try:
        # The demo reports what the library logs in its tables; -v shows the log as well.
        log_stream = err if args.command != "demo" or args.verbose else None
        with _logging_to(log_stream, verbose=args.verbose), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                status = commands[args.command]()
                out.flush()  # a closed pipe shows here, not in Python's flush at exit
            finally:
                for warning in caught:
                    err.write(f"{PROG}: warning: {_one_line(str(warning.message))}\n")
    except _OutputClosed:
        _stop_writing_to_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        err.write(f"{PROG}: error: {_one_line(str(exc))}\n")
        return EXIT_USAGE
    except (MultiAuthError, ConfigurationError, requests.RequestException, OSError) as exc:
        err.write(f"{PROG}: error: {_describe_failure(exc, args)}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    return status


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


def _ca_bundle_setting(name: Optional[str]) -> Any:
    """The CA bundle setting (variable and option) of the command's provider *name*, or None."""
    if not name:
        return None
    try:
        provider = command_provider(registry.get_provider(name))
    except (ConfigurationError, KeyError):
        return None
    return next((s for s in provider.settings if s.option == CA_BUNDLE_OPTION), None)


def _describe_failure(exc: BaseException, args: argparse.Namespace) -> str:
    tls = _tls_failure(exc, args)
    if tls is not None:
        return _one_line(tls)
    if isinstance(exc, TokenRequestError) and args.command in ("token", "request"):
        provider = command_provider(registry.get_provider(args.provider))
        exc = exc.with_hint(_shell_hint(exc, provider)) if exc.hint else exc
    if isinstance(exc, (MultiAuthError, ConfigurationError)):
        return _one_line(str(exc))  # the library's messages are already scrubbed of secrets
    # requests' own errors quote the URL, which may carry a query with secrets: name the class only.
    url = getattr(args, "url", None)
    where = f" ({safe_url(url)})" if url else ""
    return f"{type(exc).__name__}{where}: {_one_line(_short_reason(exc))}"


def _shell_hint(exc: TokenRequestError, provider: Provider) -> str:
    """The library's advice (keywords of Python calls) said with this command's
    variables and options, for *provider*; the library's own when none fits better."""
    assert exc.hint is not None  # noqa: S101 - only called for errors with advice
    if exc.hint == TLS_HINT:
        bundle = next((s for s in provider.settings if s.option == CA_BUNDLE_OPTION), None)
        alone = f" (or {bundle.variable} for the token calls only)" if bundle is not None else ""
        return f"set REQUESTS_CA_BUNDLE=/path/to/ca.pem to trust the CA that signed the server's certificate{alone}"
    if exc.hint == UNREACHABLE_HINT:
        url = next((s for s in provider.settings if s.option == "--token-url"), None)
        where = f" ({url.variable} or {url.option})" if url is not None else ""
        return f"check that the endpoint{where} is up and reachable, or raise --timeout"
    if isinstance(exc, InvalidClientError):
        names = [s.variable for s in provider.settings if s.credential]
        what = " and ".join(names)
        return f"check {what} (or the options that override {'them' if len(names) > 1 else 'it'})"
    scope = next((s for s in provider.settings if s.option == "--scope"), None)
    if exc.error == "invalid_scope" and scope is not None:
        return f"the scope is unknown or not allowed for this client: check {scope.variable} or {scope.option}"
    return exc.hint


def _short_reason(exc: BaseException) -> str:
    reason = str(exc.args[0]) if exc.args else type(exc).__name__
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    return reason if len(reason) <= 200 else reason[:200] + "..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
