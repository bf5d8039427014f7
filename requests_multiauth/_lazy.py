"""Names a package offers but imports on first use (PEP 562): the one loader both public
packages' ``__getattr__`` call.

A package keeps a table of its lazy names, each with the submodule (relative to the
package) that defines it, and defines ``def __getattr__(name): return lazy_attribute(...)``.
The first lookup imports the submodule and stores the value in the package, so later
lookups never come here. Standard library only, so using it costs nothing.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Mapping

__all__ = ["lazy_attribute"]


def lazy_attribute(package: str, table: Mapping[str, str], name: str) -> Any:
    """The attribute *name* of *package*, imported from the submodule *table* names for it
    (``{"EntraIdEmulator": "_entra"}``: ``package._entra.EntraIdEmulator``) and stored in
    *package*.

    Raises:
        AttributeError: *name* is not in *table* (what a module's ``__getattr__`` must raise).
    """
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", package), name)
    setattr(sys.modules[package], name, value)  # later lookups do not come here again
    return value
