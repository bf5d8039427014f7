"""The ``multiauth`` argument parser, made from the provider registry.

``token`` and ``request`` take a sub-command per registered provider (plug-ins' too),
each with an option per setting (:mod:`.settings`) and the help listing its variables;
``providers`` and ``demo`` take their own options. The parser takes no abbreviated
option and never echoes an unrecognised argument's value, which may be a secret typed
by mistake (:class:`_Parser`).
"""

from __future__ import annotations

import argparse
import re
from typing import Any, Callable, NoReturn, Sequence

from .. import __version__
from ..providers import registry
from .commands import DEFAULT_REQUEST_TIMEOUT
from .credentials import CACHE_DIR_VARIABLE
from .settings import Provider, command_providers
from .status import PROG

__all__ = ["EXIT_STATUS_HELP", "TRUST_HELP", "build_parser"]

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
    """Whether *word* is an option whose name suggests a secret value (``--client-secret=...``)."""
    name = word.partition("=")[0].lower()
    return name.startswith("-") and not name.endswith("-stdin") and any(part in name for part in _SECRET_LIKE)


#: What an option name looks like (``--client-secret``, ``-x``). Anything else, even
#: starting with a dash, may be a secret (random secrets can begin with ``-``).
_OPTION_NAME = re.compile(r"--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_OPTION_NAME_MAX = 32


def _mask_argument(word: str) -> str:
    """*word* with anything but a plain option name replaced by ``...``."""
    name, sep, _ = word.partition("=")
    if len(name) > _OPTION_NAME_MAX or not _OPTION_NAME.fullmatch(name):
        return "..."
    return name + ("=..." if sep else "")


def _environment_help(providers: Sequence[Provider]) -> str:
    """The help's list of the *providers*' variables and the options that override them."""
    blocks = [f"{p.name}: {p.summary}\n{p.describe_environment()}" for p in providers]
    return "environment variables (options override them):\n\n" + "\n\n".join(blocks)


def _add_provider_options(parser: argparse.ArgumentParser, provider: Provider) -> None:
    """The options of *provider*'s settings, then ``-v``, ``--no-cache`` and the connection options."""
    group = parser.add_argument_group(f"{provider.name} credentials (default: the environment variables)")
    for setting in provider.settings:
        if setting.secret:
            group.add_argument(
                setting.option,
                *setting.aliases,
                dest=setting.dest,
                action="store_true",
                help=f"read {setting.variable} from one line of standard input",
            )
        else:
            group.add_argument(
                setting.option,
                *setting.aliases,
                dest=setting.dest,
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


def _add_command(commands: argparse._SubParsersAction[_Parser], name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A command's parser: its description laid out as written, and ``-v`` after the command too."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )
    _add_verbose(parser)
    return parser


def _add_provider_command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    providers: Sequence[Provider],
    *,
    summary: str,
    description: str,
    add: Callable[[argparse.ArgumentParser], None],
) -> None:
    """A command that works for one PROVIDER (``token``, ``request``): a sub-command per
    provider, each with the command's own arguments (*add*) and the provider's options."""
    epilog_extra = EXIT_STATUS_HELP + "\n" + TRUST_HELP
    command = _add_command(
        commands,
        name,
        help=summary,
        description=description,
        epilog=_environment_help(providers) + "\n\n" + epilog_extra,
    )
    sub = command.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    for provider in providers:
        parser = sub.add_parser(
            provider.name,
            help=provider.summary,
            description=f"{PROG} {name} {provider.name}: {provider.summary}.",
            epilog=_environment_help([provider]) + "\n\n" + epilog_extra,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add(parser)
        _add_provider_options(parser, provider)


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``token`` takes besides the provider's options: the output format."""
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
    """What ``request`` takes besides the provider's options: the method, the URL, headers and a body."""
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


def _providers_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    """``providers``: what the registry knows, as text or JSON."""
    listing = _add_command(
        commands,
        "providers",
        help="list the providers: scheme, variables, documentation",
        description=(
            "List every provider this installation knows (the built-in ones and those of\n"
            "installed plug-ins): what it speaks, the variables it reads (required or optional,\n"
            "secret or not) and where it is documented."
        ),
    )
    listing.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text: one block per provider (default); json: the same as a JSON list",
    )


def _demo_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    """``demo``: the presets that have a local emulator, over TLS or not."""
    demo_names = [record.name for record in registry.list_providers() if record.emulator is not None]
    demo = _add_command(
        commands,
        "demo",
        help="run every provider scheme against local providers on loopback",
        description=(
            "Start local emulations of the providers on loopback and run each preset\n"
            "through its life: first token, reuse, renewal at expiry, server-side revocation.\n"
            "Needs no credentials and no network; reads no environment variables.\n"
            "HTTPS with a throwaway CA when trustme is installed, plain HTTP on loopback otherwise."
        ),
        epilog="exit status: 0 if every step worked, 1 otherwise",
    )
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

    _add_provider_command(
        commands,
        "token",
        providers,
        summary="print an access token, e.g. for curl",
        description=(
            "Print an access token and nothing else, so that\n"
            f'  curl -H "Authorization: Bearer $({PROG} token dataloy)" https://...\n'
            "works. With --output json, print when it expires, its scope and type instead.\n"
            "Tokens are reused between runs (see --no-cache)."
        ),
        add=_token_arguments,
    )
    _add_provider_command(
        commands,
        "request",
        providers,
        summary="send one authenticated request and print the answer",
        description=(
            "Send one request with the provider's token, renewing and replaying once on a 401,\n"
            "and print the status line (stderr) and the body (stdout)."
        ),
        add=_request_arguments,
    )
    _providers_command(commands)
    _demo_command(commands)
    return parser
