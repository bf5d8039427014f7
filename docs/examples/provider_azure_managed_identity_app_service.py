"""An App Service (or Functions, Container Apps) app calls Key Vault as its managed identity."""

# [start]
import os

import requests

from requests_multiauth import AzureManagedIdentityAuth

api = os.environ.get("AZURE_MANAGED_IDENTITY_API_URL", "https://my-vault.vault.azure.net/")

# App Service sets IDENTITY_ENDPOINT and IDENTITY_HEADER; the auth reads them, as azure-identity does.
auth = AzureManagedIdentityAuth(resource="https://management.azure.com")  # or scope=".../.default"

with requests.Session() as session:
    response = session.get(api + "secrets", params={"api-version": "7.4"}, auth=auth)
    response.raise_for_status()
print(auth.platform)  # app_service
# [end]
