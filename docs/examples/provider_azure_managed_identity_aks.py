"""A pod on AKS with a user-assigned identity, configured by its environment only."""

# [start]
import os

from requests_multiauth import AzureManagedIdentityAuth, FileTokenCache, MultiAuthSession

api = os.environ.get("AZURE_MANAGED_IDENTITY_API_URL", "https://management.azure.com/")

# AZURE_CLIENT_ID names the user-assigned identity, AZURE_MANAGED_IDENTITY_SCOPE the token's scope;
# with pod identity, AZURE_POD_IDENTITY_AUTHORITY_HOST points at its IMDS endpoint.
# The worker processes of the pod share one token through the cache.
cache = FileTokenCache(os.environ.get("TOKEN_CACHE_DIR", "/tmp/tokens"))
auth = AzureManagedIdentityAuth.from_env(cache=cache)

with MultiAuthSession(auth, base_url=api) as session:
    session.get("subscriptions", params={"api-version": "2022-12-01"}).raise_for_status()
# [end]
