"""A generic OAuth 2.0 authorization server and protected API, for testing any standard client.

:class:`OAuth2Emulator` is what Okta, Entra ID, Keycloak or Auth0 look like to a machine
client, on one loopback HTTPS origin:

* discovery (RFC 8414 and OpenID Connect Discovery) at
  ``/.well-known/oauth-authorization-server`` and ``/.well-known/openid-configuration``,
  its signing keys at ``/jwks``;
* a token endpoint at ``/token`` (and its mTLS alias ``/mtls/token``, RFC 8705 §5) for the
  client credentials grant, authenticating each client by the one method it was registered
  with: ``client_secret_basic``, ``client_secret_post``, ``client_secret_jwt``,
  ``private_key_jwt`` (RFC 7523: ``iss`` = ``sub`` = client id, ``aud`` = the token endpoint
  or the issuer, ``exp``, a ``jti`` never seen before, at most 5 minutes of lifetime),
  ``tls_client_auth`` and ``self_signed_tls_client_auth`` (RFC 8705 §2);
* certificate-bound access tokens (``cnf.x5t#S256``, RFC 8705 §3) and DPoP-bound ones
  (``token_type: DPoP``, ``cnf.jkt``, RFC 9449), with a nonce requirement that a test
  switches on at the token endpoint and at the API separately, rotated on the emulator's clock;
* ``/redirect/X`` answering 307 to ``/api/X``, for testing proofs on redirects;
* a protected API under ``/api/`` that accepts a token only as it is bound: over a TLS
  connection presenting its certificate, or with a valid DPoP proof of its key (every proof
  field checked: ``typ``, ``alg``, signature by the embedded ``jwk``, ``htm``, ``htu``,
  ``iat``, ``jti`` replay, ``ath``, the key's thumbprint).

Like the provider emulations it counts what it receives (token calls by client, method, grant
and outcome; API calls by scheme and outcome), can inject faults, revoke tokens, and runs on a
:class:`ManualClock`. It needs ``trustme`` and PyJWT with ``cryptography``
(``pip install 'requests-multiauth[testing]'``), imported when an emulator is made.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import unquote_plus, urlsplit

from .._jose import b64url, jwk_thumbprint, require_jwt
from ._emulator import (
    EXPIRED,
    REVOKED,
    UNKNOWN,
    Clock,
    ProviderEmulator,
    Refusal,
    basic_credentials,
    oauth_form,
    oauth_refusal,
    seconds,
)
from ._server import Reply, Request

__all__ = ["ApiCall", "OAuth2Emulator", "RegisteredClient", "SeenAssertion", "TokenCall"]

#: The client authentication methods of RFC 8414's registry that a client-credentials client uses.
METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
)
TLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HMAC_ALGS = ("HS256", "HS384", "HS512")
RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
#: What DPoP proofs may be signed with (RFC 9449 §4.2: asymmetric only).
DPOP_ALGS = ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA")
#: Members that only a private JWK has: a proof's ``jwk`` carrying one is refused.
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

#: An assertion living longer than this is refused (RFC 7523 leaves the bound to the server;
#: 5 minutes is what Entra ID and Okta accept, and what the library never exceeds).
MAX_ASSERTION_LIFETIME = 300.0
#: How far a DPoP proof's ``iat`` may be from the server's clock (RFC 9449 §11.1 leaves it to
#: the server; a minute covers clock skew between hosts).
DPOP_IAT_WINDOW = 60.0
#: How often a required DPoP nonce changes, by default (seconds on the emulator's clock).
NONCE_ROTATION = 60.0

#: Outcomes of an API call besides "ok" and an RFC 6750 / RFC 9449 error code.
NO_TOKEN = "no_token"


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered with an :class:`OAuth2Emulator`, and what it authenticates with.

    Made by :meth:`OAuth2Emulator.register_client`. The repr shows no secret.

    Attributes:
        client_id, method: the client and its ``token_endpoint_auth_method``.
        client_secret: for ``client_secret_*``.
        private_key_pem, key_path: for ``private_key_jwt`` when the emulator made the key
            (PEM, and a 0600 file holding it); for the mTLS methods, the certificate's key.
        public_jwk, kid, alg: the public key the assertions are checked with.
        cert_path: the client certificate (PEM) of the mTLS methods; ``cert`` is
            ``(cert_path, key_path)``, what ``requests`` takes as ``cert=``.
        subject_dn: the certificate subject ``tls_client_auth`` matches (RFC 4514).
        certificate_bound, dpop_bound: its tokens are bound to its certificate / need DPoP.
        scope: the scopes it may ask for (None: any).
    """

    client_id: str
    method: str
    client_secret: Optional[str] = field(default=None, repr=False)
    private_key_pem: Optional[bytes] = field(default=None, repr=False)
    key_path: Optional[str] = None
    public_jwk: Optional[Dict[str, Any]] = field(default=None, repr=False)
    kid: Optional[str] = None
    alg: Optional[str] = None
    cert_path: Optional[str] = None
    subject_dn: Optional[str] = None
    certificate_bound: bool = False
    dpop_bound: bool = False
    scope: Optional[Tuple[str, ...]] = None
    cert_thumbprint: Optional[str] = field(default=None, repr=False)
    public_key: Any = field(default=None, repr=False, compare=False)

    @property
    def cert(self) -> Optional[Tuple[str, str]]:
        """``(cert_path, key_path)`` for ``requests``' ``cert=``, for the mTLS methods."""
        if self.cert_path is None or self.key_path is None:
            return None
        return (self.cert_path, self.key_path)


