"""From the environment, the options and standard input to an auth: what ``token`` and
``request`` do before they send anything.

A provider's settings (:mod:`.settings`) are read from the environment, options
winning; a secret only from one line of standard input, never from an argument. A
missing setting, or one the library refuses, is a :class:`~.status.UsageError` naming
its variable and its option. The auth gets the command's token cache (a
``FileTokenCache`` in the user's cache directory, see docs/cli-cache.rst) unless
``--no-cache`` is given; with ``-v`` it reports where each token came from.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any, Dict, Iterator, Mapping, Optional

from ..caches.base import TokenCache
from ..errors import ConfigurationError, InsecureTransportError
from ..telemetry import CacheRead, Event, TokenRequest, log_fields
from .settings import AuthObject, Provider, Setting
from .status import PROG, UsageError

__all__ = [
    "CACHE_DIR_VARIABLE",
    "build_auth",
    "configuration_is_usage",
    "open_token_cache",
    "read_secret",
    "token_cache_directory",
]

#: Where the command keeps tokens between runs, if set; else the user's cache
#: directory (see ``requests_multiauth.caches.file.default_directory``).
CACHE_DIR_VARIABLE = "MULTIAUTH_CACHE_DIR"

log = logging.getLogger("requests_multiauth")


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
    environ = os.environ if environ is None else environ
    settings = _read_settings(provider, args, environ, stdin or sys.stdin)
    _require_settings(provider, settings, args.command)
    options: Dict[str, Any] = {"allow_insecure_loopback": args.allow_insecure_loopback}
    if provider.renews and args.timeout is not None:
        options["timeout"] = args.timeout
    if provider.renews and not getattr(args, "no_cache", True):
        cache = open_token_cache(environ)
        if cache is not None:
            options["cache"] = cache
    with configuration_is_usage():
        auth = provider.build(settings, **options)
    if getattr(args, "verbose", False):
        _report_token_source(auth, sys.stderr)
    return auth


def _read_settings(
    provider: Provider, args: argparse.Namespace, environ: Mapping[str, str], stdin: IO[str]
) -> Dict[str, str]:
    """*environ* with the provider's options laid over it; a secret's flag reads *stdin*."""
    settings: Dict[str, str] = dict(environ)
    for setting in provider.settings:
        given = getattr(args, setting.dest, None)
        if setting.secret and given:
            settings[setting.variable] = read_secret(setting, stdin)
        elif not setting.secret and given is not None:
            settings[setting.variable] = given
    return settings


def _require_settings(provider: Provider, settings: Mapping[str, str], command: str) -> None:
    """A usage error naming every required setting that is missing or blank, and how to give the first."""
    missing = [s for s in provider.settings if s.required and not settings.get(s.variable, "").strip()]
    if missing:
        first = missing[0]
        names = ", ".join(s.variable for s in missing)
        how = f"pipe it to {first.option}" if first.secret else f"pass {first.option}"
        raise UsageError(
            f"{names} {'are' if len(missing) > 1 else 'is'} not set: export {first.variable}=... or {how} "
            f"(see {PROG} {command} {provider.name} --help)"
        )


@contextlib.contextmanager
def configuration_is_usage() -> Iterator[None]:
    """The library's refusal of a setting (missing, invalid, insecure) as a usage error,
    its keyword advice said as the matching option."""
    try:
        yield
    except (ConfigurationError, InsecureTransportError) as exc:
        raise UsageError(_for_the_command_line(str(exc))) from None


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
