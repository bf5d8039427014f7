"""``import requests_multiauth`` stays cheap: optional parts load only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What an application that only builds an auth must not pay for.
OPTIONAL = ("redis", "filelock", "jwt", "cryptography", "opentelemetry", "oauthlib", "uuid", "platform")


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=str(ROOT), check=True
    )
    return result.stdout.strip()


def test_the_import_loads_no_optional_library() -> None:
    loaded = run(
        "import sys, requests_multiauth\n"
        f"print(sorted(name for name in sys.modules if name.split('.')[0] in {OPTIONAL!r}))"
    )
    assert loaded == "[]"


def test_lazily_loaded_names_import_like_any_other() -> None:
    shown = run(
        "import requests_multiauth as rma\n"
        "import sys\n"
        "lazy = [m for m in ('cache_file', 'cache_redis', 'discovery') if 'requests_multiauth.' + m in sys.modules]\n"
        "from requests_multiauth import FileTokenCache, RedisTokenCache, ServerMetadata, discover\n"
        "print(lazy, FileTokenCache.__name__, RedisTokenCache.__name__, ServerMetadata.__name__, discover.__name__,"
        " 'RedisTokenCache' in dir(rma), rma.RedisTokenCache is RedisTokenCache)"
    )
    assert shown == "[] FileTokenCache RedisTokenCache ServerMetadata discover True True"


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    shown = run(
        "import requests_multiauth\n"
        "try:\n    requests_multiauth.NoSuchName\nexcept AttributeError as exc:\n    print(exc)"
    )
    assert shown == "module 'requests_multiauth' has no attribute 'NoSuchName'"


def test_the_import_loads_none_of_the_packages_modules_until_a_name_is_used() -> None:
    # Every public name loads on first use (PEP 562), so no preset, cache or layer,
    # present or added later, costs anything at `import requests_multiauth`.
    shown = run(
        "import sys, requests_multiauth\n"
        "before = sorted(m for m in sys.modules if m.startswith('requests_multiauth.'))\n"
        "from requests_multiauth import MultiAuthError\n"
        "after = sorted(m for m in sys.modules if m.startswith('requests_multiauth.'))\n"
        "print(before, after)"
    )
    assert shown == "[] ['requests_multiauth.errors']"
