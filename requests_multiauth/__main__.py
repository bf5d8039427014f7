"""``python -m requests_multiauth``: the ``multiauth`` command (see :mod:`requests_multiauth.cli.app`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
