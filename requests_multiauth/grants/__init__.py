"""How a new token is obtained: one small class per way of asking.

A grant says what one token call sends and how its answer reads; it knows nothing of
reuse, locking, renewal or retries, which the engine (``engine/``) and the endpoint
(``transport/endpoint``) give every grant. ``base`` has the public :class:`Grant`.

Where the request goes next: the endpoint (transport/endpoint.py) sends what the grant
makes, and the engine (engine/) keeps the token it returns.
"""
