"""Whether and how a request that got a 401 may be sent again.

The decision is a pure function of the response, so it is tested without a
server; :mod:`requests_multiauth.auth` and :mod:`requests_multiauth.transport.adapter`
act on it. We follow requests' own recipe (``HTTPDigestAuth.handle_401``):
read and close the 401, copy the request, rewind its body, send the copy
through the same adapter, keep the first response in ``history``.

Where the request goes next: the flow (flow.py) or the adapter sends the copy once.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import urljoin

import requests
from requests.cookies import extract_cookies_to_jar
from requests.utils import rewind_body

from .urls import origin

#: Set on a response that is the answer to a replay, so that no second layer
#: (an AuthAdapter under a session that also has our auth) replays it again.
REPLAYED = "_requests_multiauth_replayed"

#: The one reason not to replay a 401 that our token did earn: the caller must
#: give that token up some other way (see TokenAuth.replay_once).
UNREWINDABLE = "its body is a stream that cannot be rewound and sent again"

#: Why a 401 to a token that cannot be renewed here (a static token) is returned as is.
CANNOT_RENEW = "the token cannot be renewed here"

#: Why a DPoP nonce challenge is not answered: it asks for the very nonce the request
#: carried, so a replay would get the same answer (see DPoPProofs.new_nonce_demanded).
SAME_NONCE = "it asks for the very DPoP nonce the request carried, so a replay would loop"


def why_not_replay(response: requests.Response, *, sent_url: str, header: str, value: str) -> Optional[str]:
    """The reason a 401 must not be replayed, or None if it may be.

    Args:
        response: the 401.
        sent_url: the URL our auth was applied to.
        header, value: the header our auth set, and its value.
    """
    if getattr(response, REPLAYED, False):
        return "it answers a replay already"
    request = response.request
    if request.url is None or origin(request.url) != origin(sent_url):
        return "it came from another origin (after a redirect), which never received our token"
    if request.headers.get(header) != value:
        return "the request did not carry our token"
    if not can_rewind(request):
        return UNREWINDABLE
    return None


def can_rewind(request: requests.PreparedRequest) -> bool:
    """True if the request's body can be sent a second time."""
    body = request.body
    if body is None or isinstance(body, (bytes, str)):
        return True
    position = getattr(request, "_body_position", None)
    return hasattr(body, "seek") and isinstance(position, int)


def copy_for_replay(response: requests.Response) -> requests.PreparedRequest:
    """Release the 401's connection and return a copy of its request, body
    rewound and cookies from the 401 applied, ready to be sent again."""
    response.content  # noqa: B018 - read it so the connection can be reused
    response.close()
    request = response.request
    prepared = request.copy()
    jar = prepared._cookies  # noqa: SLF001 - requests' own replay recipe
    if jar is not None and response.raw is not None:
        extract_cookies_to_jar(jar, request, response.raw)
        prepared.prepare_cookies(jar)
    if prepared.body is not None and not isinstance(prepared.body, (bytes, str)):
        rewind_body(prepared)
    return prepared


def finish_replay(
    replay: requests.Response, first: requests.Response, prepared: requests.PreparedRequest
) -> requests.Response:
    """Attach the first response to the replay's history and mark the replay."""
    replay.history.append(first)
    replay.request = prepared
    setattr(replay, REPLAYED, True)
    return replay


def copied_for_next_hop(response: requests.Response) -> Optional[requests.PreparedRequest]:
    """The request requests copies for the next hop of the redirect *response*: the one the
    caller sent (``Session.resolve_redirects`` copies it), also when *response* answers our replay."""
    if getattr(response, REPLAYED, False) and response.history:
        return response.history[0].request
    return response.request


def redirect_leaves_origin(response: requests.Response, sent_url: str) -> bool:
    """True if *response* redirects to an origin other than *sent_url*'s."""
    location = response.headers.get("Location")
    if not response.is_redirect or not location or response.url is None:
        return False
    return origin(urljoin(response.url, location)) != origin(sent_url)
