"""Flask: the session lives on the app, built in the app factory."""

# [start]
import os

from flask import Flask, current_app, jsonify

from requests_multiauth import CognitoAuth, MultiAuthSession


def create_app() -> Flask:
    app = Flask(__name__)
    app.extensions["items_api"] = MultiAuthSession(
        CognitoAuth.from_env(),
        base_url=os.environ.get("COGNITO_API_URL", "https://api.example.com/"),
    )

    @app.get("/items")
    def items():
        api = current_app.extensions["items_api"]  # shared by every request thread
        response = api.get("items")
        response.raise_for_status()
        return jsonify(response.json())

    return app
# [end]


if __name__ == "__main__":
    client = create_app().test_client()
    for _ in range(3):
        answer = client.get("/items")
        assert answer.status_code == 200, answer.data
    print(answer.get_json())
