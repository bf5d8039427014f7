"""A job on an Azure VM (or scale set) calls Azure Resource Manager as the VM's managed identity."""

# [start]
import os

import requests

from requests_multiauth import AzureManagedIdentityAuth

api = os.environ.get("AZURE_MANAGED_IDENTITY_API_URL", "https://management.azure.com/")

session = requests.Session()
# No secret anywhere: IMDS (http://169.254.169.254) gives the VM's identity a token.
session.auth = AzureManagedIdentityAuth(scope="https://management.azure.com/.default")
# A user-assigned identity instead: AzureManagedIdentityAuth(scope=..., client_id="<its client id>")

response = session.get(api + "subscriptions", params={"api-version": "2022-12-01"})
response.raise_for_status()
print(session.auth)  # platform='imds', the token's expiry; never the token
# [end]
