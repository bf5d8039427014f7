"""The ``multiauth`` command: ``main`` (app.py) parses the arguments (parser.py) and runs
one of the commands (commands.py): ``token`` and ``request`` build an auth from a
provider's variables and options (settings.py, credentials.py), ``providers`` lists the
registry, and ``demo`` (demo.py) plays every provider against its local emulator.
What reaches the terminal is in output.py and failures.py, the exit statuses in status.py."""

from .app import main

__all__ = ["main"]
