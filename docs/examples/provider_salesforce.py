"""Salesforce through the JWT bearer flow of a connected app."""

# [start]
from requests_multiauth import MultiAuthSession, SalesforceJwtAuth

# SALESFORCE_CONSUMER_KEY, SALESFORCE_USERNAME, SALESFORCE_PRIVATE_KEY_FILE
# (SALESFORCE_LOGIN_URL=https://test.salesforce.com for a sandbox); or, in code:
# SalesforceJwtAuth(consumer_key, "integration@example.com", "server.key",
#                   login_url="https://test.salesforce.com")
auth = SalesforceJwtAuth.from_env()

# The token answer says where the org's APIs are: make it the session's base URL.
with MultiAuthSession(auth, base_url=auth.instance_url + "/services/data/v62.0/") as session:
    response = session.get("limits")
    response.raise_for_status()
    print(auth.get_token().extra["instance_url"])
# [end]
