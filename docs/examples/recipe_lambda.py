"""AWS Lambda: the auth is built in the init phase and kept by warm invocations."""

# [start]
# handler.py
import json
import os

from requests_multiauth import CognitoAuth, FileTokenCache, MultiAuthSession

# /tmp is the only writable place in Lambda; it outlives a restart of the runtime in the
# same execution environment, so a token survives a crash or a timeout of the handler.
TOKENS = os.environ.get("TOKEN_CACHE_DIR", "/tmp/requests_multiauth/tokens")

api = MultiAuthSession(  # built once per execution environment (the cold start)
    CognitoAuth.from_env(cache=FileTokenCache(TOKENS)),
    base_url=os.environ.get("COGNITO_API_URL", "https://api.example.com/"),
)


def handler(event, context):
    response = api.get("items", params={"id": event["id"]})
    return {"statusCode": response.status_code, "body": json.dumps(response.json())}
# [end]


if __name__ == "__main__":
    answers = [handler({"id": n}, None) for n in range(3)]  # a cold start, then two warm invocations
    assert [a["statusCode"] for a in answers] == [200, 200, 200]
