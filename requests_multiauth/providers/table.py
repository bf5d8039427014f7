"""The providers as tables, made from the registry: the README's and the docs' provider tables.

Nothing here is written by hand: a provider added to the registry (a module, or a
plug-in's entry point) appears in both. ``tests/test_registry.py`` checks that the
README's table is :func:`readme_table` of the built-in providers; the docs build
the ``.. provider-table::`` directive (``docs/_ext/multiauth_docs.py``) from
:func:`table_rows`.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from .registry import Provider

__all__ = ["README_COLUMNS", "readme_table", "table_rows", "variables_text"]

#: The README table's columns.
README_COLUMNS = ("provider", "preset", "scheme")


def variables_text(provider: Provider) -> str:
    """The variables of *provider* as reStructuredText, the optional ones in parentheses."""
    required = [f"``{var.name}``" for var in provider.env if var.required]
    optional = [f"``{var.name}``" for var in provider.env if not var.required]
    text = ", ".join(required)
    if optional:
        text += (" " if text else "") + "(" + ", ".join(optional) + ")"
    return text


def table_rows(providers: Sequence[Provider]) -> List[Tuple[str, str, str, str]]:
    """One row per provider: its name, its preset class, its scheme, its variables (reST)."""
    return [
        (provider.name, provider.auth_class.__name__, provider.scheme, variables_text(provider))
        for provider in providers
    ]


def readme_table(providers: Sequence[Provider]) -> str:
    """A reStructuredText simple table of *providers*: name, preset class, scheme."""
    rows = [(f"``{name}``", f"``{preset}``", scheme) for name, preset, scheme, _ in table_rows(providers)]
    widths = [max(len(cell) for cell in column) for column in zip(README_COLUMNS, *rows)]
    rule = "  ".join("=" * width for width in widths)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([rule, line(README_COLUMNS), rule, *(line(row) for row in rows), rule])
