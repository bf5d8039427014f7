"""Use 2: MultiAuthSession, with one API or several."""

# [start]
import os

from requests_multiauth import DataloyAuth, MultiAuthSession, OpsNowAuth

dataloy_api = os.environ.get("DATALOY_API_URL", "https://api.dataloy.com/ws/rest/")
opsnow_api = os.environ.get("OPSNOW_API_URL", "https://api.opsnow.io/")

with MultiAuthSession(DataloyAuth.from_env(), base_url=dataloy_api) as session:
    session.mount_auth(opsnow_api, OpsNowAuth.from_env())
    cargo = session.get("Cargo").json()  # Dataloy's token, under base_url
    costs = session.get(opsnow_api + "v1/costs")  # OpsNow's token, and only it
    costs.raise_for_status()
    print(cargo["path"], costs.json()["path"])  # /ws/rest/Cargo /api/v1/costs
# [end]
