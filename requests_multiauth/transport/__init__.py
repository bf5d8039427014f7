"""Everything that goes over the wire.

``endpoint`` is the one place that calls a token endpoint (retries, deadlines, typed
errors) on the shared session and pools of ``pool``; ``urls`` has the transport
rules (HTTPS only, origins, safe URLs for messages); ``replay`` rewinds and resends a
request after a 401; ``adapter`` (:class:`AuthAdapter`) and ``session``
(:class:`MultiAuthSession`) authenticate what a ``requests`` session sends.
"""
