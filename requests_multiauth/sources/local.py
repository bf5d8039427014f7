"""Token sources read in this process: a literal string, a file (read again when it
changes), a function, another auth of this package. Each is safe for concurrent use and
keeps what it reads out of reprs and messages.

Where the request goes next: the token read goes into a grant's request or a client
assertion (see :mod:`requests_multiauth.sources`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Union

from ..errors import ConfigurationError, TokenRequestError
from .base import TokenSource

__all__ = ["MIN_TOKEN_LENGTH", "AuthToken", "CallableToken", "FileToken", "LiteralToken"]

#: Below this length a file cannot hold a token (a JWT is hundreds of characters);
#: a shorter file is a half-written or placeholder file, refused as empty.
MIN_TOKEN_LENGTH = 8


class LiteralToken(TokenSource):
    """A token given as a string, sent as is (it cannot be renewed here)."""

    kind = "literal"

    def __init__(self, value: str, *, label: str = "the token") -> None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{label} is an empty string: pass the token, or a path, callable or auth")
        self._value = value.strip()

    def token(self) -> str:
        return self._value

    def identity(self) -> str:
        # A token is long and random, so its SHA-256 hides it; the prefix keeps kinds apart.
        return "literal:" + hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:32]

    @property
    def secrets(self) -> Tuple[str, ...]:
        return (self._value,)

    def __repr__(self) -> str:
        return "LiteralToken(<hidden>)"


class FileToken(TokenSource):
    """A token in a file, read again whenever the file changes. Thread-safe.

    The file is stat'ed (following symlinks) at every token call and read again
    when its device, inode, size or modification time differ from the last read:
    cheap enough per token call, and a rotation is never missed, including a
    Kubernetes projected token rotated by a symlink swap with the same size and
    modification time (the inode differs).

    Args:
        path: the file.
        field: read the file as a JSON object and take this member (Google's
            ``credential_source.format.subject_token_field_name``); None: the whole
            text, stripped.
        label: who reads it, for messages (``"subject_token"``, ``"ClientAssertion"``).
        holds: what the file should hold, for messages (``"the assertion"``).
        check: read it once at construction, so that a missing or empty file is a
            ConfigurationError there.

    Raises:
        ConfigurationError: (with *check*) the file is missing, unreadable or empty.
    """

    kind = "file"

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        field: Optional[str] = None,
        label: str = "the token file",
        holds: str = "the token",
        check: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        if not isinstance(self.path, str) or not self.path.strip():
            raise ConfigurationError(f"{label}: the path is empty: pass the path of the file holding {holds}")
        self.field = field
        self.label = label
        self.holds = holds
        self._lock = threading.Lock()
        self._seen: Optional[Tuple[int, int, int, int]] = None
        self._value = ""
        if check:
            self.read(ConfigurationError)

    def token(self) -> str:
        return self.read(TokenRequestError)

    def read(self, error: Callable[[str], Exception]) -> str:
        """The token; *error* makes the exception raised when there is none."""
        with self._lock:
            try:
                status = os.stat(self.path)
                signature = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
                if signature == self._seen:
                    return self._value
                with open(self.path, encoding="utf-8") as handle:
                    text = handle.read()
            except FileNotFoundError:
                raise error(f"{self.label}: no file at {self.path!r}; it should hold {self.holds}") from None
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise error(f"{self.label}: cannot read {self.path!r}: {reason}") from None
            value = self._take(text, error)
            if len(value) < MIN_TOKEN_LENGTH:
                raise error(f"{self.label}: the file {self.path!r} is empty: it should hold {self.holds}")
            self._value, self._seen = value, signature
            return value

    def _take(self, text: str, error: Callable[[str], Exception]) -> str:
        if self.field is None:
            return text.strip()
        try:
            document = json.loads(text)
        except ValueError:
            raise error(
                f"{self.label}: the file {self.path!r} is not JSON; {self.field!r} was expected in it"
            ) from None
        value = document.get(self.field) if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise error(f"{self.label}: the file {self.path!r} has no string member {self.field!r}")
        return value.strip()

    def identity(self) -> str:
        where = os.path.abspath(self.path)
        return f"file:{where}" + (f"#{self.field}" if self.field else "")

    def __getstate__(self) -> Dict[str, Any]:
        # What travels to another process (pickle, deepcopy): the path and how to read it.
        # Not the lock, and not the token read here: the receiving process reads the file itself.
        state = dict(self.__dict__)
        del state["_lock"]
        state["_seen"], state["_value"] = None, ""
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        field = f", field={self.field!r}" if self.field else ""
        return f"FileToken({self.path!r}{field})"


class CallableToken(TokenSource):
    """A token returned by a function, called at every token call."""

    kind = "callable"

    def __init__(self, call: Callable[[], str], *, label: str = "the token source") -> None:
        self.call = call
        self.label = label

    def token(self) -> str:
        value = self.call()
        if not isinstance(value, str) or not value.strip():
            got = "an empty string" if isinstance(value, str) else type(value).__name__
            raise TokenRequestError(f"{self.label}: the callable {_name(self.call)} returned {got}, not a token")
        return value.strip()

    def identity(self) -> str:
        # Stable across processes (a shared cache), unlike id(): the function's full name.
        module = getattr(self.call, "__module__", None) or type(self.call).__module__
        return f"callable:{module}.{_name(self.call)}"

    def __repr__(self) -> str:
        return f"CallableToken({_name(self.call)})"


class AuthToken(TokenSource):
    """The current access token of another auth of this package (``auth.get_token()``).

    The other auth keeps, renews and single-flights its token as always, so a chain
    of auths (an exchange whose subject token is another auth's token) makes one
    token call per link however many threads wait.
    """

    kind = "auth"

    def __init__(self, auth: Any) -> None:
        self.auth = auth

    def token(self) -> str:
        token: str = self.auth.get_token().access_token
        return token

    def rejected(self, token: str) -> bool:
        # Only when that token is still the auth's: another thread may have renewed it already.
        if self.auth.get_token().access_token != token:
            return True
        self.auth.invalidate()
        return True

    def identity(self) -> str:
        key = getattr(self.auth, "cache_key", None)
        return f"auth:{type(self.auth).__name__}:{key if isinstance(key, str) else ''}"

    def __repr__(self) -> str:
        return f"AuthToken({type(self.auth).__name__})"


def _name(call: Any) -> str:
    return str(getattr(call, "__qualname__", None) or type(call).__name__)
