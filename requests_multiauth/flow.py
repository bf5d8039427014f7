"""The one request flow every auth of the package shares: header, response hook, 401 replay.

A request goes::

    auth(request)        HTTPS check, then a token from the auth's source (the
                         TokenManager of engine/manager.py, or a static token),
                         presented by its presenter (presentation.py), response
                         hook bound to that token
    adapter sends it     (requests, or an AuthAdapter that calls authorize and
                         replay_once itself)
    hook(response)       every answer shown to the presenter (DPoP nonces); a 401
                         for our token: a new token (only that one is given up),
                         the body rewound, one replay via the same adapter
                         (transport/replay.py decides whether it may); a redirect:
                         the presenter readies the next hop

With ``dpop=``, a 401 that only asks for a DPoP nonce is replayed once with
the same token and a new proof, through the same replay path. A source that
cannot renew (:class:`~requests_multiauth.StaticTokenAuth`) returns the 401
with a logged hint.

Where the request goes next: the caller gets the final response.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Tuple

import requests
from requests.auth import AuthBase

from ._display import Rows, pretty, render_html
from .transport import replay as _replay
from .transport.headers import keep_token_header
from .transport.urls import check_transport, safe_url

if TYPE_CHECKING:
    from .presentation import Presenter
    from .telemetry import AuthTelemetry
    from .token import Token

__all__ = ["MAX_NONCE_REPLAYS", "RequestFlow"]

log = logging.getLogger("requests_multiauth")

#: How many DPoP nonce challenges one request answers at most, each with a nonce
#: other than the one it sent: a server that rotates its nonce every few seconds
#: may rotate it again while the first replay is on its way.
MAX_NONCE_REPLAYS = 2


class RequestFlow(AuthBase):
    """The one request flow of every auth of the package. Safe for concurrent use.

    ``auth(request)`` checks HTTPS, gets a token from the auth's source
    (:meth:`_token`), lets the presenter (:mod:`requests_multiauth.presentation`)
    put it on the request and binds the response hook to that token; the hook
    shows every answer to the presenter, answers a 401 through
    :meth:`replay_once`, and readies a redirect's next hop. A subclass says
    only where tokens come from: :meth:`_token`, :meth:`_renewed` and
    :meth:`_drop`, or ``_renews = False`` for a source that cannot renew (its
    401s are returned, and :meth:`_not_replayed` says why).
    """

    #: Whether a 401 to our token can be answered with a new one.
    _renews: bool = True

    _presenter: Presenter
    allow_insecure_loopback: bool
    telemetry: AuthTelemetry

    @property
    def header_name(self) -> str:
        """The header that carries the token (``Authorization`` unless a custom one was given)."""
        return self._presenter.header_name

    @property
    def presenter(self) -> Presenter:
        """How tokens go on requests: what :class:`~requests_multiauth.AuthAdapter` and
        :class:`~requests_multiauth.MultiAuthSession` ask about headers and responses."""
        return self._presenter

    @property
    def response_observer(self) -> Optional[Callable[[requests.Response], object]]:
        """What a transport that sends for this auth shows every response to, or None:
        with ``dpop=``, the nonce keeper."""
        return self._presenter.observe

    # -- where tokens come from (the subclass) ---------------------------------------------

    def _token(self) -> Token:
        """A token to send now."""
        raise NotImplementedError

    def _renewed(self, rejected: Token) -> Token:
        """A token other than *rejected*, which the server refused (only called when :attr:`_renews`)."""
        raise NotImplementedError

    def _drop(self, rejected: Token) -> None:
        """Give up *rejected* without a replay (its 401 could not be replayed)."""

    def _label(self) -> str:
        return type(self).__name__

    # -- the request flow ---------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.authorize(request)
        request.register_hook("response", functools.partial(self._on_response, token, request.url or ""))
        return request

    def authorize(self, request: requests.PreparedRequest) -> Token:
        """Set the token header(s) on *request* without a response hook; return the token.

        For transports that do their own replay (:class:`~requests_multiauth.AuthAdapter`).
        """
        check_transport(request.url or "", allow_insecure_loopback=self.allow_insecure_loopback)
        token = self._token()
        self._presenter.present(request, token)
        return token

    def _on_response(
        self, token: Token, sent_url: str, response: requests.Response, **send_kwargs: Any
    ) -> requests.Response:
        observe = self._presenter.observe
        if observe is not None:
            observe(response)  # with DPoP: every answer may carry the server's next nonce, a 200 as a 401
        if response.status_code == 401:
            response = self.replay_once(response, token, sent_url, response.connection.send, send_kwargs)
        if response.is_redirect:
            # Only now, before requests follows it: no .netrc entry replaces our token on the
            # hops (transport/headers.py), at no cost to the requests that are not redirected.
            copied = _replay.copied_for_next_hop(response)
            if copied is not None:
                keep_token_header(copied)
            self._presenter.redirect(response, sent_url, self._token)
        return response

    def replay_once(
        self,
        response: requests.Response,
        token: Token,
        sent_url: str,
        send: Callable[..., requests.Response],
        send_kwargs: Mapping[str, Any],
    ) -> requests.Response:
        """Answer a 401: renew *token* and resend the request once through *send*.

        Returns *response* untouched when it must not be replayed (see
        :func:`~requests_multiauth.transport.replay.why_not_replay`), or when the
        auth cannot renew (a static token: the 401 is returned with a logged hint).
        With ``dpop=``, a 401 that asks for a DPoP nonce the request did not carry
        is replayed with the same token and a new proof; the token is not given up.
        Each challenge is answered once; a request answers at most
        MAX_NONCE_REPLAYS challenges (a server whose nonce rotated again while
        the replay was on its way asks anew with another nonce) and renews at
        most once, in any order, so at most three replays, never a loop; the
        answers replayed are in history.
        """
        presenter = self._presenter
        reason = _replay.why_not_replay(
            response, sent_url=sent_url, header=presenter.header_name, value=presenter.value(token)
        )
        if reason is None:
            challenge = presenter.nonce_challenge(response)
            if challenge is False:
                reason = _replay.SAME_NONCE
            elif challenge is None and not self._renews:
                reason = _replay.CANNOT_RENEW
        decision = self.telemetry.record_replay(reason)
        if reason is not None:
            self._not_replayed(response, token, sent_url, reason, decision)
            return response
        # A nonce challenge is answered with the same token and a new proof; any other 401 renews
        # the token. A challenge repeating the nonce just sent is never answered (see above); a
        # new nonce at most MAX_NONCE_REPLAYS times, a renewal at most once, in whichever order
        # the server asks: a nonce that rotated, or a token that expired, while a request was out.
        answered: List[requests.Response] = []
        nonce_replays = 0
        renewed = False
        current, current_token, prepared = response, token, response.request
        where = safe_url(sent_url)
        while True:
            challenge = presenter.nonce_challenge(current)
            if challenge is False:  # (only after a first replay: the first answer was checked above)
                log.info(
                    "%s: %s asked for the DPoP nonce it was sent; not replaying",
                    self._label(),
                    where,
                    extra=decision.log_extra(url=where),
                )
                break
            nonce: Optional[str] = None
            if challenge:
                if nonce_replays >= MAX_NONCE_REPLAYS:
                    break
                nonce_replays += 1
                message = "%s: %s asked for a new DPoP nonce; replaying with it"
                next_token = current_token  # the token is fine: only the proof lacked the server's nonce
                # The nonce this challenge named, not the store's latest: another thread's late answer
                # may have brought an older one meanwhile (the store keeps the newer, but a replay
                # answers its own challenge).
                nonce = current.headers.get("DPoP-Nonce")
            else:
                if renewed or not self._renews:
                    break
                renewed = True
                message = "%s: %s answered 401; renewing the token and replaying"
                next_token = self._renewed(current_token)
            log.debug(message, self._label(), where, extra=decision.log_extra(url=where))
            prepared, replay = self._send_again(current, next_token, send, send_kwargs, nonce=nonce)
            answered.append(current)
            current, current_token = replay, next_token
            if not self._replayable(replay, current_token, sent_url):
                break
        if not answered:
            return response
        final = _replay.finish_replay(current, answered[-1], prepared)
        final.history[0:0] = answered[:-1]
        return final

    def _not_replayed(
        self, response: requests.Response, token: Token, sent_url: str, reason: str, decision: Any
    ) -> None:
        """Log why the 401 *response* is returned as is; drop *token* when only its body stopped the replay."""
        ours = reason is _replay.UNREWINDABLE  # our token, our origin: only the body stops the replay
        where = safe_url(response.url or "")
        log.log(
            logging.WARNING if ours else logging.DEBUG,
            "%s: not replaying the 401 from %s: %s",
            self._label(),
            where,
            reason,
            extra=decision.log_extra(url=where),
        )
        if ours:
            # Without a replay nothing renews the token: drop it (if no one else has), so the
            # next request gets a new one instead of the same 401 until the token expires.
            self._drop(token)

    def _replayable(self, replay: requests.Response, token: Token, sent_url: str) -> bool:
        """True if *replay*, the answer to a replay that carried *token*, is a 401 that may earn another."""
        if replay.status_code != 401:
            return False
        value = self._presenter.value(token)
        return (
            _replay.why_not_replay(replay, sent_url=sent_url, header=self._presenter.header_name, value=value) is None
        )

    def _send_again(
        self,
        response: requests.Response,
        token: Token,
        send: Callable[..., requests.Response],
        send_kwargs: Mapping[str, Any],
        *,
        nonce: Optional[str] = None,
    ) -> Tuple[requests.PreparedRequest, requests.Response]:
        """The request *response* answered, body rewound, presented anew with *token* (and a
        DPoP proof with *nonce*, when a challenge named one), sent through *send*."""
        prepared = _replay.copy_for_replay(response)
        check_transport(prepared.url or "", allow_insecure_loopback=self.allow_insecure_loopback)
        self._presenter.present(prepared, token, nonce=nonce)
        replay = send(prepared, **send_kwargs)
        observe = self._presenter.observe
        if observe is not None:
            observe(replay)  # the replay passes no response hook
        return prepared, replay

    def _repr_html_(self) -> str:
        return render_html(type(self).__name__, self.display_rows())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        pretty(printer, cycle, type(self).__name__, self.display_rows())

    def display_rows(self) -> Rows:
        """What IPython and Jupyter show of this auth; never a secret or a token."""
        raise NotImplementedError
