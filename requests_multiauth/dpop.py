"""DPoP (RFC 9449): tokens bound to a key the client keeps, and the proofs that show it holds it.

This module owns the DPoP side of a request:

* :class:`DPoPKey`, the private key (a secret), loaded once and ready to sign;
* :class:`DPoPProofs`, one auth's key plus the nonces its servers handed out,
  which makes a proof for each request (``typ: dpop+jwt``, the public ``jwk``,
  a unique ``jti``, ``htm``, ``htu`` without query or fragment, ``iat``, and
  ``ath``/``nonce`` where they apply) and remembers every ``DPoP-Nonce`` a
  response carries;
* the per-try hook of the token endpoint (:meth:`DPoPProofs.headers`,
  :meth:`DPoPProofs.observe`, :meth:`DPoPProofs.send_again`), which the
  endpoint calls without knowing it is DPoP.

How the token and its proof go on an API request is
:class:`~requests_multiauth.presentation.DPoPPresenter`'s business. A request with ``dpop=`` goes::

    auth(request)          token from the TokenManager; DPoPPresenter sets
                           Authorization: DPoP <token> and a fresh DPoP proof
    response hook          remember DPoP-Nonce (any status); a 401 that demands
                           a nonce we did not send -> one replay, same token,
                           new proof (auth.replay_once, the usual replay path)
    token calls            transport.endpoint.TokenEndpoint asks this hook for a
                           new proof on every try, and sends a try again once
                           when the hook says a 400 use_dpop_nonce asks for it

Signing is PyJWT's (the ``jwt`` extra): the key object, the signing algorithm
and the base64url JWS header (which never changes for a key) are prepared once
per key, so a proof costs one signature, one small JSON dump and two base64url
encodings.

Where the request goes next: presentation.py puts the proofs on API requests; the token
endpoint (transport/endpoint.py) calls the per-try hook on token requests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, Optional, Union
from urllib.parse import urljoin, urlparse

import requests
from requests.utils import requote_uri

from ._jose import KeyInput, SigningKey, b64url, generate_signing_key, load_signing_key, unverified_claims
from .engine import fork as _fork
from .engine.travel import CannotTravel
from .errors import ConfigurationError
from .transport.urls import Origin, origin

if TYPE_CHECKING:
    pass

__all__ = ["DPOP_NONCE_ERROR", "DPoPKey", "DPoPProofs", "dpop_proofs"]

log = logging.getLogger("requests_multiauth")

#: The OAuth / WWW-Authenticate error code with which a server asks for a nonce (RFC 9449 §8, §9).
DPOP_NONCE_ERROR = "use_dpop_nonce"

#: The proof's JOSE type (RFC 9449 §4.2).
PROOF_TYPE = "dpop+jwt"

#: Random bytes in each proof's ``jti``: 128 bits, so that no two proofs of any
#: client ever share one (RFC 9449 §11.1 asks for enough entropy to rule out collisions).
JTI_BYTES = 16

#: How many origins' nonces an auth remembers; an auth that talks to more (a
#: crawler) forgets all and starts again, costing one nonce challenge each.
MAX_NONCE_ORIGINS = 256

#: How many of an origin's past nonces are remembered, so that a late answer carrying
#: one of them (a slow response overtaken by a faster one) never puts it back.
NONCE_HISTORY = 16

#: Compact JSON, with the encoder built once (``json.dumps`` with options builds one per call).
_compact_json = json.JSONEncoder(separators=(",", ":")).encode

_ERROR_PARAM = re.compile(r'error\s*=\s*"?([^",\s]+)"?', re.IGNORECASE)


class DPoPKey:
    """The private key a client binds its tokens to. Immutable; safe for concurrent use.

    Build one with :meth:`generate` (a key that lives as long as the process) or
    from a key you keep: ``DPoPKey(private_key, alg=None)``, where *private_key*
    is PEM text or bytes, a path to a PEM or JWK file, a JWK mapping with its
    private members, or a ``cryptography`` private key, as for client assertions.
    ES256 is the default for new keys; RS256, PS256 (and the other RSA
    algorithms), ES384, ES512 and EdDSA are accepted. *alg* by default follows the
    key (RS256 for RSA; pass ``alg="PS256"`` for PSS).

    The key is a secret: its ``repr`` shows the algorithm and the public key's
    RFC 7638 thumbprint (the ``jkt`` authorization servers bind tokens to), never
    private material, and it is not pickled. Processes that share a token cache
    must share the key too: load it from one file in each (see docs/dpop.rst).

    Raises:
        ConfigurationError: the key is unreadable, public only, of an unsupported
            type, or does not fit *alg* (the message never quotes the key).
        ImportError: PyJWT is not installed (``pip install 'requests-multiauth[jwt]'``).
    """

    __slots__ = ("_algorithm", "_header", "_key", "_signing")

    def __init__(
        self, private_key: Union[KeyInput, SigningKey], alg: Optional[str] = None, *, password: Optional[str] = None
    ) -> None:
        if isinstance(private_key, SigningKey):
            signing = private_key
            if alg is not None and alg != signing.alg:
                raise ConfigurationError(f"the DPoP key signs with {signing.alg}, not alg={alg!r}")
        else:
            signing = load_signing_key(private_key, alg=alg, password=password, what="the DPoP key")
        from jwt.algorithms import get_default_algorithms

        algorithm = get_default_algorithms()[signing.alg]
        self._signing = signing
        self._algorithm = algorithm
        self._key = algorithm.prepare_key(signing.private_key)
        header = {"typ": PROOF_TYPE, "alg": signing.alg, "jwk": signing.public_jwk}
        self._header = b64url(json.dumps(header, separators=(",", ":")).encode("ascii")) + "."

    @classmethod
    def generate(cls, alg: str = "ES256") -> DPoPKey:
        """A new key for *alg*, held in memory only (tokens bound to it die with the process)."""
        return cls(generate_signing_key(alg))

    @property
    def alg(self) -> str:
        """The JWS algorithm of the proofs."""
        return self._signing.alg

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint (base64url) of the public key, which servers bind tokens to (``cnf.jkt``)."""
        return self._signing.thumbprint

    @property
    def public_jwk(self) -> Dict[str, str]:
        """The public key as a JWK (a copy; no private members)."""
        return dict(self._signing.public_jwk)

    def __repr__(self) -> str:
        return f"DPoPKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"

    def __reduce__(self) -> Any:
        # A key loaded from a file travels as its path (see _jose.SigningKey); one made in memory does not.
        try:
            self._signing.__reduce__()
        except TypeError:
            raise CannotTravel(
                "a DPoPKey made in memory (DPoPKey.generate() or from a key object) holds its private key in this "
                "process only and is not pickled: load it from a file (DPoPKey('/path/key.pem')), which travels as "
                "its path, or pass dpop=True, which makes a new key in each process"
            ) from None
        return (DPoPKey, (self._signing,))

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: Optional[str] = None,
        access_token: Optional[str] = None,
        ath: Optional[str] = None,
        iat: Optional[int] = None,
    ) -> str:
        """A new DPoP proof JWT for one request.

        Args:
            method: the HTTP method (``htm``).
            url: the request URL; ``htu`` is it without query and fragment.
            nonce: the server's latest ``DPoP-Nonce``, if it gave one.
            access_token: for a request to a resource server: ``ath`` is its
                base64url SHA-256. (*ath*, if given, is used as is instead.)
            iat: issued-at, epoch seconds; default now.
        """
        claims: Dict[str, Any] = {
            "jti": secrets.token_urlsafe(JTI_BYTES),
            "htm": method,
            "htu": htu(url),
            "iat": int(time.time()) if iat is None else iat,
        }
        if access_token is not None and ath is None:
            ath = access_token_hash(access_token)
        if ath is not None:
            claims["ath"] = ath
        if nonce is not None:
            claims["nonce"] = nonce
        signing_input = self._header + b64url(_compact_json(claims).encode("utf-8"))
        signature = self._algorithm.sign(signing_input.encode("ascii"), self._key)
        return signing_input + "." + b64url(signature)


