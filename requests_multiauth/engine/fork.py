"""Fresh locks after ``os.fork()``.

A child process inherits every lock in the state it had at the fork, but not
the threads holding them: a lock held by a parent's renewal thread would stay
held in the child forever. Objects that own locks register here and get
``reset_after_fork()`` called in every new child (gunicorn's preload,
multiprocessing's fork start method).

Where the request goes next: nowhere; this module only repairs state after a fork.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

_registered: weakref.WeakSet[Any] = weakref.WeakSet()
_registry_lock = threading.Lock()


def register(obj: Any) -> None:
    """Call ``obj.reset_after_fork()`` in each child forked while *obj* lives."""
    with _registry_lock:
        _registered.add(obj)


def _reset_all() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for obj in list(_registered):
        obj.reset_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_reset_all)
