"""What crosses a process boundary: pickle and ``copy.deepcopy`` of auths and caches.

An auth sent to another process (a ``multiprocessing`` pool started with spawn or
forkserver, a ``ProcessPoolExecutor``, a session that holds it) takes its
credentials and settings along and nothing that belongs to the process that made
it: not its locks, pooled connections, renewal threads, telemetry or token. The
receiving process builds those anew, as the auth's ``__init__`` did, and makes its
own token call or reads the token from a shared cache. The same rule serves
``copy.deepcopy``.

Objects that own such state list it (``_RUNTIME``); :func:`state_of` leaves it
out, and the class's ``__setstate__`` rebuilds it. When a part cannot be pickled
(a private key made in memory, a lambda, a callable token source), the error
names the auth and says what to do, instead of pickle's ``cannot pickle
'_thread.lock' object`` naming nothing the user wrote (:func:`check_parts`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, FrozenSet, Iterator, Tuple

__all__ = ["CannotTravel", "check_parts", "state_of"]


class CannotTravel(TypeError):
    """Raised by an object of this package that refuses to be pickled (a private key held
    in memory); its message says what to do already. A ``TypeError``, as pickle's own."""

#: What to do, by the attribute that could not be pickled.
_ADVICE = {
    "_clock": "pass a module-level function as clock= (the default, time.time, travels)",
    "dpop": (
        "load the DPoP key from a file (DPoPKey('/path/key.pem')), which travels as its path, or pass "
        "dpop=True, which makes a new key in each process"
    ),
    "cache": "use a FileTokenCache or RedisTokenCache (they travel as their path or URL)",
    "session": "pass a session without unpicklable parts, or none (each process then uses its shared one)",
}

#: What to do when the part is anything else (a grant's key or token source, a preset's own field).
_DEFAULT_ADVICE = (
    "give keys as file paths and token sources as paths, other auths or module-level functions, "
    "or build the auth in each process (in the pool's initializer, or with from_env())"
)


def state_of(obj: Any, runtime: FrozenSet[str]) -> Dict[str, Any]:
    """*obj*'s attributes, less those named in *runtime* (what its class rebuilds in each process)."""
    return {name: value for name, value in vars(obj).items() if name not in runtime}


def check_parts(owner: str, state: Dict[str, Any]) -> None:
    """Raise ``pickle.PicklingError`` naming *owner*, the part and what to do, if a
    part of *state* cannot be pickled. Each part is pickled once here, so the error
    comes before anything is sent."""
    import pickle  # on the first pickling, not when an auth is first used

    for name, value in _parts(state):
        try:
            pickle.dumps(value)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            why = f"{owner} cannot be sent to another process (pickled): its {name.lstrip('_')} cannot be pickled"
            if isinstance(exc, CannotTravel):  # ours: it says what to do
                raise pickle.PicklingError(f"{why}: {exc}") from None
            advice = _ADVICE.get(name, _DEFAULT_ADVICE)
            raise pickle.PicklingError(f"{why} ({exc}). What to do: {advice}") from None


def _parts(state: Dict[str, Any]) -> Iterator[Tuple[str, Any]]:
    """The parts of *state*, a dataclass of settings opened field by field so that the error names the field."""
    for name, value in state.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                yield field.name, getattr(value, field.name)
        else:
            yield name, value
