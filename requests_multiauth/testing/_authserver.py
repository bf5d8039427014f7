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

What this module owns is the server's state and the order of its checks: the clients
registered, the nonces and ``jti`` values seen, the logs, and how a token request and an API
request travel through them. The checks that need no state live beside it: client
authentication in :mod:`._clients`, DPoP proofs and API challenges in :mod:`._proofs`,
keys and certificates in :mod:`._crypto`, the log records in :mod:`._records`. It stays
over 500 lines because it is one protocol's state machine (token endpoint, API, discovery
and their shared state); splitting it further would spread one request's path over files.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .._jose import require_jwt
from ._clients import (
    METHODS,
    SECRET_METHODS,
    TLS_METHODS,
    RegisteredClient,
    assertion_key,
    ca_client_certificate,
    check_certificate,
    check_secret,
    client_auth_for,
    invalid_client,
    presented_credentials,
    self_signed_client_certificate,
    verified_assertion,
)
from ._crypto import EC_ALGS, HMAC_ALGS, RSA_ALGS, der_thumbprint, public_jwk
from ._emulator import EXPIRED, REVOKED, UNKNOWN, Clock, ProviderEmulator
from ._proofs import DPOP_ALGS, api_refusal, challenges, proof_fields, proof_refusal, verified_proof
from ._records import ApiCall, SeenAssertion, TokenCall
from ._server import Reply, Request
from ._wire import Refusal, oauth_form, oauth_refusal, seconds

__all__ = ["OAuth2Emulator"]

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
        self._token_jwk = {**public_jwk(self._token_key.public_key()), "kid": self._token_kid, "alg": "ES256"}

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
            record.update(assertion_key(self._jwt, self._files, client_id, key, alg, kid))
        elif method == "tls_client_auth":
            record.update(self._ca_client_certificate(client_id, subject_dn))
        else:
            made, pem = self_signed_client_certificate(self._files, client_id, cert)
            self.server.trust_client_certificate(pem)  # the handshake accepts it; the method checks it is this one
            record.update(made)
        client = RegisteredClient(**record)
        with self._lock:
            self._clients[client_id] = client
        return client

    def client(self, client_id: str) -> RegisteredClient:
        """The registered client *client_id* (KeyError if there is none)."""
        with self._lock:
            return self._clients[client_id]

    def _ca_client_certificate(self, client_id: str, subject_dn: Optional[str]) -> Dict[str, Any]:
        if subject_dn is not None:
            return {"subject_dn": subject_dn}
        if self._client_ca is not None:
            raise ValueError("tls_client_auth with client_ca: pass the subject_dn of the client's certificate")
        return ca_client_certificate(self.server.ca, self._files, client_id)

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
            options["client_auth"] = client_auth_for(package, client)
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
            return self._serve("token", self._token, request)
        if self._is_api(request.path):
            return self._serve("api", self._api, request)
        return Reply(404, {"error": "not_found", "error_description": f"no such path: {request.path}"})

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
            cnf["x5t#S256"] = der_thumbprint(request.client_cert)
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
        methods, client_id, secret = presented_credentials(self._jwt, request, form)
        notes.client_id = client_id
        if not client_id:
            raise oauth_refusal("invalid_request", "no client authentication")
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise invalid_client("unknown client")
        notes.method = client.method
        if client.method not in methods:
            raise invalid_client(f"the client is registered for {client.method}")
        if client.method in SECRET_METHODS:
            check_secret(client, secret or "")
        elif client.method in TLS_METHODS:
            check_certificate(client, request)
        else:
            self._check_assertion(client, form["client_assertion"], endpoint)
        return client

    def _check_assertion(self, client: RegisteredClient, assertion: str, endpoint: str) -> None:
        """A valid client assertion (see :func:`._clients.verified_assertion`) whose ``jti``
        was never seen before; it joins :meth:`assertions`."""
        header, claims = verified_assertion(
            self._jwt,
            client,
            assertion,
            audiences=(endpoint, self.token_url, self.issuer),
            now=self.clock(),
            max_lifetime=self.max_assertion_lifetime,
        )
        jti, exp = claims["jti"], claims["exp"]
        if not self._first_use("assertion:" + client.client_id, jti, until=exp):
            self._bump("assertion_replay")
            raise invalid_client("the client assertion was used before (jti replayed)")
        seen = SeenAssertion(
            client.client_id, header["alg"], header.get("kid"), jti, claims.get("iat"), exp, claims["aud"]
        )
        with self._lock:
            self._assertions.append(seen)

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
        """The thumbprint of the key that signed the request's valid DPoP proof, or a refusal:
        :func:`._proofs.verified_proof`, then the nonce *place* requires and the ``jti`` replay."""
        refuse = proof_refusal(place)
        now = self.clock()
        thumbprint, claims = verified_proof(
            self._jwt, request, url, now=now, iat_window=self.dpop_iat_window, token=token, refuse=refuse
        )
        if self.token_dpop_nonce if place == "token" else self.api_dpop_nonce:
            nonce = self.nonce(place)
            if claims.get("nonce") != nonce:
                self._bump("nonce_" + place)
                raise refuse("use_dpop_nonce", "a fresh DPoP nonce is required", nonce=nonce)
        if not self._first_use("dpop:" + place, claims["jti"], until=now + 2 * self.dpop_iat_window):
            self._bump("dpop_replay")
            raise refuse("invalid_dpop_proof", "the DPoP proof was used before (jti replayed)")
        return thumbprint

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
            raise Refusal(Reply(401, None, {"WWW-Authenticate": challenges()}))
        if scheme not in ("Bearer", "DPoP"):
            raise api_refusal("Bearer", "invalid_request", f"the {scheme} scheme is not accepted")
        with self._lock:
            issued = self._tokens.get(token)
            binding = dict(self._bindings.get(token, {}))
        reason = UNKNOWN if issued is None else REVOKED if issued.revoked else None
        if issued is not None and issued.expires_at is not None and self.clock() >= issued.expires_at:
            reason = EXPIRED
        if reason is not None or issued is None:
            raise api_refusal(scheme, "invalid_token", f"the access token is {reason}")
        if "jkt" in binding and scheme != "DPoP":
            raise api_refusal("DPoP", "invalid_token", "a DPoP-bound token must be sent with the DPoP scheme")
        if scheme == "DPoP":
            if "jkt" not in binding:
                raise api_refusal("DPoP", "invalid_token", "the token is not DPoP-bound: send it as Bearer")
            with_proof = request.headers.get("DPoP")
            if not with_proof:
                raise api_refusal("DPoP", "invalid_dpop_proof", "a DPoP proof is required")
            notes["jti"], notes["nonce"] = proof_fields(self._jwt, with_proof)
            thumbprint = self._check_proof(request, self.url + request.path, place="api", token=token)
            if thumbprint != binding["jkt"]:
                raise api_refusal("DPoP", "invalid_token", "the proof's key is not the one the token is bound to")
        if "x5t#S256" in binding and (
            request.client_cert is None or der_thumbprint(request.client_cert) != binding["x5t#S256"]
        ):
            raise api_refusal(scheme, "invalid_token", "the token is bound to a certificate not presented")
        return issued


# -- helpers -----------------------------------------------------------------------------------------------------


def _error_of(reply: Reply) -> str:
    body = reply.body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"http_{reply.status}"
