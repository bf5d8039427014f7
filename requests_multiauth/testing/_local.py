"""Every preset's emulator at once: :class:`LocalProviders`, read from the provider registry.

The registry (:mod:`requests_multiauth.providers.registry`) says which presets have an
emulator (:func:`preset_names`: the five built in, :mod:`._providers` and :mod:`._diagrams`,
and those of plug-ins) and how to make it; :class:`LocalProviders` makes each on its own loopback
origin, all issued from one CA, and starts, stops and lists them together. The
``local_providers`` fixture (:mod:`._fixtures`) and ``multiauth demo`` run this set.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional, Sequence, Tuple, Union

from ._emulator import Clock, ProviderEmulator
from ._server import CABundle, trustme_for

if TYPE_CHECKING:
    from ._diagrams import DiagramsEmulator
    from ._providers import CognitoEmulator, DataloyEmulator, OpsNowEmulator, RatedEmulator

__all__ = ["LocalProviders", "preset_names"]


def preset_names() -> Tuple[str, ...]:
    """The registry names of the presets whose emulator :class:`LocalProviders` runs
    (``Provider.local``): the built-in ones and those of installed plug-ins. (A provider whose class is not a
    preset of its own, such as the generic ``oauth2`` server, has its own fixture.)"""
    from ..providers.registry import list_providers

    return tuple(
        provider.name
        for provider in list_providers()
        if provider.emulator is not None
        and provider.local
        and getattr(provider.auth_class, "provider_name", None) == provider.name
    )


class _Names(type):
    """Gives ``LocalProviders.NAMES``, read from the registry when first asked for."""

    @property
    def NAMES(cls) -> Tuple[str, ...]:
        return preset_names()


class LocalProviders(metaclass=_Names):
    """Every preset's emulator, each on its own loopback origin, sharing one CA.

    The presets are those of the provider registry that have an emulator: the five
    built in (Rated, OpsNow, Cognito, Dataloy, Diagrams) and any a plug-in adds.
    Use as a context manager; index by name::

        with LocalProviders() as providers:
            auth = providers["dataloy"].auth()
            providers.dataloy.api_session().get(providers.dataloy.api_url + "Cargo", auth=auth)

    Args:
        tls: HTTPS (needs ``trustme``); default HTTPS when ``trustme`` is
            installed, plain HTTP on loopback otherwise.
        clock: the providers' clock (a :class:`ManualClock` in tests).
        names: the providers to run (default :attr:`NAMES`: all of them).

    Attributes:
        NAMES: the registry names of every preset with an emulator (also on the class).
        rated, opsnow, cognito, dataloy, diagrams: the emulators; a plug-in's is the
            attribute of its name with dashes as underscores.
        verify: the CA bundle that all the certificates chain to (a file path),
            or True over plain HTTP; for ``verify=`` or ``REQUESTS_CA_BUNDLE``.
    """

    rated: RatedEmulator
    opsnow: OpsNowEmulator
    cognito: CognitoEmulator
    dataloy: DataloyEmulator
    diagrams: DiagramsEmulator

    def __init__(
        self, *, tls: Optional[bool] = None, clock: Clock = time.time, names: Optional[Sequence[str]] = None
    ) -> None:
        from ..providers.registry import get_provider

        trustme = trustme_for(tls, "LocalProviders(tls=True)")
        self.tls = trustme is not None
        self.NAMES: Tuple[str, ...] = tuple(names) if names is not None else preset_names()
        self.verify: Union[str, bool] = True
        self._ca_bundle: Optional[CABundle] = None
        ca = None
        if trustme is not None:
            ca = trustme.CA()
            self._ca_bundle = CABundle(ca, prefix="multiauth-providers-")
            self.verify = self._ca_bundle.path
        self._emulators: Dict[str, ProviderEmulator] = {}
        for name in self.NAMES:
            factory = get_provider(name).emulator
            if factory is None:
                raise KeyError(f"{name!r} has no local emulator: {', '.join(preset_names())} do")
            emulator = factory(tls=self.tls, ca=ca, clock=clock)
            self._emulators[name] = emulator
            setattr(self, name.replace("-", "_"), emulator)

    def __getitem__(self, name: str) -> Any:
        emulator = self._emulators.get(name)
        if emulator is None:
            raise KeyError(f"{name!r}: the local providers are {', '.join(self.NAMES)}")
        return emulator

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._emulators.values()))

    def __repr__(self) -> str:
        return "LocalProviders(" + ", ".join(f"{e.name}={e.url!r}" for e in self) + ")"

    def set_clock(self, clock: Clock) -> None:
        """Give every provider *clock*."""
        for emulator in self:
            emulator.clock = clock

    def environ(self) -> Dict[str, str]:
        """Every preset's environment variables, set for these providers."""
        env: Dict[str, str] = {}
        for emulator in self:
            env.update(emulator.environ())
        return env

    def start(self) -> LocalProviders:
        """Start them all; returns self."""
        for emulator in self:
            emulator.start()
        return self

    def stop(self) -> None:
        """Stop them all and delete the CA bundle."""
        # Each server takes up to its poll interval to notice; stop them side by side.
        stopping = [threading.Thread(target=emulator.stop, name=f"stop {emulator.name}") for emulator in self]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        if self._ca_bundle is not None:
            self._ca_bundle.remove()

    def __enter__(self) -> LocalProviders:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
