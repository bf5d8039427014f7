"""The ``multiauth`` command: ``main`` parses the arguments (app.py), ``token`` and
``request`` build an auth from a provider's variables, ``demo`` (demo.py) plays every
provider against its local emulator, and ``oauth2`` (oauth2.py) builds a generic one."""

from .app import main

__all__ = ["main"]
