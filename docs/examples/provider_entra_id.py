"""Microsoft Graph (or any API behind Entra ID) as an app: a secret, a certificate, a federated token."""

# [start]
import os
from pathlib import Path

import requests

from requests_multiauth import EntraIdAuth

graph = os.environ.get("ENTRA_ID_API_URL", "https://graph.microsoft.com/v1.0/")
authority = os.environ.get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com")
tenant_id, client_id = os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"]
scope = "https://graph.microsoft.com/.default"

# a client secret
with_secret = EntraIdAuth(
    tenant_id, client_id, client_secret=os.environ["AZURE_CLIENT_SECRET"], scope=scope, authority=authority
)

# a certificate: a PEM holding the certificate and its key (or a .pfx with password=)
with_certificate = EntraIdAuth(
    tenant_id,
    client_id,
    certificate=os.environ["AZURE_CLIENT_CERTIFICATE_PATH"],
    scope=scope,
    authority=authority,
)

# workload identity (AKS): the projected token file, read again whenever it is rotated
with_workload_identity = EntraIdAuth(
    tenant_id,
    client_id,
    federated_token=Path(os.environ["AZURE_FEDERATED_TOKEN_FILE"]),
    scope=scope,
    authority=authority,
)

# or EntraIdAuth.from_env(scope=scope), with azure-identity's variables and precedence

session = requests.Session()
for auth in (with_secret, with_certificate, with_workload_identity):
    response = session.get(graph + "me", auth=auth)
    response.raise_for_status()
    print(auth.credential, "ok")
# [end]
