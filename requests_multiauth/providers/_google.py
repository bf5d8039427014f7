"""What Google's two file-based credentials share: the variable their path is read from,
and the reading of the JSON file itself.

Both ``google-service-account`` and ``google-external-account`` read a JSON file (or
its parsed content) named by the variable Google's client libraries read (Application
Default Credentials), so both are written here once; each preset checks the fields it needs.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Tuple, Union

from ..errors import ConfigurationError

__all__ = ["CREDENTIALS_VARIABLE", "CredentialsInput", "read_credentials"]

#: The variable Google's client libraries read a credentials file's path from:
#: https://cloud.google.com/docs/authentication/application-default-credentials
CREDENTIALS_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"

#: A credentials file's path, or its parsed JSON.
CredentialsInput = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def read_credentials(path_or_info: CredentialsInput, what: str) -> Tuple[Dict[str, Any], str]:
    """The credentials' fields (a copy of a mapping given, or the JSON object in the file),
    and how messages name them: "the *what*", with the path when there is one.

    Raises:
        ConfigurationError: the file does not exist, cannot be read, is not JSON, or holds
            JSON that is not an object.
    """
    if isinstance(path_or_info, Mapping):
        return dict(path_or_info), f"the {what}"
    path = os.fspath(path_or_info)
    where = f"the {what} {path!r}"
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"no {what} at {path!r}: the path does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigurationError(f"{where} cannot be read: {why}") from None
    except ValueError:
        raise ConfigurationError(f"{where} is not JSON: a {what} is the JSON Google gives") from None
    if not isinstance(info, dict):
        raise ConfigurationError(f"{where} is JSON but not an object")
    return info, where