def htu(url: str) -> str:
    """The ``htu`` of a request URL: the URL without query and fragment (RFC 9449 §4.2)."""
    return url.partition("#")[0].partition("?")[0]


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url SHA-256 of the ASCII access token (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


@functools.lru_cache(maxsize=MAX_NONCE_ORIGINS)
def _origin_of(prefix: str) -> Origin:
    return origin(prefix)


def _nonce_origin(url: str) -> Origin:
    # Only the scheme://authority prefix is parsed (once per prefix, cached): this runs on every request.
    start = url.find("//") + 2
    end = url.find("/", start)
    return _origin_of(url if end < 0 else url[:end])


def proof_nonce(proof: Optional[str]) -> Optional[str]:
    """The ``nonce`` claim of a proof we made, or None (read back only on a challenge)."""
    claims = unverified_claims(proof) if proof else None
    nonce = claims.get("nonce") if claims is not None else None
    return nonce if isinstance(nonce, str) else None


def demands_nonce(response: requests.Response) -> bool:
    """True if *response* is a server asking for a DPoP nonce: a 400 from a token
    endpoint with ``error=use_dpop_nonce`` in its JSON, or a 401 from a resource
    server with ``WWW-Authenticate: DPoP error="use_dpop_nonce"``; either with a ``DPoP-Nonce``."""
    if not response.headers.get("DPoP-Nonce"):
        return False
    if response.status_code == 401:
        challenge = response.headers.get("WWW-Authenticate", "")
        return any(
            part.strip().lower().startswith("dpop") and _challenge_error(part) == DPOP_NONCE_ERROR
            for part in _challenges(challenge)
        )
    if response.status_code == 400:
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("error") == DPOP_NONCE_ERROR
    return False


def _challenges(header: str) -> list[str]:
    """The header split before each auth scheme (``Bearer ..., DPoP error=...``)."""
    return re.split(r",\s*(?=[A-Za-z][\w-]*\s+[\w-]+\s*=)", header) if header else []


def _challenge_error(challenge: str) -> Optional[str]:
    match = _ERROR_PARAM.search(challenge)
    return match.group(1) if match else None


class DPoPProofs:
    """One auth's DPoP key and the nonces its servers gave it. Safe for concurrent use.

    Nonces are kept per origin (scheme, host, port) and replaced by each new
    ``DPoP-Nonce`` a response from that origin carries, whatever its status. The
    store never goes back: a nonce the origin gave before (one of its last
    NONCE_HISTORY) arriving late, on a slow response overtaken by a faster one that
    brought a newer nonce, does not replace the newer one. Reading one takes no lock.
    """

    def __init__(self, key: DPoPKey) -> None:
        self.key = key
        self._nonces: Dict[Origin, str] = {}
        self._seen: Dict[Origin, Deque[str]] = {}  # each origin's past nonces, oldest first
        self._lock = threading.Lock()
        _fork.register(self)

    def reset_after_fork(self) -> None:
        # A thread of the parent may have held the lock; the nonces stay good.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DPoPProofs({self.key!r}, origins_with_nonce={len(self._nonces)})"

    def proof(self, method: str, url: str, *, ath: Optional[str] = None, nonce: Optional[str] = None) -> str:
        """A fresh proof for *method* and *url*, with *ath* (the presenter's hash of the
        access token, see :meth:`DPoPKey.proof`), and *nonce* (a challenge's) or the
        origin's latest nonce."""
        if nonce is None:
            nonce = self._nonces.get(_nonce_origin(url))
        return self.key.proof(method, url, nonce=nonce, ath=ath)

    def nonce(self, url: str) -> Optional[str]:
        """The latest nonce *url*'s origin gave, or None."""
        return self._nonces.get(_nonce_origin(url))

    def remember(self, response: requests.Response) -> Optional[str]:
        """Keep the ``DPoP-Nonce`` of *response*, if it has one; return it."""
        nonce = response.headers.get("DPoP-Nonce")
        if not nonce:
            return None
        where = _nonce_origin(response.url or (response.request.url if response.request is not None else "") or "")
        if self._nonces.get(where) != nonce:
            with self._lock:
                seen = self._seen.get(where)
                if seen is not None and nonce in seen and where in self._nonces:
                    return nonce  # an older nonce, arriving late: the store keeps the newer one
                if len(self._nonces) >= MAX_NONCE_ORIGINS and where not in self._nonces:
                    self._nonces.clear()
                    self._seen.clear()
                    seen = None
                if seen is None:
                    seen = self._seen[where] = deque(maxlen=NONCE_HISTORY)
                seen.append(nonce)
                self._nonces[where] = nonce
        return nonce

    # -- the token endpoint's per-try hook (transport.endpoint.TryHook) ------------------------

    def headers(self, method: str, url: str) -> Dict[str, str]:
        """What a try of a token call to *url* adds: a new proof, with the origin's latest nonce."""
        return {"DPoP": self.proof(method, url)}

    def observe(self, response: requests.Response) -> None:
        """Keep the nonce an answer of the token endpoint carries."""
        self.remember(response)

    def send_again(self, response: requests.Response) -> Optional[str]:
        """Why the try that got *response* should be sent again at once (a 400
        ``use_dpop_nonce`` with a nonce the try did not carry), or None."""
        if response.status_code == 400 and self.new_nonce_demanded(response):
            return "a DPoP nonce"
        return None

    def new_nonce_demanded(self, response: requests.Response) -> Optional[str]:
        """The nonce to answer *response* with, if it demands one that the request did not send.

        Two threads that sent the same old nonce both get the new one back, so
        both replay: the test is the nonce *sent*, not whether the nonce is new
        to this auth. A server that demands the very nonce it was sent is not
        answered again (that would be a loop).
        """
        if not demands_nonce(response):
            return None
        demanded = self.remember(response)
        request = response.request
        proof = request.headers.get("DPoP") if request is not None else None
        sent = proof_nonce(proof if isinstance(proof, str) else None)
        if demanded is None or demanded == sent:
            return None
        return demanded


def redirect_url(current: str, location: str) -> str:
    """The URL requests sends a redirect's next hop to (``SessionRedirectMixin.resolve_redirects``)."""
    if location.startswith("//"):
        location = f"{urlparse(current).scheme}:{location}"
    parsed = urlparse(location)
    return urljoin(current, requote_uri(location)) if not parsed.netloc else requote_uri(location)


def redirect_method(status: int, method: str) -> str:
    """The method requests uses for a redirect's next hop (``SessionRedirectMixin.rebuild_method``)."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status == 302 and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def dpop_proofs(dpop: Union[bool, DPoPKey, None]) -> Optional[DPoPProofs]:
    """What an auth's ``dpop=`` option means: None/False for bearer tokens,
    True for a new ES256 key of its own, or the :class:`DPoPKey` given."""
    if dpop is None or dpop is False:
        return None
    if dpop is True:
        return DPoPProofs(DPoPKey.generate())
    if isinstance(dpop, DPoPKey):
        return DPoPProofs(dpop)
    raise ConfigurationError(
        f"dpop= must be None, True or a DPoPKey, not a {type(dpop).__name__}: "
        "wrap a private key as dpop=DPoPKey(private_key)"
    )
