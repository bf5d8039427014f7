"""The examples of docs/client-auth/*.rst run as written, against the local OAuth2Emulator."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, List

import pytest

PAGES = sorted((Path(__file__).parent.parent / "docs" / "client-auth").glob("*.rst"))
EXAMPLE = re.compile(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)")


def examples() -> List[Any]:
    return [
        pytest.param(page, textwrap.dedent(block), id=f"{page.stem}-{number}")
        for page in PAGES
        for number, block in enumerate(EXAMPLE.findall(page.read_text(encoding="utf-8")))
    ]


def test_every_method_page_has_a_runnable_example() -> None:
    stems = {page.stem for page in PAGES}
    assert stems >= {"basic", "post", "client_secret_jwt", "private_key_jwt", "client_assertion", "mtls"}
    with_examples = {param.values[0].stem for param in examples()}
    assert with_examples >= stems - {"index"}


@pytest.mark.parametrize(("page", "code"), examples())
def test_the_example_runs(page: Path, code: str) -> None:
    exec(compile(code, str(page), "exec"), {"__name__": f"docs_example_{page.stem}"})  # noqa: S102 - our own docs
