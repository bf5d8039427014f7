"""The provider registry: every preset, built in or added by another package, found by name.

A provider module declares one :class:`Provider` record (``PROVIDER = Provider(...)``)
next to its preset class. The registry imports a module only when a provider is asked
for by name or all are listed, so a preset costs nothing until it is used.

Outside packages add providers through the entry-point group
``requests_multiauth.providers``; each entry point names a :class:`Provider`::

    [project.entry-points."requests_multiauth.providers"]
    acme = "acme_auth:PROVIDER"

A plug-in that cannot be loaded is a :class:`~requests_multiauth.ProviderPluginWarning`
naming it, never a failed import of ``requests_multiauth``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type, TypeVar

from ..errors import ConfigurationError, MultiAuthWarning

__all__ = [
    "ENTRY_POINT_GROUP",
    "EnvVar",
    "Provider",
    "ProviderPluginWarning",
    "FromEnv",
    "LazyEmulator",
    "get_provider",
    "list_providers",
]

#: The entry-point group outside packages register their providers in.
ENTRY_POINT_GROUP = "requests_multiauth.providers"

#: The modules of ``requests_multiauth.providers`` that declare a built-in ``PROVIDER``.
#: Listed in this order: the presets, then the generic OAuth 2.0 provider.
BUILTIN_MODULES: Tuple[str, ...] = (
    "rated",
    "opsnow",
    "cognito",
    "dataloy",
    "diagrams",
    "google_service_account",
    "salesforce",
    "google_external_account",
    "entra_id",
    "github_app",
    "github_app_jwt",
    "zoom",
    "azure_managed_identity",
    "google_metadata",
    "oauth2",
)

#: Registry names: lowercase words joined by dashes ("dataloy", "github-app").
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ProviderPluginWarning(MultiAuthWarning):
    """An entry point of ``requests_multiauth.providers`` could not be loaded; the others still are."""


@dataclass(frozen=True)
class EnvVar:
    """One environment variable a preset's ``from_env()`` reads.

    Attributes:
        name: the variable (``"ACME_CLIENT_ID"``).
        parameter: the keyword of the auth class it fills (``"client_id"``).
        meaning: what it holds, in a few words, for ``multiauth providers`` and the docs.
        required: ``from_env()`` refuses to build without it.
        secret: it holds a secret: never shown, never echoed.
        path: it names a file (a key, a CA bundle, a token file) that must exist.
        convert: turns the text into the parameter's value (``int``, a list ...); None keeps the text.
    """

    name: str
    parameter: str
    meaning: str
    required: bool = True
    secret: bool = False
    path: bool = False
    convert: Optional[Callable[[str], Any]] = None


@dataclass(frozen=True)
class Provider:
    """A preset, as the registry, the command line, the demo and the fixtures know it.

    Attributes:
        name: the registry and command-line key, lowercase with dashes (``"github-app"``).
        auth_class: the preset class; its ``from_env()`` reads *env*.
        env: the variables ``from_env()`` reads, in the order the docs list them.
        docs_url: the page that documents the scheme (the provider's or ours).
        emulator: makes this provider's local emulator (a
            :class:`~requests_multiauth.testing.ProviderEmulator`), or None; called with
            the keywords ``tls``, ``ca`` (a ``trustme.CA`` shared with other emulators)
            and ``clock``, and it imports the emulator only then (a :class:`LazyEmulator`
            names the class to import).
        scheme: a few words on what it speaks, for listings.
        from_env: builds the auth from a mapping of variables (``environ``, then the
            options as keywords) when *auth_class* has no ``from_env()`` of its own that
            does (the generic ``oauth2`` provider, which infers its client authentication
            from the files it is given); None: ``auth_class.from_env``.
        local: whether :class:`~requests_multiauth.testing.LocalProviders` (the
            ``local_providers`` fixture's set, and the demo's) runs its emulator. A
            vendor whose emulator plays a cloud's token service (key pairs, token
            chains, metadata servers) sets False: it costs more to start than a
            test that does not use it should pay, and its ``<name>_provider``
            fixture starts it alone.
    """

    name: str
    auth_class: type
    env: Tuple[EnvVar, ...]
    docs_url: str
    emulator: Optional[Callable[..., Any]] = None
    scheme: str = ""
    from_env: Optional[Callable[..., Any]] = None
    local: bool = True

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigurationError(
                f"provider name {self.name!r} is not lowercase words joined by dashes (like 'github-app')"
            )

    def __repr__(self) -> str:
        return f"Provider({self.name!r}, {self.auth_class.__name__})"

    def build(self, environ: Optional[Mapping[str, str]] = None, **options: Any) -> Any:
        """The auth, built from *environ* (default ``os.environ``) with *options* on top.

        Raises:
            ConfigurationError: a required variable is missing, or a value is unusable.
        """
        if self.from_env is None and issubclass(self.auth_class, FromEnv):
            # This record's variables, whether or not the record is registered yet.
            return self.auth_class(**env_arguments(self, self.auth_class, environ, options))
        build = self.from_env if self.from_env is not None else getattr(self.auth_class, "from_env", None)
        if build is None:
            raise ConfigurationError(
                f"the provider {self.name!r} cannot be built from the environment: "
                f"{self.auth_class.__qualname__} has no from_env() and the record names no from_env"
            )
        return build(environ, **options)

    def variable(self, parameter: str) -> Optional[EnvVar]:
        """The variable that fills *parameter* (``"verify"``: the CA bundle), or None."""
        return next((var for var in self.env if var.parameter == parameter), None)

    def variable_name(self, parameter: str) -> str:
        """The name of the variable that fills *parameter*, for a preset that names its own variable.

        Raises:
            LookupError: the record has no variable for *parameter* (a mistake in the preset).
        """
        var = self.variable(parameter)
        if var is None:
            raise LookupError(f"the provider {self.name!r} has no variable for {parameter!r}")
        return var.name

    def value(self, parameter: str, environ: Mapping[str, str]) -> str:
        """What the variable that fills *parameter* holds in *environ*, stripped; "" when it is unset.

        For a preset that reads its platform's own variables (a metadata endpoint) itself.
        """
        return environ.get(self.variable_name(parameter), "").strip()


@dataclass(frozen=True)
class LazyEmulator:
    """A provider's emulator named as ``"module:Class"``, imported only when an emulator is made.

    The testing helpers (and what they need: trustme, PyJWT, Flask) load then, never when
    a provider record is read: ``emulator=LazyEmulator("requests_multiauth.testing._zoom:ZoomEmulator")``.
    Calling it passes the keywords on to the class.
    """

    target: str

    def __call__(self, **options: Any) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(**options)


_lock = threading.Lock()
_loaded: Optional[Dict[str, Provider]] = None


def _builtin() -> List[Provider]:
    found = []
    for module in BUILTIN_MODULES:
        found.append(importlib.import_module(f"{__package__}.{module}").PROVIDER)
    return found


def _plugins() -> List[Provider]:
    from importlib.metadata import entry_points

    points: Any
    if sys.version_info >= (3, 10):
        points = entry_points(group=ENTRY_POINT_GROUP)
    else:  # pragma: no cover - Python 3.9's entry_points() is a dict by group
        points = entry_points().get(ENTRY_POINT_GROUP, ())
    found = []
    for point in points:
        try:
            provider = point.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the package
            _warn(point.name, point.value, f"loading it raised {type(exc).__name__}: {exc}")
            continue
        if not isinstance(provider, Provider):
            _warn(point.name, point.value, f"it names a {type(provider).__name__}, not a Provider")
            continue
        found.append(provider)
    return found


def _warn(name: str, value: str, why: str) -> None:
    warnings.warn(
        ProviderPluginWarning(
            f"the provider plug-in {name!r} ({value}) was skipped: {why}; "
            f"fix or uninstall the package that declares it in the {ENTRY_POINT_GROUP!r} entry points"
        ),
        stacklevel=4,
    )


def _registry() -> Dict[str, Provider]:
    global _loaded
    with _lock:
        if _loaded is None:
            providers: Dict[str, Provider] = {}
            plugins = sorted(_plugins(), key=lambda provider: provider.name)
            for provider in (*_builtin(), *plugins):
                if provider.name in providers:
                    _warn(provider.name, provider.auth_class.__qualname__, "a provider of that name exists already")
                    continue
                providers[provider.name] = provider
            _loaded = providers
        return _loaded


def list_providers() -> List[Provider]:
    """Every provider: the built-in ones (in the order of ``BUILTIN_MODULES``), then
    those of installed plug-ins, by name."""
    return list(_registry().values())


def get_provider(name: str) -> Provider:
    """The provider registered as *name*.

    Raises:
        ConfigurationError: no provider has that name (the message lists those that do).
    """
    provider = _registry().get(name)
    if provider is None:
        known = ", ".join(sorted(_registry()))
        raise ConfigurationError(f"no provider is named {name!r}; the known ones: {known}")
    return provider


def _forget() -> None:
    """Read the built-in modules and the entry points again on next use (for tests)."""
    global _loaded
    with _lock:
        _loaded = None


A = TypeVar("A")


class FromEnv:
    """Gives a preset ``from_env()``, generated from its :class:`Provider` record.

    The preset class sets ``provider_name`` to its registry name; ``from_env()`` then
    reads exactly the variables the record lists, so a variable name is written once.
    """

    #: The registry name of the preset's :class:`Provider`.
    provider_name: str = ""

    #: True for a preset that also reads its platform's own variables (a metadata
    #: endpoint the platform names): ``from_env()`` then passes *environ* on as ``environ=``.
    reads_platform_environ: bool = False

    @classmethod
    def from_env(cls: Type[A], environ: Optional[Mapping[str, str]] = None, **options: Any) -> A:
        """Build from the provider's environment variables (``multiauth providers`` lists them).

        *environ* replaces ``os.environ`` (a ``dotenv_values('.env')`` mapping, a test's);
        *options* are passed to the class as given and win over any variable.

        Raises:
            ConfigurationError: a required variable is missing or empty, or a file it
                names does not exist.
        """
        provider = get_provider(getattr(cls, "provider_name", ""))
        arguments = env_arguments(provider, cls, environ, options)
        if getattr(cls, "reads_platform_environ", False):
            arguments.setdefault("environ", environ)  # the platform's variables are read there too
        return cls(**arguments)


def env_arguments(
    provider: Provider, cls: type, environ: Optional[Mapping[str, str]], options: Mapping[str, Any]
) -> Dict[str, Any]:
    """The keyword arguments *provider*'s variables give, with *options* on top.

    A missing variable's message is for someone in Python (a script, a notebook): it
    says how to set it from there, not only in a shell. (The command line checks the
    variables itself first and words it for the shell.)
    """
    source = os.environ if environ is None else environ
    values = {var.name: source.get(var.name, "").strip() for var in provider.env}
    missing = [var.name for var in provider.env if var.required and not values[var.name]]
    if missing:
        names = ", ".join(missing)
        where = "in the environ= mapping" if environ is not None else "in the environment"
        raise ConfigurationError(
            f"{names} {'are' if len(missing) > 1 else 'is'} not set {where}: "
            f"set it before Python starts (export {missing[0]}=...), or from Python with "
            f"os.environ[{missing[0]!r}] = ..., or pass the values: "
            f"{cls.__name__}.from_env(environ={{...}}), e.g. dotenv_values('.env')"
        )
    arguments: Dict[str, Any] = {}
    for var in provider.env:
        text = values[var.name]
        if not text or var.parameter in options or var.parameter in arguments:
            continue
        if var.parameter == "verify" and "session" in options:
            continue  # a session given brings its own trust
        if var.path and not os.path.exists(text):
            raise ConfigurationError(f"{var.name} names {text!r}, which does not exist: give the path of {var.meaning}")
        arguments[var.parameter] = var.convert(text) if var.convert is not None else text
    arguments.update(options)
    return arguments
