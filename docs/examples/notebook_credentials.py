"""Credentials in a notebook: typed in with getpass, or read from a .env file."""

import getpass as _getpass
import os

secret = os.environ.pop("COGNITO_CLIENT_SECRET")
_getpass.getpass = lambda prompt="": secret  # stands in for you, typing it
with open(".env", "w") as f:
    f.write("".join(f"{name}={os.environ[name]}\n" for name in os.environ if name.startswith("COGNITO_")))
    f.write(f"COGNITO_CLIENT_SECRET={secret}\n")

# [start]
import os
from getpass import getpass

from requests_multiauth import CognitoAuth

os.environ["COGNITO_CLIENT_SECRET"] = getpass("Cognito client secret: ")   # not echoed, not saved
auth = CognitoAuth.from_env()

# or from a .env file (python-dotenv), without touching the process environment:
from dotenv import dotenv_values

auth = CognitoAuth.from_env(environ=dotenv_values(".env"))
# [end]
assert auth.get_token()
