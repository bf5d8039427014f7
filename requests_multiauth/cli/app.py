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

This module owns :func:`main`: it parses the arguments, runs the command, and turns
what the command raised into its exit status and one line on standard error. A
command travels through :mod:`.parser` (the options, made from the registry),
:mod:`.settings` (the providers as the command line knows them), :mod:`.credentials`
(the environment and options to an auth), :mod:`.commands` (what each command does),
:mod:`.output` and :mod:`.failures` (what reaches the terminal); the exit statuses are
in :mod:`.status`, the demo in :mod:`.demo`.
"""

from __future__ import annotations

import sys
import warnings
from typing import IO, Callable, Dict, Optional, Sequence, cast

import requests

from ..errors import ConfigurationError, MultiAuthError
from .commands import command_demo, command_list_providers, command_request, command_token
from .failures import describe_failure
from .output import Output, OutputClosed, logging_to, one_line, stop_writing_to_stdout, write_warnings
from .parser import build_parser
from .status import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "PROG", "build_parser", "main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``multiauth`` command with *argv* (default ``sys.argv[1:]``); return the exit status."""
    with warnings.catch_warnings(record=True) as loading:  # a broken plug-in: one line, not a traceback
        warnings.simplefilter("always")
        parser = build_parser()
    write_warnings(loading, sys.stderr)
    args = parser.parse_args(argv)  # exits 2 on a usage error, 0 after --help / --version
    out: IO[str] = cast(IO[str], Output(sys.stdout))
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
        with logging_to(log_stream, verbose=args.verbose), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                status = commands[args.command]()
                out.flush()  # a closed pipe shows here, not in Python's flush at exit
            finally:
                write_warnings(caught, err)
    except OutputClosed:
        stop_writing_to_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        err.write(f"{PROG}: error: {one_line(str(exc))}\n")
        return EXIT_USAGE
    except (MultiAuthError, ConfigurationError, requests.RequestException, OSError) as exc:
        err.write(f"{PROG}: error: {describe_failure(exc, args)}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
