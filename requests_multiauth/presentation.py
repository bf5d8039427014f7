"""How a token is presented to an API: the one place that knows the header(s) a request carries.

A :class:`Presenter` answers every question the request path asks about presentation:

* the auth (:mod:`requests_multiauth.auth`) asks it to :meth:`~Presenter.present`
  a token on each request and on each replay, what value proves that a 401 answered
  *our* token (:meth:`~Presenter.value`), whether a 401 only asks for a DPoP nonce
  (:meth:`~Presenter.nonce_challenge`), and what to do with a redirect (:meth:`~Presenter.redirect`);
* :class:`~requests_multiauth.AuthAdapter` and :class:`~requests_multiauth.MultiAuthSession`
  ask which headers to remove from a request leaving the API (:attr:`~Presenter.header_names`)
  and what must see every response (:attr:`~Presenter.observe`);
* the token endpoint gets, through :attr:`~Presenter.token_call_hook`, what each
  try of a token call adds (a DPoP proof) and learns of the nonces its answers carry.

Two presentations exist: :class:`BearerPresenter` (``Authorization: Bearer <token>``,
or the bare token in a custom header) and :class:`DPoPPresenter`
(``Authorization: DPoP <token>`` and a proof, RFC 9449). :func:`presenter_for`
turns an auth's ``header_name=`` and ``dpop=`` into one. A later scheme adds a class here.

Where the request goes next: the adapter sends it (``requests``); a 401 comes back
to the auth's replay path (:mod:`requests_multiauth.transport.replay`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Optional, Tuple, Union

import requests

from .dpop import DPoPKey, access_token_hash, demands_nonce, dpop_proofs, redirect_method, redirect_url
from .errors import ConfigurationError, TokenResponseError
from .transport import replay as _replay

if TYPE_CHECKING:
    from .dpop import DPoPProofs
    from .token import Token
    from .transport.endpoint import TryHook

__all__ = ["AUTHORIZATION", "BearerPresenter", "DPoPPresenter", "Presenter", "presenter_for"]

#: The standard header for a token (RFC 6750 §2.1, RFC 9449 §7.1).
AUTHORIZATION = "Authorization"

#: The header that carries a DPoP proof (RFC 9449 §4.1).
DPOP = "DPoP"


class Presenter:
    """How a token goes on a request. Safe for concurrent use.

    Attributes:
        header_name: the header that carries the token.
        header_names: every header this presentation sets: removed from a request
            that leaves the API (a redirect to another origin).
        token_type: the ``token_type`` a token must have to be presented so; a
            token call answering another is refused (:meth:`check_type`).
        observe: called with every response to a request it presented, or None
            when the presentation needs no responses (Bearer).
        token_call_hook: what every try of the auth's token calls adds and reads
            (DPoP: a proof, and the nonces), or None.
        cache_identity: what tells this presentation's tokens apart in a shared
            cache (DPoP: the key's thumbprint); never a secret.
        key: the DPoP key tokens are bound to, or None.
    """

    header_name: str = AUTHORIZATION
    header_names: Tuple[str, ...] = (AUTHORIZATION,)
    token_type: str = "Bearer"
    observe: Optional[Callable[[requests.Response], object]] = None
    token_call_hook: Optional[TryHook] = None
    cache_identity: Tuple[Tuple[str, str], ...] = ()
    key: Optional[DPoPKey] = None

    def present(self, request: requests.PreparedRequest, token: Token, *, nonce: Optional[str] = None) -> None:
        """Set the token header(s) on *request*; with DPoP, a proof carrying *nonce* (the one a
        challenge named) or else the origin's latest nonce."""
        raise NotImplementedError

    def value(self, token: Token) -> str:
        """The value of :attr:`header_name` that :meth:`present` sets for *token*."""
        raise NotImplementedError

    def nonce_challenge(self, response: requests.Response) -> Optional[bool]:
        """Whether *response* (a 401) only asks for a DPoP nonce: None if it does
        not, True if the nonce is one the request did not carry (replay with it,
        same token), False if the request carried that very nonce (do not replay)."""
        return None

    def redirect(self, response: requests.Response, sent_url: str, token: Callable[[], Token]) -> None:
        """Ready the request that requests copies for the next hop of the redirect
        *response* (requests does not call the auth again on redirects): off the
        origin of *sent_url*, remove what requests would not; on it, present
        anew where the presentation depends on the URL, or where the redirect answers
        our replay (the caller's request, which requests copies, still carries the
        refused token); *token* gives the current token."""
        request = _replay.copied_for_next_hop(response)
        if request is None:
            return
        if _replay.redirect_leaves_origin(response, sent_url):
            for name in self.header_names:
                if name != AUTHORIZATION:  # requests itself drops Authorization when the host changes
                    request.headers.pop(name, None)
        elif request is not response.request:
            self.present(request, token())

    def check_type(self, token: Token, label: str) -> Token:
        """*token* if its type is :attr:`token_type`; else a TokenResponseError (RFC 9449 §5:
        the type tells the client whether the token is bound to its key)."""
        if token.token_type == self.token_type:
            return token
        raise TokenResponseError(
            f"{label}: the token endpoint answered a {token.token_type} token, which only works with a proof of "
            "its key: pass dpop=DPoPKey(...) (or dpop=True) to use DPoP-bound tokens"
        )


class BearerPresenter(Presenter):
    """``Authorization: Bearer <token>``, or the bare token in a custom header."""

    __slots__ = ("_prefix", "header_name", "header_names")

    def __init__(self, header_name: str = AUTHORIZATION) -> None:
        self.header_name = header_name
        self.header_names = (header_name,)
        self._prefix = "Bearer " if header_name == AUTHORIZATION else ""

    def present(self, request: requests.PreparedRequest, token: Token, *, nonce: Optional[str] = None) -> None:
        request.headers[self.header_name] = self._prefix + token.access_token

    def value(self, token: Token) -> str:
        return self._prefix + token.access_token


class DPoPPresenter(Presenter):
    """``Authorization: DPoP <token>`` and a fresh ``DPoP`` proof with ``ath`` on every request.

    A token is presented as it was issued: one answered as DPoP never goes as
    Bearer. (The auths refuse a Bearer answer to a DPoP request before it gets
    here; a Bearer token that reaches this presenter anyway goes as Bearer,
    without a proof.)
    """

    header_names = (AUTHORIZATION, DPOP)
    token_type = "DPoP"

    def __init__(self, proofs: DPoPProofs) -> None:
        self.proofs = proofs
        self.key = proofs.key
        self.observe = proofs.remember
        self.token_call_hook = proofs
        # Tokens bound to another key are of no use here: the key's public thumbprint
        # keeps them apart in a shared cache.
        self.cache_identity = (("dpop_jkt", proofs.key.thumbprint),)
        self._ath: tuple[str, str] = ("", "")  # (access token, its ath): computed once per token

    def present(self, request: requests.PreparedRequest, token: Token, *, nonce: Optional[str] = None) -> None:
        access_token = token.access_token
        if token.token_type != "DPoP":
            request.headers[AUTHORIZATION] = "Bearer " + access_token
            request.headers.pop(DPOP, None)
            return
        last_token, ath = self._ath
        if last_token != access_token:
            ath = access_token_hash(access_token)
            self._ath = (access_token, ath)
        headers = request.headers
        headers[AUTHORIZATION] = "DPoP " + access_token
        headers[DPOP] = self.proofs.proof(request.method or "GET", request.url or "", ath=ath, nonce=nonce)

    def value(self, token: Token) -> str:
        return ("DPoP " if token.token_type == "DPoP" else "Bearer ") + token.access_token

    def nonce_challenge(self, response: requests.Response) -> Optional[bool]:
        if not demands_nonce(response):
            return None
        return self.proofs.new_nonce_demanded(response) is not None

    def redirect(self, response: requests.Response, sent_url: str, token: Callable[[], Token]) -> None:
        if _replay.redirect_leaves_origin(response, sent_url):
            copied = _replay.copied_for_next_hop(response)
            if copied is not None:
                copied.headers.pop(DPOP, None)  # a proof is for its own URL
            return
        # requests copies the request the redirect answered (the one the caller sent,
        # when this answer is a replay's) for the next hop: it needs a proof for the
        # URL and method that hop will have.
        request = _replay.copied_for_next_hop(response)
        location = response.headers.get("Location")
        if request is None or not location:
            return
        current = token()
        if current.token_type != "DPoP":
            return
        hop = request.copy()
        hop.url = redirect_url(response.url or request.url or "", location)
        hop.method = redirect_method(response.status_code, request.method or "GET")
        self.present(hop, current)
        request.headers[AUTHORIZATION] = hop.headers[AUTHORIZATION]
        request.headers[DPOP] = hop.headers[DPOP]

    def check_type(self, token: Token, label: str) -> Token:
        if token.token_type == self.token_type:
            return token
        raise TokenResponseError(
            f"{label}: the token endpoint answered a {token.token_type} token to a request with a DPoP proof, "
            "so the token is not bound to the key and anyone holding it could use it. What to do: enable DPoP "
            "for this client at the authorization server, or drop dpop= to use bearer tokens"
        )


#: What a header name may be made of: an RFC 9110 §5.1 token (tchar), so that no
#: CR/LF or space can smuggle another header or break the request.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def presenter_for(header_name: str = AUTHORIZATION, dpop: Union[bool, DPoPKey, None] = None) -> Presenter:
    """The presentation an auth's ``header_name=`` and ``dpop=`` ask for.

    Raises:
        ConfigurationError: *header_name* is not a valid HTTP header name (CR/LF,
            empty, spaces: at construction, not as requests' ValueError on the first
            request); *dpop* is not None, True or a DPoPKey, or is combined with a
            custom *header_name* (DPoP sends the token in ``Authorization``).
    """
    if not isinstance(header_name, str) or not _HEADER_NAME.fullmatch(header_name):
        raise ConfigurationError(
            f"header_name={header_name!r} is not a valid HTTP header name: use letters, digits and "
            "!#$%&'*+-.^_`|~ only (no spaces, colons or line breaks), like 'X-Api-Token'"
        )
    proofs = dpop_proofs(dpop)
    if proofs is None:
        return BearerPresenter(header_name)
    if header_name != AUTHORIZATION:
        raise ConfigurationError(
            f"dpop= sends the token in the Authorization header (RFC 9449 §7.1), not in {header_name!r}: "
            "drop header_name= or dpop="
        )
    return DPoPPresenter(proofs)
