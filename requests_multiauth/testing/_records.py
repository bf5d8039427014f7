"""What an :class:`~requests_multiauth.testing.OAuth2Emulator` logs: frozen records, no logic.

A test reads them through ``token_log()``, ``api_log()`` and ``assertions()``, or counts them
with ``count_token_calls()`` and ``count_api_calls()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Union

__all__ = ["ApiCall", "SeenAssertion", "TokenCall"]


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
