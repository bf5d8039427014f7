"""Sphinx configuration of the requests_multiauth documentation.

The build is offline and strict: ``sphinx-build -W -n --keep-going -b html docs docs/_build/html``
(``tox -e docs``). No inventory is fetched: names from requests, urllib3 and the standard
library are linked by ``_ext/multiauth_docs.py`` to their documentation pages, and a name
that no page documents is a warning, so an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import requests_multiauth  # noqa: E402 - after the path set-up

project = "requests_multiauth"
author = "requests_multiauth developers"
copyright = "requests_multiauth developers"  # noqa: A001 - Sphinx's name for it
release = requests_multiauth.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.graphviz",
    "myst_parser",
    "multiauth_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "README.md"]
templates_path: list[str] = []

nitpicky = True
default_role = "py:obj"
primary_domain = "py"

# autodoc: the docstrings are the contract; signatures show the types, the text says them in words.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_inherit_docstrings = True
python_use_unqualified_type_names = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# Graphviz: Debian's (or Read the Docs') ``dot``, rendered as SVG at build time.
graphviz_output_format = "svg"
graphviz_dot_args = ["-Gfontname=Helvetica", "-Nfontname=Helvetica", "-Efontname=Helvetica"]

myst_heading_anchors = 3

html_theme = "furo"
html_title = f"requests_multiauth {release}"
html_static_path = ["_static"]
html_css_files = ["multiauth.css"]
html_theme_options = {
    "source_repository": "https://github.com/requests-multiauth/requests-multiauth/",
    "source_branch": "main",
    "source_directory": "docs/",
}
