"""Functions the process tests run in other processes (spawn and forkserver children
import them by name, so they live in a module of their own, at its top level)."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import requests

#: The auths a pool's initializer installed in this process, by name.
_installed: Dict[str, Any] = {}


def install(auths: Dict[str, Any]) -> None:
    """A pool initializer: keep the auths received (unpickled once per process)."""
    _installed.update(auths)


def call_installed(name: str, url: str, verify: str) -> Tuple[str, int, int]:
    """Call *url* with the installed auth *name*: (name, status, this process's id)."""
    response = requests.get(url, auth=_installed[name], verify=verify, timeout=30)
    return name, response.status_code, os.getpid()


def call_with(auth: Any, url: str, verify: str) -> Tuple[int, int]:
    """Call *url* with *auth*, received as an argument: (status, this process's id)."""
    response = requests.get(url, auth=auth, verify=verify, timeout=30)
    return response.status_code, os.getpid()


def call_through(session: requests.Session, url: str) -> Tuple[int, int]:
    """Call *url* through *session* (which holds the auth), received as an argument."""
    response = session.get(url, timeout=30)
    return response.status_code, os.getpid()


def token_of(auth: Any) -> Tuple[Optional[str], int]:
    """What the received auth holds before any call (nothing: tokens do not travel), and the pid."""
    return auth._manager.current, os.getpid()
