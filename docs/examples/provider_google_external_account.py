"""Google workload identity federation from an external_account configuration, on the local emulator."""

import os

from requests_multiauth.testing import GoogleStsEmulator

with GoogleStsEmulator() as google:  # a local STS + IAM Credentials; yours is Google's
    os.environ.update(google.environ())  # GOOGLE_APPLICATION_CREDENTIALS, and the emulator's CA
    verify = os.environ["GOOGLE_EXTERNAL_ACCOUNT_CA_BUNDLE"]
    api = google.api_url  # e.g. "https://storage.googleapis.com/storage/v1/"

    # [start]
    import requests

    from requests_multiauth import GoogleExternalAccountAuth

    # The file `gcloud iam workload-identity-pools create-cred-config` wrote (no key in it).
    auth = GoogleExternalAccountAuth.from_file(
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"],
        scopes=["https://www.googleapis.com/auth/devstorage.read_only"],
        verify=verify,  # the token calls trust the local emulator's CA; leave it out for Google
    )
    # or GoogleExternalAccountAuth.from_env(): GOOGLE_APPLICATION_CREDENTIALS

    session = requests.Session()
    session.auth = auth
    response = session.get(api + "b/my-bucket/o", verify=verify)
    response.raise_for_status()
    print(auth.service_account)  # the impersonated account, from service_account_impersonation_url
    print(response.json()["subject"])  # deployer@octo-project.iam.gserviceaccount.com
    # [end]
    assert response.json()["subject"] == auth.service_account
    assert (google.sts_calls, google.iam_calls) == (1, 1)
