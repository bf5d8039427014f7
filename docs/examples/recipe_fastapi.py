"""FastAPI / Starlette: sync routes run on a thread pool; one auth serves every thread."""

# [start]
import os

# api_client.py: what the sync routes call
from requests_multiauth import CognitoAuth, MultiAuthSession

items_api = MultiAuthSession(
    CognitoAuth.from_env(),
    base_url=os.environ.get("COGNITO_API_URL", "https://api.example.com/"),
)


def list_items() -> dict:
    response = items_api.get("items")
    response.raise_for_status()
    return response.json()
# [end]


if __name__ == "__main__":
    # What Starlette does with a sync route: run it on a thread of its pool (40 threads by default).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda _: list_items(), range(80)))
    assert all(answer["path"] == "/api/items" for answer in answers)
    items_api.close()
