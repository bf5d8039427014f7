"""Reuse, single flight and renewal ahead of expiry: when a token call happens.

``manager`` owns one auth's token: it hands out the valid token, makes the one token
call many threads (and, through a shared cache, processes) wait for, and renews ahead
of expiry. ``holds`` keeps a failed token call's error for a while, for this process and,
through a cache that keeps failures, for the fleet. ``workers`` runs renewals ahead on a
few shared threads, earliest expiry first; ``fork`` resets locks and threads in a forked
child; ``travel`` says what crosses a process boundary.
The token call itself goes through the grant (``grants/``) and the endpoint
(``transport/endpoint``).

Where the request goes next: the token is presented (presentation.py) by the flow (flow.py).
"""
