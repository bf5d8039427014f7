"""The providers as the command line knows them, made from the provider registry.

Each registry record (:mod:`requests_multiauth.providers.registry`, plug-ins included)
becomes a :class:`Provider`: its settings, each an environment variable with the option
that overrides it, and how to build its auth. The command writes no variable name of
its own: the parser, the help, the ``providers`` listing and the error advice all read
these records.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Union

from ..auth import TokenAuth
from ..providers import registry
from ..static import StaticTokenAuth

__all__ = [
    "CA_BUNDLE_OPTION",
    "AuthObject",
    "Provider",
    "Setting",
    "command_provider",
    "command_providers",
    "command_setting",
    "provider_named",
]

AuthObject = Union[TokenAuth, StaticTokenAuth]


@dataclass(frozen=True)
class Setting:
    """One credential or option of a provider: its environment variable and its option.

    A *secret* setting has no option taking its value: its option is a flag
    that reads the value from standard input.
    """

    variable: str
    option: str
    help: str
    required: bool = True
    secret: bool = False
    default: Optional[str] = None
    aliases: Tuple[str, ...] = ()
    #: Part of the credentials a refusal is about (the id and the secret).
    credential: bool = False

    @property
    def dest(self) -> str:
        """Where argparse keeps this setting's option: the variable's name in lower case."""
        return self.variable.lower()


@dataclass(frozen=True)
class Provider:
    """A preset as the command line knows it: its name, its settings, how to build it.

    Made from the provider registry's record (:func:`command_provider`): the
    command line writes no variable name of its own.
    """

    name: str
    summary: str
    settings: Tuple[Setting, ...]
    build: Callable[..., AuthObject]
    renews: bool = True
    docs_url: str = ""

    def describe_environment(self) -> str:
        """The settings as help text: one line per variable, with its option."""
        lines = []
        for setting in self.settings:
            need = "required" if setting.required else "optional"
            if setting.default:
                need += f", default {setting.default}"
            lines.append(f"  {setting.variable:<30} {setting.option:<28} {setting.help} ({need})")
        return "\n".join(lines)

    def setting_for(self, option: str) -> Optional[Setting]:
        """The setting whose option is *option* (``--ca-bundle``, ``--token-url``), or None."""
        return next((setting for setting in self.settings if setting.option == option), None)


#: The option of the parameter that names a CA bundle: named for what it holds.
CA_BUNDLE_OPTION = "--ca-bundle"


def command_setting(var: registry.EnvVar, auth_class: type) -> Setting:
    """The command line's setting for one variable of a provider's record.

    The option is the parameter's name (``client_id``: ``--client-id``); a secret's
    is a flag that reads it from standard input (``--client-secret-stdin``); the
    ``verify`` parameter's is ``--ca-bundle``. The default shown is the class's own.
    """
    dashed = var.parameter.replace("_", "-")
    if var.secret:
        option, what = f"--{dashed}-stdin", f"{var.meaning}, read from stdin"
    elif var.parameter == "verify":
        option, what = CA_BUNDLE_OPTION, f"{var.meaning} (the API request: REQUESTS_CA_BUNDLE)"
    else:
        option, what = f"--{dashed}", var.meaning
    return Setting(
        var.name,
        option,
        what,
        required=var.required,
        secret=var.secret,
        default=_class_default(auth_class, var.parameter),
        credential=var.secret or (var.required and var.parameter.endswith("_id")),
    )


def _class_default(auth_class: type, parameter: str) -> Optional[str]:
    """The default the class gives *parameter*, when it is text (a documented URL, an audience)."""
    try:
        found = inspect.signature(auth_class).parameters.get(parameter)
    except (TypeError, ValueError):  # a class whose signature cannot be read shows no default
        return None
    return found.default if found is not None and isinstance(found.default, str) else None


def command_provider(record: registry.Provider) -> Provider:
    """*record* as the command line knows it: its settings, and how to build it."""
    return Provider(
        record.name,
        record.scheme or record.auth_class.__name__,
        tuple(command_setting(var, record.auth_class) for var in record.env),
        record.build,
        renews=not issubclass(record.auth_class, StaticTokenAuth),
        docs_url=record.docs_url,
    )


def provider_named(name: str) -> Provider:
    """The registered provider *name* as the command line knows it.

    Raises:
        ConfigurationError: no provider has that name.
    """
    return command_provider(registry.get_provider(name))


def command_providers() -> Dict[str, Provider]:
    """Every registered provider (plug-ins' too) as the command line knows it, by name."""
    return {record.name: command_provider(record) for record in registry.list_providers()}


def __getattr__(name: str) -> Any:
    """``PROVIDERS``: every provider as the command line knows it, read from the registry when asked."""
    if name == "PROVIDERS":  # read from the registry when asked, so importing this module loads no plug-in
        return command_providers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
