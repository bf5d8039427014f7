"""Everything that goes over the wire.

``endpoint`` is the one place that calls a token endpoint (what each try sends, its
retries and deadline) on the shared session and pools of ``pool``; ``answer`` reads an
answer within a deadline and a size cap and decodes what it says; ``faults`` names what
went wrong with a try (retried, or which typed error); ``watchdog`` bounds the wait for
a try's headers; ``retry`` is the one retry policy (backoff and jitter) of every call the
package makes on its own; ``tls`` the one verify rule and the checks of CA bundle and
certificate paths; ``urls`` has the transport rules (HTTPS only, origins, safe URLs for
messages); ``replay`` rewinds and resends a request after a 401; ``headers`` keeps our
token on a redirect; ``adapter`` (:class:`AuthAdapter`) and ``session``
(:class:`MultiAuthSession`) authenticate what a ``requests`` session sends.

Where the request goes next: to the server; the answer comes back to the flow (flow.py).
"""