@dataclass(frozen=True)
class TokenCall:
    """One request the token endpoint answered (injected faults are not recorded)."""

    client_id: Optional[str]
    method: Optional[str]
    grant_type: Optional[str]
    outcome: str  # "ok" or the RFC 6749 / RFC 9449 error code
    dpop: bool
    path: str
    at: float


@dataclass(frozen=True)
class ApiCall:
    """One request the protected API answered: the scheme it carried, and the outcome."""

    scheme: str  # "Bearer", "DPoP", another scheme as sent, or "none"
    outcome: str  # "ok", or the error code: invalid_token, invalid_dpop_proof, use_dpop_nonce, no_token
    path: str
    proof_jti: Optional[str]
    nonce: Optional[str]
    at: float


@dataclass(frozen=True)
class SeenAssertion:
    """A client assertion the token endpoint accepted."""

    client_id: str
    alg: str
    kid: Optional[str]
    jti: str
    iat: Optional[float]
    exp: float
    aud: Union[str, List[str]]


@dataclass
class _Notes:
    """What a token request turned out to be, filled in as it is checked."""

    client_id: Optional[str] = None
    method: Optional[str] = None
    grant_type: Optional[str] = None


class OAuth2Emulator(ProviderEmulator):
    """A standard OAuth 2.0 authorization server with a protected API, on loopback HTTPS.

    Register clients with :meth:`register_client`, point the client under test at
    :attr:`issuer` (discovery) or ``token_url``, send its API requests to
    ``api_url``, and look at the counters::

        with OAuth2Emulator() as server:
            client = server.register_client("private_key_jwt")
            auth = ClientCredentialsAuth.from_issuer(server.issuer, client.client_id,
                client_auth=PrivateKeyJwt(client.private_key_pem), session=server.api_session())
            server.api_session().get(server.api_url + "things", auth=auth)
            assert server.count_token_calls(method="private_key_jwt", outcome="ok") == 1

    Safe for concurrent use. Settings (plain attributes, read once per request; ``reset()``
    puts them back): ``lifetime``, ``latency``, ``clock`` (see :class:`ProviderEmulator`),
    ``token_dpop_nonce`` / ``api_dpop_nonce`` (require a DPoP nonce at the token endpoint /
    the API), ``nonce_rotation`` (seconds between nonce changes), ``dpop_iat_window``,
    ``max_assertion_lifetime``, ``metadata_overrides`` (members to change in the discovery
    document: another ``issuer`` to test the mix-up defence, a shorter
    ``token_endpoint_auth_methods_supported``...).

    Args:
        ca: a ``trustme.CA`` for the server certificate (and, unless *client_ca*, for the
            certificates of ``tls_client_auth`` clients).
        client_ca: the CA whose client certificates ``tls_client_auth`` accepts, if not *ca*.
        lifetime, latency, clock: as :class:`ProviderEmulator`.
        resource: the ``aud`` of the access tokens (default: the API's URL).
    """

    name = "oauth2"
    token_path = "/token"
    mtls_token_path = "/mtls/token"
    api_path = "/api/"
    jwks_path = "/jwks"
    #: ``/redirect/X`` answers 307 to ``/api/X`` (the same origin), whatever the token.
    redirect_path = "/redirect/"
    metadata_paths = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
    default_lifetime = 3600.0

    token_dpop_nonce: bool
    api_dpop_nonce: bool
    nonce_rotation: float
    dpop_iat_window: float
    max_assertion_lifetime: float
    metadata_overrides: Dict[str, Any]

    def __init__(
        self,
        *,
        ca: Any = None,
        client_ca: Any = None,
        lifetime: Optional[float] = None,
        latency: float = 0.0,
        clock: Clock = time.time,
        resource: Optional[str] = None,
    ) -> None:
        self._jwt = require_jwt("OAuth2Emulator")
        self._client_ca = client_ca
        self._clients: Dict[str, RegisteredClient] = {}
        self._bindings: Dict[str, Dict[str, str]] = {}
        self._seen_jtis: Dict[Tuple[str, str], float] = {}  # (place, jti) → when it may be forgotten
        self._nonces: Dict[str, Tuple[int, str]] = {}  # place → (rotation index, nonce)
        self._token_log: List[TokenCall] = []
        self._api_log: List[ApiCall] = []
        self._assertions: List[SeenAssertion] = []
        self._files = tempfile.mkdtemp(prefix="multiauth-oauth2-")
        super().__init__(tls=True, ca=ca, lifetime=lifetime, latency=latency, clock=clock)
        self.resource = resource or self.api_url

    # -- construction ------------------------------------------------------------------------

    def _make_credentials(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._token_key = ec.generate_private_key(ec.SECP256R1())
        self._token_kid = f"es256-{secrets.token_hex(4)}"
        self._token_jwk = {**_public_jwk(self._token_key.public_key()), "kid": self._token_kid, "alg": "ES256"}

    def _server_options(self) -> Dict[str, Any]:
        return {"client_certs": True, "client_ca": self._client_ca}

    def _reset_settings(self) -> None:
        self.token_dpop_nonce = False
        self.api_dpop_nonce = False
        self.nonce_rotation = NONCE_ROTATION
        self.dpop_iat_window = DPOP_IAT_WINDOW
        self.max_assertion_lifetime = MAX_ASSERTION_LIFETIME
        self.metadata_overrides = {}

    def reset(self) -> None:
        """As :meth:`ProviderEmulator.reset`, and forget the token, API and assertion logs
        and the jtis seen. Registered clients stay."""
        super().reset()
        with self._lock:
            self._token_log.clear()
            self._api_log.clear()
            self._assertions.clear()
            self._seen_jtis.clear()
            self._nonces.clear()

    def stop(self) -> None:
        """Stop serving and delete the keys and certificates written for the clients."""
        super().stop()
        shutil.rmtree(self._files, ignore_errors=True)

    # -- where it is ----------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The issuer identifier: the origin, exactly as the discovery document says it."""
        return self.url

    @property
    def mtls_token_url(self) -> str:
        """The token endpoint's mTLS alias (``mtls_endpoint_aliases.token_endpoint``)."""
        return self.url + self.mtls_token_path

    @property
    def jwks_url(self) -> str:
        return self.url + self.jwks_path

    @property
    def jwks(self) -> Dict[str, Any]:
        """The public keys the access tokens are signed with."""
        return {"keys": [dict(self._token_jwk)]}

    def metadata(self) -> Dict[str, Any]:
        """The discovery document, as served (with ``metadata_overrides`` applied)."""
        document: Dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": self.token_url,
            "jwks_uri": self.jwks_url,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "scopes_supported": [],
            "token_endpoint_auth_methods_supported": list(METHODS),
            "token_endpoint_auth_signing_alg_values_supported": [*HMAC_ALGS, *RSA_ALGS, *EC_ALGS.values(), "EdDSA"],
            "dpop_signing_alg_values_supported": list(DPOP_ALGS),
            "tls_client_certificate_bound_access_tokens": True,
            "mtls_endpoint_aliases": {"token_endpoint": self.mtls_token_url},
        }
        document.update(self.metadata_overrides)
        return document

    # -- clients ----------------------------------------------------------------------------------

    def register_client(
        self,
        method: str = "client_secret_basic",
        *,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        key: Any = None,
        alg: Optional[str] = None,
        kid: Optional[str] = None,
        cert: Union[str, bytes, None] = None,
        subject_dn: Optional[str] = None,
        certificate_bound: Optional[bool] = None,
        dpop_bound: bool = False,
        scope: Optional[Union[str, List[str]]] = None,
    ) -> RegisteredClient:
        """Register a client that authenticates with *method*; returns its record.

        What is not given is made up: a client id, a secret (``client_secret_*``), an EC
        P-256 key pair for ``private_key_jwt`` (or *key*: the client's public or private
        key as PEM, a JWK mapping or a ``cryptography`` key, only its public part is kept),
        a certificate from the server's CA for ``tls_client_auth`` (or *subject_dn*, the
        RFC 4514 subject of the client's own certificate from *client_ca*), a self-signed
        certificate for ``self_signed_tls_client_auth`` (or *cert*, the client's own PEM).

        *certificate_bound* (default: True for the mTLS methods) binds the client's tokens to
        the certificate it presents; *dpop_bound* refuses its token requests without a DPoP
        proof. *scope* limits the scopes it may ask for.
        """
        if method not in METHODS:
            raise ValueError(f"method={method!r} is not one of {', '.join(METHODS)}")
        client_id = client_id or f"client-{secrets.token_hex(6)}"
        if client_id in self._clients:
            raise ValueError(f"a client {client_id!r} is registered already")
        record: Dict[str, Any] = {
            "client_id": client_id,
            "method": method,
            "certificate_bound": method in TLS_METHODS if certificate_bound is None else certificate_bound,
            "dpop_bound": dpop_bound,
            "scope": tuple(scope.split() if isinstance(scope, str) else scope) if scope is not None else None,
        }
        if method.startswith("client_secret_"):
            record["client_secret"] = client_secret or secrets.token_urlsafe(32)
            if method == "client_secret_jwt":
                record["alg"] = alg or "HS256"
        elif method == "private_key_jwt":
            record.update(self._assertion_key(client_id, key, alg, kid))
        elif method == "tls_client_auth":
            record.update(self._ca_client_certificate(client_id, subject_dn))
        else:
            record.update(self._self_signed_certificate(client_id, cert))
        client = RegisteredClient(**record)
        with self._lock:
            self._clients[client_id] = client
        return client

    def client(self, client_id: str) -> RegisteredClient:
        """The registered client *client_id* (KeyError if there is none)."""
        with self._lock:
            return self._clients[client_id]

    def _write_private(self, name: str, data: bytes) -> str:
        path = os.path.join(self._files, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return path

    def _assertion_key(self, client_id: str, key: Any, alg: Optional[str], kid: Optional[str]) -> Dict[str, Any]:
        from cryptography.hazmat.primitives.asymmetric import ec

        made: Dict[str, Any] = {}
        if key is None:
            private = ec.generate_private_key(ec.SECP256R1())
            made["private_key_pem"] = _private_pem(private)
            made["key_path"] = self._write_private(f"{client_id}-key.pem", made["private_key_pem"])
            public = private.public_key()
        else:
            public = _public_key(self._jwt, key)
        algs = _algs_for(public)
        if alg is not None and alg not in algs:
            raise ValueError(f"alg={alg!r} does not fit the client's key (use one of {', '.join(algs)})")
        kid = kid or f"{client_id}-{secrets.token_hex(3)}"
        return {
            **made,
            "public_key": public,
            "public_jwk": {**_public_jwk(public), "kid": kid},
            "kid": kid,
            "alg": alg or algs[0],
        }

    def _ca_client_certificate(self, client_id: str, subject_dn: Optional[str]) -> Dict[str, Any]:
        if subject_dn is not None:
            return {"subject_dn": subject_dn}
        if self._client_ca is not None:
            raise ValueError("tls_client_auth with client_ca: pass the subject_dn of the client's certificate")
        from cryptography import x509

        leaf = self.server.ca.issue_cert(f"{client_id}.clients.test", common_name=client_id)
        pem = leaf.cert_chain_pems[0].bytes()
        cert_path = os.path.join(self._files, f"{client_id}.pem")
        with open(cert_path, "wb") as handle:
            handle.write(pem)
        certificate = x509.load_pem_x509_certificate(pem)
        return {
            "cert_path": cert_path,
            "key_path": self._write_private(f"{client_id}-key.pem", leaf.private_key_pem.bytes()),
            "private_key_pem": leaf.private_key_pem.bytes(),
            "subject_dn": certificate.subject.rfc4514_string(),
            "cert_thumbprint": _der_thumbprint(_der(certificate)),
        }

    def _self_signed_certificate(self, client_id: str, cert: Union[str, bytes, None]) -> Dict[str, Any]:
        from cryptography import x509

        made: Dict[str, Any] = {}
        if cert is None:
            certificate, private = _make_self_signed(client_id)
            made["private_key_pem"] = _private_pem(private)
            made["key_path"] = self._write_private(f"{client_id}-key.pem", made["private_key_pem"])
            pem = _pem(certificate)
        else:
            pem = cert.encode("ascii") if isinstance(cert, str) else cert
            certificate = x509.load_pem_x509_certificate(pem)
        cert_path = os.path.join(self._files, f"{client_id}.pem")
        with open(cert_path, "wb") as handle:
            handle.write(pem)
        self.server.trust_client_certificate(pem)  # the handshake accepts it; the method checks it is this one
        return {
            **made,
            "cert_path": cert_path,
            "public_jwk": _public_jwk(certificate.public_key()),
            "cert_thumbprint": _der_thumbprint(_der(certificate)),
        }

    # -- a convenience for the library's own auths ------------------------------------------------------

    def auth(self, client: Optional[RegisteredClient] = None, **options: Any) -> Any:
        """A ``ClientCredentialsAuth`` for *client* (default: a new ``client_secret_basic``
        one), authenticating the way it was registered, pointed at this emulator (the mTLS
        alias for the mTLS methods) and on its clock. *options* go to ``ClientCredentialsAuth``
        (``dpop=``, ``scope=``, ``client_auth=`` to override the method object...).

        Raises:
            NotImplementedError: this version of the library lacks the method's class.
            ValueError: a ``private_key_jwt`` client registered with your own key
                (the emulator has no private key to sign with): pass ``client_auth=``.
        """
        import requests_multiauth as package

        client = client or self.register_client("client_secret_basic")
        if "client_auth" not in options:
            options["client_auth"] = _client_auth_for(package, client)
        token_url = self.mtls_token_url if client.method in TLS_METHODS else self.token_url
        if client.cert is not None:
            options.setdefault("session", self.api_session(cert=client.cert))
        secret: Any = client.client_secret  # None for the methods that need no secret
        return package.ClientCredentialsAuth(client.client_id, secret, token_url, **self._auth_options(options))

    def api_session(self, *, cert: Optional[Tuple[str, str]] = None) -> Any:
        """As :meth:`ProviderEmulator.api_session`; with *cert* (a client's ``cert``), the
        session presents that certificate on every connection, as a certificate-bound token
        needs when the auth is used as plain ``session.auth``."""
        session = super().api_session()
        if cert is not None:
            session.cert = cert
        return session

    # -- what tests look at --------------------------------------------------------------------------

    def token_log(self) -> List[TokenCall]:
        """Every token request answered (not the injected faults), in order."""
        with self._lock:
            return list(self._token_log)

    def api_log(self) -> List[ApiCall]:
        """Every API request answered, in order."""
        with self._lock:
            return list(self._api_log)

    def assertions(self) -> List[SeenAssertion]:
        """The client assertions the token endpoint accepted, in order."""
        with self._lock:
            return list(self._assertions)

    def count_token_calls(
        self,
        *,
        client_id: Optional[str] = None,
        method: Optional[str] = None,
        grant_type: Optional[str] = None,
        outcome: Optional[str] = None,
        dpop: Optional[bool] = None,
    ) -> int:
        """Token requests answered that match every criterion given."""
        wanted = {"client_id": client_id, "method": method, "grant_type": grant_type, "outcome": outcome, "dpop": dpop}
        return sum(
            all(value is None or getattr(call, name) == value for name, value in wanted.items())
            for call in self.token_log()
        )

    def count_api_calls(self, *, scheme: Optional[str] = None, outcome: Optional[str] = None) -> int:
        """API requests answered that match every criterion given."""
        return sum(
            (scheme is None or call.scheme == scheme) and (outcome is None or call.outcome == outcome)
            for call in self.api_log()
        )

    @property
    def assertion_replays(self) -> int:
        """Client assertions refused because their ``jti`` was seen before."""
        return self._count("assertion_replay")

    @property
    def dpop_replays(self) -> int:
        """DPoP proofs refused (token endpoint or API) because their ``jti`` was seen before."""
        return self._count("dpop_replay")

    @property
    def nonce_challenges(self) -> Dict[str, int]:
        """``use_dpop_nonce`` answers sent, by place (``token``, ``api``)."""
        return {"token": self._count("nonce_token"), "api": self._count("nonce_api")}

    def nonce(self, place: str = "api") -> str:
        """The DPoP nonce *place* (``token`` or ``api``) requires now."""
        index = int(self.clock() // self.nonce_rotation) if self.nonce_rotation > 0 else 0
        with self._lock:
            current = self._nonces.get(place)
            if current is None or current[0] != index:
                current = (index, secrets.token_urlsafe(16))
                self._nonces[place] = current
            return current[1]

    # -- the request flow ---------------------------------------------------------------------------

    def _is_api(self, path: str) -> bool:
        return path.startswith(self.api_path)

    def _handle(self, request: Request) -> Reply:
        handle: Callable[[Request], Reply]
        if request.path in self.metadata_paths:
            self._bump("metadata")
            return Reply(200, self.metadata())
        if request.path == self.jwks_path:
            return Reply(200, self.jwks)
        if request.path.startswith(self.redirect_path):
            # 307 keeps the method and the body: a DPoP client must make a new proof for the new URL.
            query = "&".join(f"{name}={value}" for name, values in request.query.items() for value in values)
            location = self.api_path + request.path[len(self.redirect_path) :] + (f"?{query}" if query else "")
            return Reply(307, None, {"Location": location})
        if request.path in (self.token_path, self.mtls_token_path):
            place, handle = "token", self._token
        elif self._is_api(request.path):
            place, handle = "api", self._api
        else:
            return Reply(404, {"error": "not_found", "error_description": f"no such path: {request.path}"})
        self._bump(place)
        if place == "token" and self.latency > 0:
            time.sleep(self.latency)
        fault = self._take_fault(place)
        if fault is not None:
            return fault
        try:
            return handle(request)
        except Refusal as refusal:
            return refusal.reply

    @property
    def metadata_calls(self) -> int:
        """Requests for the discovery document."""
        return self._count("metadata")

    def _sign(self, claims: Mapping[str, Any]) -> str:
        signed: str = self._jwt.encode(
            dict(claims), self._token_key, algorithm="ES256", headers={"kid": self._token_kid, "typ": "at+jwt"}
        )
        return signed

    # -- the token endpoint ---------------------------------------------------------------------------

    def _token(self, request: Request) -> Reply:
        notes = _Notes()
        endpoint = self.url + request.path  # the token endpoint or its mTLS alias
        try:
            reply = self._token_answer(request, notes, endpoint)
        except Refusal as refusal:
            reply = refusal.reply
        outcome = "ok" if reply.status == 200 else _error_of(reply)
        call = TokenCall(
            notes.client_id,
            notes.method,
            notes.grant_type,
            outcome,
            "DPoP" in request.headers,
            request.path,
            self.clock(),
        )
        with self._lock:
            self._token_log.append(call)
        return reply

    def _token_answer(self, request: Request, notes: _Notes, endpoint: str) -> Reply:
        self._require_method(request, "POST")
        form = oauth_form(request)
        client = self._authenticate(request, form, notes, endpoint)
        notes.grant_type = form.get("grant_type")
        if notes.grant_type is None:
            raise oauth_refusal("invalid_request", "grant_type is missing")
        if notes.grant_type != "client_credentials":
            raise oauth_refusal("unsupported_grant_type", f"grant_type {notes.grant_type} is not supported")
        requested = form.get("scope", "").split()
        if client.scope is not None:
            for scope in requested:
                if scope not in client.scope:
                    raise oauth_refusal("invalid_scope", f"scope {scope} is not allowed for this client")
        cnf: Dict[str, str] = {}
        headers: Dict[str, str] = {}
        if "DPoP" in request.headers:
            proof = self._check_proof(request, endpoint, place="token")
            cnf["jkt"] = proof
        elif client.dpop_bound:
            raise oauth_refusal("invalid_request", "this client's tokens are DPoP-bound: send a DPoP proof")
        if self.token_dpop_nonce and "DPoP" in request.headers:
            headers["DPoP-Nonce"] = self.nonce("token")
        if client.certificate_bound:
            if request.client_cert is None:
                raise oauth_refusal("invalid_request", "certificate-bound tokens need a client certificate")
            cnf["x5t#S256"] = _der_thumbprint(request.client_cert)
        claims: Dict[str, Any] = {
            "iss": self.issuer,
            "aud": form.get("resource", self.resource),
            "client_id": client.client_id,
        }
        if cnf:
            claims["cnf"] = cnf
        token, _ = self._issue(client.client_id, claims=claims, scope=" ".join(requested) or None)
        if cnf:
            with self._lock:
                self._bindings[token] = cnf
        answer: Dict[str, Any] = {
            "access_token": token,
            "token_type": "DPoP" if "jkt" in cnf else "Bearer",
            "expires_in": seconds(self.lifetime),
        }
        if requested:
            answer["scope"] = " ".join(requested)
        headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        return Reply(200, answer, headers)

    def _authenticate(
        self, request: Request, form: Mapping[str, str], notes: _Notes, endpoint: str
    ) -> RegisteredClient:
        """The client the request authenticates, by the one method it was registered with."""
        basic = basic_credentials(request)
        presented = [basic is not None, "client_assertion" in form, "client_secret" in form]
        if sum(presented) > 1:
            raise oauth_refusal("invalid_request", "use exactly one client authentication method")
        client_id = form.get("client_id")
        if basic is not None:
            methods: Tuple[str, ...] = ("client_secret_basic",)
            basic_id, secret = unquote_plus(basic[0]), unquote_plus(basic[1])
            if client_id is not None and client_id != basic_id:
                raise oauth_refusal("invalid_request", "client_id differs from the Basic credentials")
            client_id = basic_id
        elif "client_assertion" in form:
            methods = ("client_secret_jwt", "private_key_jwt")
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise oauth_refusal("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
            try:
                subject = self._jwt.decode(form["client_assertion"], options={"verify_signature": False}).get("sub")
            except self._jwt.InvalidTokenError:
                raise _invalid_client("the client assertion is not a JWT") from None
            if client_id is not None and client_id != subject:
                raise oauth_refusal("invalid_request", "client_id differs from the assertion's sub")
            client_id = subject if isinstance(subject, str) else None
        elif "client_secret" in form:
            methods = ("client_secret_post",)
        else:
            methods = TLS_METHODS
        notes.client_id = client_id
        if not client_id:
            raise oauth_refusal("invalid_request", "no client authentication")
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise _invalid_client("unknown client")
        notes.method = client.method
        if client.method not in methods:
            raise _invalid_client(f"the client is registered for {client.method}")
        if client.method == "client_secret_basic":
            self._check_secret(client, secret)
        elif client.method == "client_secret_post":
            self._check_secret(client, form["client_secret"])
        elif client.method in ("client_secret_jwt", "private_key_jwt"):
            self._check_assertion(client, form["client_assertion"], endpoint)
        else:
            self._check_certificate(client, request)
        return client

    @staticmethod
    def _check_secret(client: RegisteredClient, given: str) -> None:
        import hmac

        expected = client.client_secret or ""
        if not expected or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            raise _invalid_client("wrong client secret")

    def _check_assertion(self, client: RegisteredClient, assertion: str, endpoint: str) -> None:
        """RFC 7523 §3, with the checks of the current rfc7523bis draft: signed by the
        client's key (or secret), for this server, short-lived, never seen before."""
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            raise _invalid_client("the client assertion is not a JWS") from None
        alg = header.get("alg")
        if client.method == "client_secret_jwt":
            allowed: Tuple[str, ...] = HMAC_ALGS
            key: Any = client.client_secret
        else:
            allowed = _algs_for(client.public_key)
            key = client.public_key
        if alg not in allowed:
            raise _invalid_client(f"alg {alg} does not fit the client's key")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            raise _invalid_client("the client assertion's signature does not verify") from None
        now = self.clock()
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise _invalid_client("iss and sub must be the client_id")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        accepted = {endpoint, self.token_url, self.issuer}
        if not isinstance(audiences, list) or not accepted.intersection(a for a in audiences if isinstance(a, str)):
            raise _invalid_client("aud must be the token endpoint or the issuer")
        exp, iat, nbf, jti = claims.get("exp"), claims.get("iat"), claims.get("nbf"), claims.get("jti")
        if not isinstance(exp, (int, float)) or exp <= now:
            raise _invalid_client("the client assertion has expired or has no exp")
        if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now):
            raise _invalid_client("the client assertion is not valid yet (nbf)")
        if iat is not None and not isinstance(iat, (int, float)):
            raise _invalid_client("iat must be a number")
        if exp - (iat if iat is not None else now) > self.max_assertion_lifetime:
            raise _invalid_client(f"the client assertion lives longer than {self.max_assertion_lifetime:g} s")
        if not isinstance(jti, str) or not jti:
            raise _invalid_client("the client assertion has no jti")
        if not self._first_use("assertion:" + client.client_id, jti, until=exp):
            self._bump("assertion_replay")
            raise _invalid_client("the client assertion was used before (jti replayed)")
        seen = SeenAssertion(client.client_id, alg, header.get("kid"), jti, iat, exp, claims["aud"])
        with self._lock:
            self._assertions.append(seen)

    def _check_certificate(self, client: RegisteredClient, request: Request) -> None:
        """RFC 8705 §2: the TLS handshake verified the chain (or that a registered
        self-signed certificate was presented); the subject or the certificate must be the client's."""
        if request.client_cert is None:
            raise _invalid_client("no client certificate was presented")
        if client.method == "self_signed_tls_client_auth":
            if _der_thumbprint(request.client_cert) != client.cert_thumbprint:
                raise _invalid_client("not the client's registered certificate")
            return
        from cryptography import x509

        subject = x509.load_der_x509_certificate(request.client_cert).subject.rfc4514_string()
        if subject != client.subject_dn:
            raise _invalid_client("the certificate's subject is not the client's")

    def _first_use(self, place: str, jti: str, *, until: float) -> bool:
        """Remember *jti* at *place* until *until*; False if it was seen there before."""
        now = self.clock()
        with self._lock:
            if len(self._seen_jtis) > 10000:
                for key in [k for k, forget_at in self._seen_jtis.items() if forget_at < now]:
                    del self._seen_jtis[key]
            if (place, jti) in self._seen_jtis:
                return False
            self._seen_jtis[(place, jti)] = until
            return True

    # -- DPoP proofs (RFC 9449 §4.3) ----------------------------------------------------------------------

    def _check_proof(self, request: Request, url: str, *, place: str, token: Optional[str] = None) -> str:
        """The thumbprint of the key that signed the request's valid DPoP proof, or a refusal."""
        jwt = self._jwt
        proof = request.headers.get("DPoP", "")
        refuse = _proof_refusal(place)
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.InvalidTokenError:
            raise refuse("invalid_dpop_proof", "the DPoP proof is not a JWS") from None
        if header.get("typ") != "dpop+jwt":
            raise refuse("invalid_dpop_proof", "typ must be dpop+jwt")
        alg = header.get("alg")
        if alg not in DPOP_ALGS:
            raise refuse("invalid_dpop_proof", f"alg {alg} is not accepted")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or any(member in jwk for member in PRIVATE_JWK_MEMBERS):
            raise refuse("invalid_dpop_proof", "jwk must be a public key")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
            claims = jwt.decode(
                proof,
                key,
                algorithms=[alg],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError, TypeError):
            raise refuse("invalid_dpop_proof", "the DPoP proof's signature does not verify with its jwk") from None
        if claims.get("htm") != request.method:
            raise refuse("invalid_dpop_proof", "htm is not the request's method")
        if not _same_target(claims.get("htu"), url):
            raise refuse("invalid_dpop_proof", "htu is not the request's URL (without query and fragment)")
        iat = claims.get("iat")
        now = self.clock()
        if not isinstance(iat, (int, float)) or abs(now - iat) > self.dpop_iat_window:
            raise refuse("invalid_dpop_proof", "iat is missing or too far from the server's time")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise refuse("invalid_dpop_proof", "jti is missing")
        if token is not None and claims.get("ath") != b64url(hashlib.sha256(token.encode("ascii")).digest()):
            raise refuse("invalid_dpop_proof", "ath is not the hash of the access token")
        if self.token_dpop_nonce if place == "token" else self.api_dpop_nonce:
            nonce = self.nonce(place)
            if claims.get("nonce") != nonce:
                self._bump("nonce_" + place)
                raise refuse("use_dpop_nonce", "a fresh DPoP nonce is required", nonce=nonce)
        if not self._first_use("dpop:" + place, jti, until=now + 2 * self.dpop_iat_window):
            self._bump("dpop_replay")
            raise refuse("invalid_dpop_proof", "the DPoP proof was used before (jti replayed)")
        return jwk_thumbprint(jwk)

    # -- the protected API ------------------------------------------------------------------------------------

    def _api(self, request: Request) -> Reply:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        shown = {"bearer": "Bearer", "dpop": "DPoP"}.get(scheme.lower(), scheme or "none")
        proof_notes: Dict[str, Optional[str]] = {"jti": None, "nonce": None}
        try:
            issued = self._authorize(request, shown, token.strip(), proof_notes)
            reply = Reply(200, {**self._api_answer(request, issued), "scheme": shown, "client_id": issued.subject})
            if shown == "DPoP" and self.api_dpop_nonce:
                reply.headers["DPoP-Nonce"] = self.nonce("api")
            outcome = "ok"
        except Refusal as refusal:
            reply = refusal.reply
            outcome = _error_of(reply) if reply.body else NO_TOKEN
        call = ApiCall(shown, outcome, request.path, proof_notes["jti"], proof_notes["nonce"], self.clock())
        with self._lock:
            self._api_log.append(call)
        return reply

    def _authorize(self, request: Request, scheme: str, token: str, notes: Dict[str, Optional[str]]) -> Any:
        if scheme == "none" or not token:
            raise Refusal(Reply(401, None, {"WWW-Authenticate": _challenges()}))
        if scheme not in ("Bearer", "DPoP"):
            raise _api_refusal("Bearer", "invalid_request", f"the {scheme} scheme is not accepted")
        with self._lock:
            issued = self._tokens.get(token)
            binding = dict(self._bindings.get(token, {}))
        reason = UNKNOWN if issued is None else REVOKED if issued.revoked else None
        if issued is not None and issued.expires_at is not None and self.clock() >= issued.expires_at:
            reason = EXPIRED
        if reason is not None or issued is None:
            raise _api_refusal(scheme, "invalid_token", f"the access token is {reason}")
        if "jkt" in binding and scheme != "DPoP":
            raise _api_refusal("DPoP", "invalid_token", "a DPoP-bound token must be sent with the DPoP scheme")
        if scheme == "DPoP":
            if "jkt" not in binding:
                raise _api_refusal("DPoP", "invalid_token", "the token is not DPoP-bound: send it as Bearer")
            with_proof = request.headers.get("DPoP")
            if not with_proof:
                raise _api_refusal("DPoP", "invalid_dpop_proof", "a DPoP proof is required")
            notes["jti"], notes["nonce"] = _proof_fields(self._jwt, with_proof)
            thumbprint = self._check_proof(request, self.url + request.path, place="api", token=token)
            if thumbprint != binding["jkt"]:
                raise _api_refusal("DPoP", "invalid_token", "the proof's key is not the one the token is bound to")
        if "x5t#S256" in binding and (
            request.client_cert is None or _der_thumbprint(request.client_cert) != binding["x5t#S256"]
        ):
            raise _api_refusal(scheme, "invalid_token", "the token is bound to a certificate not presented")
        return issued


# -- helpers -----------------------------------------------------------------------------------------------------


def _client_auth_for(package: Any, client: RegisteredClient) -> Any:
    """The library's ``client_auth=`` for a registered client."""
    if client.method == "client_secret_basic":
        return "basic"
    if client.method == "client_secret_post":
        return "post"
    names = {"client_secret_jwt": "ClientSecretJwt", "private_key_jwt": "PrivateKeyJwt"}
    factory = getattr(package, names.get(client.method, "TlsClientAuth"), None)
    if factory is None:
        raise NotImplementedError(f"this version of requests_multiauth cannot authenticate with {client.method}")
    if client.method == "client_secret_jwt":
        return factory(alg=client.alg or "HS256")
    if client.method == "private_key_jwt":
        if client.private_key_pem is None:
            raise ValueError("the client was registered with your own key: pass client_auth=PrivateKeyJwt(your_key)")
        return factory(client.private_key_pem, kid=client.kid)
    return factory(client.cert_path, client.key_path, self_signed=client.method == "self_signed_tls_client_auth")


def _invalid_client(why: str) -> Refusal:
    return oauth_refusal("invalid_client", why, status=401)


def _error_of(reply: Reply) -> str:
    body = reply.body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"http_{reply.status}"


def _challenges() -> str:
    return f'Bearer realm="api", DPoP algs="{" ".join(DPOP_ALGS)}"'


def _api_refusal(scheme: str, error: str, description: str, *, nonce: Optional[str] = None) -> Refusal:
    """RFC 6750 §3 / RFC 9449 §7.1: 401 with a challenge naming the error."""
    params = f'error="{error}", error_description="{description}"'
    algs = " ".join(DPOP_ALGS)
    challenge = f'DPoP {params}, algs="{algs}"' if scheme == "DPoP" else f'Bearer realm="api", {params}'
    headers = {"WWW-Authenticate": challenge}
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce
    return Refusal(Reply(401, {"error": error, "error_description": description}, headers))


def _proof_refusal(place: str) -> Callable[..., Refusal]:
    def refuse(error: str, description: str, *, nonce: Optional[str] = None) -> Refusal:
        if place == "api":
            return _api_refusal("DPoP", error, description, nonce=nonce)
        headers = {"DPoP-Nonce": nonce} if nonce is not None else {}
        return Refusal(Reply(400, {"error": error, "error_description": description}, headers))

    return refuse


def _proof_fields(jwt: Any, proof: str) -> Tuple[Optional[str], Optional[str]]:
    """The jti and nonce a proof claims, unverified (for the log)."""
    try:
        claims = jwt.decode(proof, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None, None
    jti, nonce = claims.get("jti"), claims.get("nonce")
    return (jti if isinstance(jti, str) else None, nonce if isinstance(nonce, str) else None)


def _same_target(htu: Any, url: str) -> bool:
    """RFC 9449 §4.3: htu equals the request URL without query and fragment (scheme and host
    compared case-insensitively)."""
    if not isinstance(htu, str) or "?" in htu or "#" in htu:
        return False
    given, expected = urlsplit(htu), urlsplit(url)
    return (given.scheme.lower(), given.netloc.lower(), given.path or "/") == (
        expected.scheme.lower(),
        expected.netloc.lower(),
        expected.path or "/",
    )


def _der(certificate: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    data: bytes = certificate.public_bytes(Encoding.DER)
    return data


def _pem(certificate: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    data: bytes = certificate.public_bytes(Encoding.PEM)
    return data


def _der_thumbprint(der: bytes) -> str:
    """``x5t#S256``: base64url SHA-256 of the certificate's DER (RFC 8705 §3.1)."""
    return b64url(hashlib.sha256(der).digest())


def _private_pem(private_key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    data: bytes = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return data


def _public_key(jwt: Any, key: Any) -> Any:
    """The public half of a key given as PEM (public or private), a JWK mapping or a ``cryptography`` key."""
    from cryptography.hazmat.primitives import serialization

    if isinstance(key, Mapping):
        loaded = jwt.PyJWK(dict(key)).key
    elif isinstance(key, (str, bytes)):
        data = key.encode("ascii") if isinstance(key, str) else key
        try:
            loaded = serialization.load_pem_public_key(data)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    else:
        loaded = key
    return loaded.public_key() if hasattr(loaded, "private_bytes") else loaded


def _algs_for(public: Any) -> Tuple[str, ...]:
    """The JWS algorithms a public key verifies, the usual one first."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public, rsa.RSAPublicKey):
        return RSA_ALGS
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in EC_ALGS:
        return (EC_ALGS[public.curve.name],)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return ("EdDSA",)
    raise ValueError(f"a {type(public).__name__} cannot sign client assertions")


def _public_jwk(public: Any) -> Dict[str, Any]:
    """The public JWK of a ``cryptography`` public key (PyJWT's encoders)."""
    import json

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise ValueError(f"no JWK for a {type(public).__name__}")
    result: Dict[str, Any] = json.loads(json.dumps(jwk))
    return result


def _make_self_signed(common_name: str) -> Tuple[Any, Any]:
    """A self-signed client certificate (EC P-256, one day) and its key."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key
