"""One auth per tenant, built in microseconds, all sharing one session for the API."""

import os
from collections import namedtuple

Tenant = namedtuple("Tenant", "id client_id client_secret token_url")
tenants = [  # from your tenants' table; here three tenants of the local Cognito emulation
    Tenant(f"tenant-{n}", os.environ["COGNITO_CLIENT_ID"], os.environ["COGNITO_CLIENT_SECRET"],
           os.environ["COGNITO_TOKEN_URL"])
    for n in range(3)
]
API = os.environ.get("COGNITO_API_URL", "https://api.example.com/")

# [start]
import requests

from requests_multiauth import CognitoAuth

auths = {
    tenant.id: CognitoAuth(tenant.client_id, tenant.client_secret, tenant.token_url)
    for tenant in tenants  # building one takes microseconds: no I/O, no key derivation
}
api = requests.Session()

def call(tenant_id: str, path: str) -> requests.Response:
    return api.get(API + path, auth=auths[tenant_id], timeout=10)
# [end]

for tenant in tenants:
    call(tenant.id, "items").raise_for_status()
