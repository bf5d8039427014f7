"""How the ``multiauth`` command ends, as the shell sees it: its name, which begins every
line it writes to standard error, its exit statuses, and :class:`UsageError` (status 2).

Every other module of the command raises or returns these; :mod:`.app` turns them into
the process's exit status.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
]

PROG = "multiauth"

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


class UsageError(Exception):
    """The command line or the configuration is incomplete: exit status 2."""
