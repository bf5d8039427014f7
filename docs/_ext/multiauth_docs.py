"""What the requests_multiauth documentation generates at build time, so it cannot go stale.

* ``.. public-api:: MODULE`` documents every name in ``MODULE.__all__`` with autodoc:
  the names of its content lines (``Title: Name Name ...``) in those groups, and every
  other public name after them, grouped by the module that defines it. A name added to
  ``__all__`` appears in the reference without anyone editing a page.
* ``.. multiauth-cli::`` walks ``requests_multiauth.cli.app.build_parser()`` and writes one
  section per command and subcommand, with an ``option`` entry for every option, so the
  command-line page lists exactly what the parser accepts.
* ``.. provider-table::`` writes the providers' table from the provider registry
  (``requests_multiauth.providers.table``): name (linked to its page when there is one),
  preset, scheme, variables and the provider's own documentation.
* ``.. optional-toctree::`` is a glob toctree whose patterns may match nothing yet
  (feature pages that land later); it lists what exists and warns about nothing.
* Cross-references: a name documented under its public path (``requests_multiauth.Token``)
  is found from the private module that defines it (``requests_multiauth.token.Token``),
  and names of requests, urllib3 and the standard library link to their documentation
  pages. The build is offline, so no inventory is fetched; any other unresolved name is
  left to Sphinx's nitpicky warning.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import inspect
import re
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.directives.other import TocTree
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective
from sphinx.util.matching import patfilter
from sphinx.util.nodes import nested_parse_with_titles

PACKAGE = "requests_multiauth"
PUBLIC_MODULES = ("requests_multiauth", "requests_multiauth.testing")

# -- the API reference ---------------------------------------------------------------------------


def public_names(module_name: str) -> List[str]:
    """``__all__`` of *module_name*, in its order."""
    module = importlib.import_module(module_name)
    return list(module.__all__)


def _autodoc_directive(obj: Any) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if inspect.isfunction(obj):
        return "autofunction"
    return "autodata"


def _is_exception(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseException)


def _module_heading(module_name: str) -> str:
    module = sys.modules.get(module_name)
    summary = (module.__doc__ or "").strip().splitlines()[0:1] if module else []
    return summary[0].rstrip(".") if summary else module_name


class PublicApi(SphinxDirective):
    """``.. public-api:: MODULE`` with optional ``Title: Name Name ...`` content lines."""

    required_arguments = 1
    has_content = True

    def run(self) -> List[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        names = public_names(module_name)
        groups: List[Tuple[str, List[str]]] = []
        placed: set[str] = set()
        for line in self.content:
            if not line.strip():
                continue
            title, _, listed = line.partition(":")
            members = [name for name in listed.split() if name in names and name not in placed]
            for name in listed.split():
                if name not in names:
                    self.env.note_reread()
                    raise self.error(f"public-api: {name!r} is not in {module_name}.__all__")
            placed.update(members)
            groups.append((title.strip(), members))
        # A new exception joins the group of exceptions; other new names go by their module.
        errors_group = next(
            (members for _, members in groups if members and all(_is_exception(getattr(module, m)) for m in members)),
            None,
        )
        by_module: Dict[str, List[str]] = {}
        for name in names:
            if name in placed:
                continue
            obj = getattr(module, name)
            if errors_group is not None and _is_exception(obj):
                errors_group.append(name)
                continue
            defined_in = getattr(obj, "__module__", None) if inspect.isclass(obj) or inspect.isfunction(obj) else None
            by_module.setdefault(defined_in or module_name, []).append(name)
        for defined_in, members in by_module.items():
            groups.append((_module_heading(defined_in) if defined_in != module_name else "Other names", members))

        lines = [f".. currentmodule:: {module_name}", ""]
        for title, members in groups:
            if not members:
                continue
            lines += [title, "~" * len(title), ""]
            for name in members:
                lines += [f".. {_autodoc_directive(getattr(module, name))}:: {name}", ""]
        return self._parse(lines)

    def _parse(self, lines: Sequence[str]) -> List[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(list(lines), source="<public-api>"), container)
        return list(container.children)


# -- the command line ----------------------------------------------------------------------------


def walk_parser(parser: argparse.ArgumentParser, path: Tuple[str, ...]) -> Iterator[Tuple[Tuple[str, ...], Any]]:
    """Every parser under *parser* (itself first), with its command path."""
    yield path, parser
    seen: set[int] = set()
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public way to list its actions
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001 - nor its subcommands
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield from walk_parser(sub, (*path, name))


def documented_actions(parser: argparse.ArgumentParser) -> List[argparse.Action]:
    """The options and positional arguments of *parser* (not its subcommand choosers)."""
    return [
        action
        for action in parser._actions  # noqa: SLF001 - see walk_parser
        if not isinstance(action, argparse._SubParsersAction)  # noqa: SLF001
    ]


_RST_SPECIAL = re.compile(r"([\\*`|_\[\]])")


def _escape(text: str) -> str:
    return _RST_SPECIAL.sub(r"\\\1", text)


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    if "%(" in action.help:
        return parser._get_formatter()._expand_help(action)  # noqa: SLF001 - argparse's own expansion
    return action.help


def _signature(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest)
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


def _choices_of(parser: argparse.ArgumentParser) -> List[Tuple[str, str]]:
    found = []
    for action in parser._actions:  # noqa: SLF001 - see walk_parser
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}  # noqa: SLF001
            found += [(name, helps.get(name, "")) for name in action.choices]
    return found


def cli_lines(parser: argparse.ArgumentParser, program: str) -> List[str]:
    """The reStructuredText of every command of *parser*: sections, usage, options."""
    lines: List[str] = []
    for path, sub in walk_parser(parser, (program,)):
        title = " ".join(path)
        underline = "~" if len(path) <= 2 else "^"
        lines += [title, underline * len(title), "", f".. program:: {title}", ""]
        if sub.description:
            lines += [_escape(" ".join(sub.description.split())), ""]
        usage = sub.format_usage().strip()
        lines += [".. code-block:: text", ""] + ["   " + line for line in usage.splitlines()] + [""]
        choices = _choices_of(sub)
        if choices:
            lines += ["Subcommands:", ""]
            lines += [f"* ``{title} {name}``: {_escape(text)}" for name, text in choices]
            lines += [""]
        for action in documented_actions(sub):
            lines += [f".. option:: {_signature(action)}", ""]
            text = _help_text(sub, action)
            if action.choices and not isinstance(action.choices, dict):
                text += " (one of: " + ", ".join(map(str, action.choices)) + ")"
            if text:
                lines += ["   " + _escape(text), ""]
        if sub.epilog and len(path) > 2:
            lines += [".. code-block:: text", ""] + ["   " + line for line in sub.epilog.splitlines()] + [""]
    return lines


class MultiauthCli(SphinxDirective):
    """``.. multiauth-cli::``: the reference of the ``multiauth`` command, from its parser."""

    def run(self) -> List[nodes.Node]:
        from requests_multiauth.cli.app import PROG, build_parser

        container = nodes.section()
        container.document = self.state.document
        lines = cli_lines(build_parser(), PROG)
        nested_parse_with_titles(self.state, StringList(lines, source="<multiauth-cli>"), container)
        return list(container.children)


# -- the providers' table, from the registry ------------------------------------------------------


class ProviderTable(SphinxDirective):
    """``.. provider-table::``: every registered provider, from its registry record."""

    def run(self) -> List[nodes.Node]:
        from requests_multiauth.providers.registry import list_providers
        from requests_multiauth.providers.table import table_rows

        providers = list_providers()
        here = self.env.docname.rpartition("/")[0]
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 12 22 30 36",
            "",
            "   * - provider",
            "     - scheme",
            "     - variables (optional ones in parentheses)",
            "     - documented at",
        ]
        for provider, (name, preset, scheme, variables) in zip(providers, table_rows(providers)):
            page = f"{here}/{name}" if here else name
            title = f":doc:`{name}`" if page in self.env.found_docs else f"``{name}``"
            cls = f"`{preset}`" if preset in public_names(PACKAGE) else f"``{preset}``"  # a link when documented
            lines += [
                f"   * - {title}",
                f"     - {scheme} ({cls})",
                f"     - {variables or 'none'}",
                f"     - {provider.docs_url}",
            ]
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="<provider-table>"), container)
        return list(container.children)


# -- toctrees of pages that may not exist yet ---------------------------------------------------


class OptionalTocTree(TocTree):
    """A glob toctree that drops the patterns matching no document instead of warning."""

    def run(self) -> List[nodes.Node]:
        others = sorted(self.env.found_docs - {self.env.docname})
        here = self.env.docname.rpartition("/")[0]
        kept = StringList()
        for offset, line in enumerate(self.content):
            entry = line.strip()
            pattern = f"{here}/{entry}" if here and not entry.startswith("/") else entry.lstrip("/")
            if entry and patfilter(others, pattern):
                kept.append(line, *self.content.info(offset))
        if not kept:
            return []
        self.content = kept
        self.options["glob"] = True
        return super().run()


# -- cross-references ------------------------------------------------------------------------------

PYTHON_DOCS = "https://docs.python.org/3/library/"
BUILTIN_PAGES = {
    "functions.html": {"int", "float", "bool", "object", "type", "callable"},
    "stdtypes.html": {"str", "bytes", "bytearray", "dict", "list", "tuple", "set", "frozenset", "memoryview"},
    "constants.html": {"None", "True", "False", "Ellipsis", "NotImplemented"},
}
REQUESTS_API = "https://requests.readthedocs.io/en/latest/api/"
REQUESTS_TOP = {"Session", "Response", "Request", "PreparedRequest", "RequestException", "ConnectionError", "HTTPError",
                "Timeout", "ConnectTimeout", "ReadTimeout", "TooManyRedirects"}
URLLIB3_UTIL = "https://urllib3.readthedocs.io/en/stable/reference/urllib3.util.html"
# Python 3.9 has no sys.stdlib_module_names: the modules the package's signatures name.
STDLIB_FALLBACK = frozenset({"typing", "collections", "os", "pathlib", "threading", "logging", "datetime", "io",
                             "argparse", "http", "ssl", "types", "contextlib", "json", "socket", "enum"})
OTHER_DOCS = {
    "urllib3": "https://urllib3.readthedocs.io/en/stable/reference/index.html",
    "redis": "https://redis.readthedocs.io/en/stable/",
    "filelock": "https://py-filelock.readthedocs.io/en/latest/",
    "oauthlib": "https://oauthlib.readthedocs.io/en/latest/",
    "cryptography": "https://cryptography.io/en/latest/",
    "jwt": "https://pyjwt.readthedocs.io/en/stable/",
    "opentelemetry": "https://opentelemetry-python.readthedocs.io/en/latest/",
    "trustme": "https://trustme.readthedocs.io/en/latest/",
    "pytest": "https://docs.pytest.org/en/stable/reference/reference.html",
}


def external_url(target: str) -> Optional[str]:
    """Where the documentation of *target* (requests, urllib3, the standard library ...) lives."""
    top, _, rest = target.partition(".")
    name = target.rpartition(".")[2]
    if not rest:
        if target in REQUESTS_TOP:  # requests' own docstrings, inherited, name its classes bare
            return f"{REQUESTS_API}#requests.{target}"
        for page, names in BUILTIN_PAGES.items():
            if target in names:
                return f"{PYTHON_DOCS}{page}#{target}"
        builtin = getattr(builtins, target, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return f"{PYTHON_DOCS}exceptions.html#{target}"
        return None
    if top == "requests":
        if name in REQUESTS_TOP:
            return f"{REQUESTS_API}#requests.{name}"
        module = target.rpartition(".")[0]
        return f"{REQUESTS_API}#{module}.{name}" if module in {"requests.auth", "requests.adapters"} else REQUESTS_API
    if top == "urllib3" and name in {"Retry", "Timeout", "Url"}:
        return f"{URLLIB3_UTIL}#urllib3.util.{name}"
    if top in OTHER_DOCS:
        return OTHER_DOCS[top]
    if top in getattr(sys, "stdlib_module_names", STDLIB_FALLBACK):
        module = target.rpartition(".")[0]
        while module and module.rpartition(".")[0] and module not in sys.modules:
            module = module.rpartition(".")[0]
        page = {"collections.abc": "collections.abc", "os": "os"}.get(module, module)
        return f"{PYTHON_DOCS}{page}.html#{target}"
    return None


def public_target(target: str) -> Optional[str]:
    """The public path of a name of the package reached by a private one, if it has one."""
    parts = target.split(".")
    if parts[0] != PACKAGE:
        if len(parts) == 1 or parts[0] in public_names(PACKAGE) + public_names(PUBLIC_MODULES[1]):
            parts = [PACKAGE, *parts]
        else:
            return None
    for module_name in reversed(PUBLIC_MODULES):
        names = public_names(module_name)
        for index, part in enumerate(parts[1:], start=1):
            if part in names:
                candidate = ".".join([module_name, *parts[index:]])
                if candidate != target:
                    return candidate
    return None


_DOTTED_NAME = re.compile(r"^[~.]?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _package_modules() -> List[Any]:
    return [module for name, module in sorted(sys.modules.items()) if name.split(".")[0] == PACKAGE and module]


def is_internal(target: str, node: pending_xref) -> bool:
    """True when *target* names something of the package that is real but not public.

    A docstring may mention a private helper (``:func:`join_url```), a constant or an
    internal type alias; it is shown as text. A name that exists nowhere is not
    internal: it stays a nitpicky warning.
    """
    target = target.lstrip("~.")
    parts = target.split(".")
    if parts[0] == PACKAGE:
        module_name = ".".join(parts[:-1])
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, parts[-1]):
            return True
        parts = parts[-1:]
    name = parts[-1]
    if len(parts) == 1:
        if any(hasattr(module, name) for module in _package_modules()):
            return True
        owner = _owner_class(node)
        if owner is not None:
            try:
                return name in inspect.signature(owner).parameters
            except (TypeError, ValueError):
                return False
    return False


def _owner_class(node: pending_xref) -> Optional[type]:
    module = sys.modules.get(node.get("py:module") or "")
    class_name = node.get("py:class")
    if module is None or not class_name:
        return None
    owner = getattr(module, class_name.split(".")[0], None)
    return owner if inspect.isclass(owner) else None


def resolve_missing(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> Optional[nodes.Node]:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    public = public_target(target)
    if public is not None:
        domain = env.get_domain("py")
        found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], public, node, contnode)
        if found is not None:
            return found
    if not _DOTTED_NAME.match(target) or is_internal(target, node):
        return contnode  # a private helper, or a type Sphinx cannot split: plain text
    url = external_url(target)
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url, reftitle=target)
    reference += contnode
    return reference


def keep_attribute_summaries(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: List[str]
) -> None:
    """Keep napoleon from reading ``"The token endpoint: ..."`` as a type and a description.

    For an attribute, napoleon takes the text before a colon in the first line as the
    attribute's type; here the types come from the annotations, so the first line is
    always a sentence. A blank first line (removed again by napoleon) says so.
    """
    if what in ("attribute", "data", "property") and lines and ":" in lines[0]:
        lines.insert(0, "")


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("public-api", PublicApi)
    app.add_directive("multiauth-cli", MultiauthCli)
    app.add_directive("optional-toctree", OptionalTocTree)
    app.add_directive("provider-table", ProviderTable)
    app.connect("missing-reference", resolve_missing)
    app.connect("autodoc-process-docstring", keep_attribute_summaries, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
