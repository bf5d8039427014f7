"""The local providers without pytest."""

# [start]
from requests_multiauth.testing import LocalProviders

with LocalProviders() as providers:
    dataloy = providers["dataloy"]
    session = dataloy.api_session()  # a requests.Session that trusts the providers' CA
    response = session.get(dataloy.api_url + "Cargo", auth=dataloy.auth())
    response.raise_for_status()
    assert dataloy.token_calls == 1
    print(providers.verify)  # the CA bundle all five chain to, for verify= or REQUESTS_CA_BUNDLE
    print(sorted(providers.environ()))  # every preset's variables, for from_env() or the command line
# [end]
