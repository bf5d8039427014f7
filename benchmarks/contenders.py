"""One small client per library, all calling the same provider the way their users would.

Each :class:`Contender` makes an authenticated ``GET`` of the provider's API with
:meth:`Contender.get`, from any number of threads at once, and is configured as
its library's documentation recommends for client credentials:

* ``fixed header``: a plain ``requests.Session`` with a fixed ``Authorization``
  header, fetched once. The lower bound: it cannot renew anything.
* ``requests_multiauth``: :class:`~requests_multiauth.CognitoAuth` on a session,
  with its defaults.
* ``requests-oauthlib``: ``OAuth2Session`` with ``BackendApplicationClient``. It
  raises ``TokenExpiredError`` and does not fetch a new client-credentials token by
  itself, so it is wrapped in the usual code: catch ``TokenExpiredError`` or a 401,
  fetch a token, send again once. Like most such wrappers, it takes no lock.
* ``Authlib``: ``authlib.integrations.requests_client.OAuth2Session`` with
  ``grant_type="client_credentials"`` and ``token_endpoint``, which makes it fetch a
  new token by itself when the current one expires.
* ``requests-auth``: ``OAuth2ClientCredentials`` on a session.

Every library gets the same early-expiry margin (its ``leeway`` or ``early_expiry``),
the one requests_multiauth picks by default, so that they all consider a token
expired at the same moment; requests-oauthlib has no such setting. Every session
keeps enough pooled connections for the busiest scenario.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import List, Type

import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth

from requests_multiauth import CognitoAuth
from requests_multiauth.engine.manager import DEFAULT_LEEWAY, LEEWAY_SHARE

__all__ = ["CONTENDERS", "Contender", "Endpoint", "available", "build", "leeway_for"]

#: Timeout of every API request: nothing in these scenarios should take this long,
#: so a request that does is a failure, not a wait.
REQUEST_TIMEOUT = 30.0

#: Pooled connections per session: the storm and single-flight scenarios run 32
#: threads on one session; more than requests' default of 10, so none is discarded.
POOL_SIZE = 64


@dataclass(frozen=True)
class Endpoint:
    """Where the provider is and how to reach it."""

    token_url: str
    api_url: str
    verify: str
    client_id: str
    client_secret: str = field(repr=False)  # made up by the provider for one run, but a secret all the same


def leeway_for(lifetime: float) -> float:
    """The early-expiry margin every library gets: requests_multiauth's default for a
    token of this lifetime (30 s, at most a tenth of the lifetime)."""
    return min(DEFAULT_LEEWAY, lifetime * LEEWAY_SHARE)


def _configure(session: requests.Session, endpoint: Endpoint) -> requests.Session:
    session.verify = endpoint.verify
    session.trust_env = False  # loopback only: no proxy, no CA override from the environment
    session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE))
    return session


class Contender:
    """One library's client. :meth:`get` is called from many threads at once."""

    #: The name shown in results.
    name = ""
    #: The distribution whose version the results show.
    distribution = ""
    #: The module that must be importable for this contender to run.
    module = ""
    #: Whether it gets new tokens by itself (the fixed header does not).
    renews = True

    def __init__(self, endpoint: Endpoint, *, leeway: float) -> None:
        self.endpoint = endpoint
        self.leeway = leeway

    def get(self) -> requests.Response:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and threads."""


class FixedHeader(Contender):
    name = "fixed header"
    distribution = "requests"
    module = "requests"
    renews = False

    def __init__(self, endpoint: Endpoint, *, leeway: float) -> None:
        super().__init__(endpoint, leeway=leeway)
        self.session = _configure(requests.Session(), endpoint)
        answer = self.session.post(
            endpoint.token_url,
            data={"grant_type": "client_credentials"},
            auth=(endpoint.client_id, endpoint.client_secret),
            timeout=REQUEST_TIMEOUT,
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    def get(self) -> requests.Response:
        return self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)

    def close(self) -> None:
        self.session.close()


class MultiAuth(Contender):
    name = "requests_multiauth"
    distribution = "requests-multiauth"
    module = "requests_multiauth"

    def __init__(self, endpoint: Endpoint, *, leeway: float) -> None:
        super().__init__(endpoint, leeway=leeway)
        self._token_session = _configure(requests.Session(), endpoint)
        # Defaults only: its leeway is the margin the others are given.
        self.auth = CognitoAuth(
            endpoint.client_id, endpoint.client_secret, endpoint.token_url, session=self._token_session
        )
        self.session = _configure(requests.Session(), endpoint)
        self.session.auth = self.auth

    def get(self) -> requests.Response:
        return self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)

    def close(self) -> None:
        self.auth.close()
        self.session.close()
        self._token_session.close()


class RequestsOAuthlib(Contender):
    name = "requests-oauthlib"
    distribution = "requests-oauthlib"
    module = "requests_oauthlib"

    def __init__(self, endpoint: Endpoint, *, leeway: float) -> None:
        super().__init__(endpoint, leeway=leeway)
        from oauthlib.oauth2 import BackendApplicationClient, TokenExpiredError
        from requests_oauthlib import OAuth2Session

        self._expired = TokenExpiredError
        self.session = _configure(
            OAuth2Session(client=BackendApplicationClient(client_id=endpoint.client_id)), endpoint
        )
        self._client_auth = HTTPBasicAuth(endpoint.client_id, endpoint.client_secret)
        self._fetch()

    def _fetch(self) -> None:
        self.session.fetch_token(token_url=self.endpoint.token_url, auth=self._client_auth, timeout=REQUEST_TIMEOUT)

    def get(self) -> requests.Response:
        # The usual wrapper: requests-oauthlib raises on an expired client-credentials
        # token instead of fetching one, and does nothing about a 401.
        try:
            response = self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)
        except self._expired:
            self._fetch()
            response = self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)
        if response.status_code == 401:
            self._fetch()
            response = self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)
        return response

    def close(self) -> None:
        self.session.close()


class Authlib(Contender):
    name = "Authlib"
    distribution = "Authlib"
    module = "authlib"

    def __init__(self, endpoint: Endpoint, *, leeway: float) -> None:
        super().__init__(endpoint, leeway=leeway)
        from authlib.integrations.requests_client import OAuth2Session

        # token_endpoint + grant_type="client_credentials": Authlib fetches a new token
        # by itself when the current one is within `leeway` of its expiry.
        self.session = _configure(
            OAuth2Session(
                endpoint.client_id,
                endpoint.client_secret,
                token_endpoint=endpoint.token_url,
                token_endpoint_auth_method="client_secret_basic",
                grant_type="client_credentials",
                leeway=leeway,
            ),
            endpoint,
        )
        self.session.fetch_token(timeout=REQUEST_TIMEOUT)

    def get(self) -> requests.Response:
        return self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)

    def close(self) -> None:
        self.session.close()


class RequestsAuth(Contender):
    name = "requests-auth"
    distribution = "requests-auth"
    module = "requests_auth"

    def __init__(self, endpoint: Endpoint, *, leeway: float) -> None:
        super().__init__(endpoint, leeway=leeway)
        from requests_auth import OAuth2, OAuth2ClientCredentials

        # requests-auth keeps tokens in one cache shared by the whole process, keyed by
        # the token URL and client; start empty so that rounds do not share a token.
        self._cache = OAuth2.token_cache
        self._cache.clear()
        self._token_session = _configure(requests.Session(), endpoint)
        self.auth = OAuth2ClientCredentials(
            endpoint.token_url,
            endpoint.client_id,
            endpoint.client_secret,
            early_expiry=leeway,
            timeout=int(REQUEST_TIMEOUT),
            session=self._token_session,
        )
        self.session = _configure(requests.Session(), endpoint)
        self.session.auth = self.auth

    def get(self) -> requests.Response:
        return self.session.get(self.endpoint.api_url, timeout=REQUEST_TIMEOUT)

    def close(self) -> None:
        self.session.close()
        self._token_session.close()
        self._cache.clear()


#: Every contender, in the order results show them.
CONTENDERS: List[Type[Contender]] = [FixedHeader, MultiAuth, RequestsOAuthlib, Authlib, RequestsAuth]


def available(contender: Type[Contender]) -> bool:
    """True if the contender's library is installed (the ``bench`` extra installs all)."""
    return importlib.util.find_spec(contender.module) is not None


def build(contender: Type[Contender], endpoint: Endpoint, *, lifetime: float) -> Contender:
    """A new client of this kind, with the early-expiry margin for tokens of *lifetime*."""
    return contender(endpoint, leeway=leeway_for(lifetime))
