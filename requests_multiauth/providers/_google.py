"""What Google's two file-based credentials share: the variable their path is read from.

Both ``google-service-account`` and ``google-external-account`` read it, as Google's
client libraries do (Application Default Credentials), so it is written here once.
"""

__all__ = ["CREDENTIALS_VARIABLE"]

#: The variable Google's client libraries read a credentials file's path from:
#: https://cloud.google.com/docs/authentication/application-default-credentials
CREDENTIALS_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"
