"""A pod on AKS with a user-assigned identity, configured by its environment only."""

# [start]
import os

from requests_multiauth import AzureManagedIdentityAuth, FileTokenCache, MultiAuthSession

api = os.environ.get("AZURE_MANAGED_IDENTITY_API_URL", "https://management.azure.com/")

# AZURE_MANAGED_IDENTITY_SCOPE names the token's scope, AZURE_CLIENT_ID the user-assigned identity;
# with pod identity, AZURE_POD_IDENTITY_AUTHORITY_HOST points at its IMDS endpoint.
# The worker processes of the pod share one token through the cache.
cache = FileTokenCache(os.environ.get("TOKEN_CACHE_DIR", "/tmp/tokens"))
auth = AzureManagedIdentityAuth.from_env(client_id=os.environ["AZURE_CLIENT_ID"], cache=cache)

with MultiAuthSession(auth, base_url=api) as session:
    session.get("subscriptions", params={"api-version": "2022-12-01"}).raise_for_status()
# [end]
