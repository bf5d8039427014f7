"""TLS settings of every call: the verify rule, and the CA bundle and certificate paths checked at construction.

The rule, written once: **an explicit ``verify`` beats ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE``**. Plain requests lets those variables replace a session's
own CA bundle (``Session.merge_environment_settings`` reads them whenever a
call's ``verify`` is None or True); passing the explicit setting on each call
keeps it. Token calls (:mod:`.endpoint`), discovery and
:class:`~requests_multiauth.MultiAuthSession` all ask :func:`call_verify`.

A CA bundle or client certificate that is not there is a
:class:`~requests_multiauth.ConfigurationError` naming the path when the auth
is built (:func:`check_paths`), not a bare ``FileNotFoundError`` at the first request.

Where the request goes next: ``requests`` (and, for token calls, the shared pool of :mod:`.pool`).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Tuple, Union

from ..errors import ConfigurationError

__all__ = ["ClientCert", "Verify", "call_verify", "check_paths", "check_readable"]

#: A ``verify`` as requests takes it: True (the default bundle, or the environment's), False, or a CA path.
Verify = Union[bool, str, None]

#: A client certificate as requests takes it: the path of a PEM file holding the
#: certificate (and its key), or a (certificate path, key path) pair.
ClientCert = Union[str, Tuple[str, str]]


def call_verify(verify: Verify) -> Verify:
    """The ``verify=`` to pass on one call for a setting *verify* (a session's, or an auth's):
    None for True or None (requests then applies its default, or the environment's
    bundle, as plain requests does), the setting itself otherwise, so that it wins."""
    return None if verify is True else verify


def check_paths(*, verify: Verify = None, cert: Optional[ClientCert] = None, what: str = "") -> None:
    """A ConfigurationError naming the path if *verify* (a CA bundle file or directory)
    or a file of *cert* is missing or unreadable. *what* prefixes the message (``"the session's "``)."""
    if isinstance(verify, str):
        _check(verify, f"{what}verify= (the CA bundle)", directory_ok=True)
    names: Iterable[Optional[str]] = (cert,) if isinstance(cert, str) else (cert or ())
    for name in names:
        if isinstance(name, str):
            _check(name, f"{what}cert= (the client certificate)", directory_ok=False)


def _check(path: str, what: str, *, directory_ok: bool) -> None:
    if not (directory_ok and os.path.isdir(path)):
        check_readable(path, what)


def check_readable(path: str, what: str) -> None:
    """A ConfigurationError naming *what* and *path* unless *path* is a file this process can read."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise ConfigurationError(f"{what}: no file at {path!r}") from None
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot read {path!r}: {exc.strerror or type(exc).__name__}") from None
