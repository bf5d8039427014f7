"""Where tokens are kept between token calls.

``base`` has the cache protocol (:class:`TokenCache` and its optional capabilities),
the cache key and :class:`MemoryTokenCache`, an auth's private default; ``file`` and
``redis`` share one token between the processes of a machine or the hosts of a fleet,
writing entries in the one format of ``format``; ``private_files`` makes the file
cache's owner-only files and takes its OS lock, ``redis_connection`` builds and
describes the Redis cache's client. The engine (``engine/``) reads and
writes them under their locks; nothing else does.

Where the request goes next: with a token, back to the engine and the flow; without one,
to the grant and the token endpoint.
"""
