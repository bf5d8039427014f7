"""The suite-wide secrets check: no secret or token a test registers may show up in a log
or in telemetry.

:class:`SecretWatch` is installed for every test by an autouse fixture in
``conftest.py``. It turns on DEBUG logging for the root logger, ``requests_multiauth``
and ``urllib3``, formats every record as a real handler would (message, arguments'
``str``/``repr``, exception tracebacks) plus the fields a JSON handler would add (the
record's extra attributes), captures the ``repr`` of every telemetry event of every
auth, takes in what OpenTelemetry's in-memory SDK recorded (metric attributes, span
names, attributes and events: ``tests/fixtures_otel.py`` hands them over), and at
teardown fails the test if any string registered through the ``secret_strings``
fixture appears in any of it.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Type

import pytest

from requests_multiauth import telemetry

#: The loggers switched to DEBUG for each test: ours, urllib3 (which logs every
#: request line) and the root, so that anything else that logs is seen too.
WATCHED_LOGGERS = ("", "requests_multiauth", "urllib3")

#: The attributes every LogRecord has; any other attribute came in through ``extra=``.
STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

#: Registered strings must be at least this long: shorter ones would match by
#: accident ("abc" in a hex digest) and prove nothing.
MIN_SECRET_LENGTH = 8


class SecretWatch(logging.Handler):
    """Captures every log record at DEBUG and checks it for registered secrets.

    Thread-safe (``logging.Handler`` serialises ``emit``): records from server
    threads and background renewals are captured as well.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: List[str] = []
        self._secrets: Set[str] = set()
        self._saved_levels: Dict[str, int] = {}
        self._sources: List[Callable[[], str]] = []
        self._stop_observing: Optional[Callable[[], None]] = None

    def add_source(self, source: Callable[[], str]) -> None:
        """Scan what *source()* returns at teardown too (telemetry recorded outside logging)."""
        self._sources.append(source)

    def _event(self, event: telemetry.Event) -> None:
        self.lines.append(f"EVENT {event!r}")

    def add(self, *secrets: Optional[str]) -> None:
        """Register strings that must never appear in a log record (None is ignored)."""
        for secret in secrets:
            if secret is None:
                continue
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"register secrets of at least {MIN_SECRET_LENGTH} characters, not {len(secret)}")
            self._secrets.add(secret)

    def add_private_key(self, key: Any, *, password: Optional[str] = None) -> None:
        """Register a private key's private material: its PEM bodies (PKCS#8 and the
        traditional form, whole and line by line) and its JWK private members (``d``,
        ``p``, ``q``, ``dp``, ``dq``, ``qi``), and the *password*. *key* is a
        ``cryptography`` private key, a ``SigningKey``, PEM text or a JWK mapping."""
        from cryptography.hazmat.primitives import serialization

        self.add(password)
        private = _private_key(key)
        for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
            try:
                pem = private.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
            except ValueError:  # Ed25519 has no traditional form
                continue
            self._add_pem(pem)
        if isinstance(key, str) and "-----BEGIN" in key:
            self._add_pem(key)
        for value in _private_jwk_members(private, key).values():
            if len(value) >= MIN_SECRET_LENGTH:
                self.add(value)

    def add_assertions(self, assertions: Iterable[str]) -> None:
        """Register client assertions (JWTs a test server received): whole, and their signatures."""
        for assertion in assertions:
            self.add(assertion)
            signature = assertion.rsplit(".", 1)[-1]
            if len(signature) >= MIN_SECRET_LENGTH:
                self.add(signature)

    def _add_pem(self, pem: str) -> None:
        body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
        self.add(body)
        for line in pem.splitlines():
            if not line.startswith("-----") and len(line) >= MIN_SECRET_LENGTH:
                self.add(line)

    @property
    def text(self) -> str:
        """Everything logged so far, one record per line (tracebacks included)."""
        return "\n".join(self.lines)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
            fields = {k: v for k, v in vars(record).items() if k not in STANDARD_RECORD_ATTRIBUTES}
            if fields:
                self.lines.append(f"FIELDS {fields!r}")
        except Exception:
            self.handleError(record)

    def __enter__(self) -> SecretWatch:
        for name in WATCHED_LOGGERS:
            logger = logging.getLogger(name)
            self._saved_levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(self)
        self._stop_observing = telemetry._observe_all(self._event)
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        logging.getLogger().removeHandler(self)
        if self._stop_observing is not None:
            self._stop_observing()
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)

    def leaks(self) -> List[str]:
        """The captured lines that contain a registered secret, with the secret masked."""
        found = []
        for line in self.lines + [source() for source in self._sources]:
            hits = [secret for secret in self._secrets if secret in line]
            for secret in hits:
                line = line.replace(secret, f"<secret {secret[:3]}...>")
            if hits:
                found.append(line)
        return found

    def check(self) -> None:
        """Fail the running test if a registered secret was logged."""
        leaks = self.leaks()
        if leaks:
            shown = "\n".join(leaks[:5])
            pytest.fail(
                f"{len(leaks)} log record(s) or telemetry item(s) contain a registered secret:\n{shown}", pytrace=False
            )


def _private_key(key: Any) -> Any:
    """The ``cryptography`` private key behind *key*."""
    from requests_multiauth._jose import SigningKey, load_signing_key

    if isinstance(key, SigningKey):
        return key.private_key
    if isinstance(key, (str, bytes, dict)):
        return load_signing_key(key).private_key
    return key


def _private_jwk_members(private: Any, original: Any) -> Dict[str, str]:
    """The private members of *private*'s JWK (and of *original*, if it is a JWK)."""
    import json

    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    members: Dict[str, str] = {}
    for algorithm in (RSAAlgorithm, ECAlgorithm, OKPAlgorithm):
        try:
            jwk = json.loads(algorithm.to_jwk(private))
        except Exception:  # noqa: S112 - not this kind of key: try the next
            continue
        members.update({name: jwk[name] for name in ("d", "p", "q", "dp", "dq", "qi") if name in jwk})
    if isinstance(original, dict):
        members.update({name: str(original[name]) for name in ("d", "p", "q", "dp", "dq", "qi") if name in original})
    return members
