"""The documentation site documents what the package offers: every public name, every CLI option.

The site is built the way CI builds it (``sphinx-build -W -n --keep-going``: warnings,
broken cross-references included, are errors), and its inventory (``objects.inv``, the
index Sphinx writes of everything it documented) is compared with the package:

* every name of ``requests_multiauth.__all__`` and ``requests_multiauth.testing.__all__``
  has an entry in the API reference;
* every option and argument of every ``multiauth`` command and subcommand, walked from
  ``requests_multiauth.cli.app.build_parser()``, has an entry on the command-line page.

CI builds the site once and points ``MULTIAUTH_DOCS_HTML`` at it; without that variable
the test builds it into a temporary directory (and skips when Sphinx, the ``docs`` extra,
is not installed).
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

import requests_multiauth
import requests_multiauth.testing
from requests_multiauth.cli.app import PROG, build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 600


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("MULTIAUTH_DOCS_HTML")
    if given:
        path = Path(given)
        assert (path / "objects.inv").exists(), f"MULTIAUTH_DOCS_HTML={given} holds no built site"
        return path
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    pytest.importorskip("furo", reason="the docs extra is not installed")
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    assert result.returncode == 0, "the docs build failed:\n" + result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def inventory(site: Path) -> Dict[str, Set[str]]:
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as stream:
        loaded = InventoryFile.load(stream, "", lambda base, uri: uri)
    return {kind: set(entries) for kind, entries in loaded.items()}


def _documented_python_names(inventory: Dict[str, Set[str]]) -> Set[str]:
    return {name for kind, names in inventory.items() if kind.startswith("py:") for name in names}


@pytest.mark.parametrize("module", [requests_multiauth, requests_multiauth.testing], ids=lambda m: m.__name__)
def test_every_public_name_has_an_entry_in_the_reference(module: object, inventory: Dict[str, Set[str]]) -> None:
    documented = _documented_python_names(inventory)
    names: List[str] = list(module.__all__)  # type: ignore[attr-defined]
    missing = [name for name in names if f"{module.__name__}.{name}" not in documented]  # type: ignore[attr-defined]
    assert missing == []


@pytest.mark.parametrize("module", [requests_multiauth, requests_multiauth.testing], ids=lambda m: m.__name__)
def test_every_public_class_and_function_states_its_contract_in_a_docstring(module: object) -> None:
    undocumented = [
        name
        for name in module.__all__  # type: ignore[attr-defined]
        if (inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name)))
        and len(inspect.getdoc(getattr(module, name)) or "") < 40
    ]
    assert undocumented == []


Command = Tuple[Tuple[str, ...], argparse.ArgumentParser]


def _walk(parser: argparse.ArgumentParser, path: Tuple[str, ...]) -> Iterator[Command]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def cli_entries() -> Set[str]:
    """What the std domain names each option of each (sub)command: ``multiauth-token-cognito.--scope``."""
    entries = set()
    for path, parser in _walk(build_parser(), (PROG,)):
        program = "-".join(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            names = action.option_strings or [str(action.metavar or action.dest)]
            entries.update(f"{program}.{name}" for name in names)
    return entries


def test_the_parser_walk_sees_every_command() -> None:
    programs = {"-".join(path) for path, _ in _walk(build_parser(), (PROG,))}
    assert {"multiauth", "multiauth-token-cognito", "multiauth-request-dataloy", "multiauth-demo"} <= programs
    assert "multiauth-token-cognito.--client-secret-stdin" in cli_entries()


def test_every_cli_option_is_on_the_command_line_page(inventory: Dict[str, Set[str]]) -> None:
    on_the_page = inventory.get("std:cmdoption", set())
    assert sorted(cli_entries() - on_the_page) == []
    assert sorted(on_the_page - cli_entries()) == []  # nothing documented that the parser lacks


def test_the_diagrams_are_rendered_at_build_time(site: Path) -> None:
    page = (site / "tokens.html").read_text(encoding="utf-8")
    assert page.count('class="graphviz') >= 2
    rendered = list((site / "_images").glob("graphviz-*.svg"))
    assert len(rendered) >= 2
    assert all("<svg" in path.read_text(encoding="utf-8") for path in rendered)
