"""Local servers and provider emulations for tests, the demo and benchmarks.

:class:`LocalServer` runs a handler function (or a WSGI app, through
:func:`wsgi_handler`) on loopback over HTTPS, with a certificate from a
throwaway ``trustme`` CA when ``trustme`` is installed, and over plain HTTP
otherwise.
"""

from ._server import DROP_CONNECTION, Body, Handler, LocalServer, Reply, Request, wsgi_handler

__all__ = ["DROP_CONNECTION", "Body", "Handler", "LocalServer", "Reply", "Request", "wsgi_handler"]
