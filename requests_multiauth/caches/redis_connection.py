"""How RedisTokenCache reaches Redis: a client built from a URL, described for logs, sent to another process.

:class:`~requests_multiauth.caches.redis.RedisTokenCache` owns the cache protocol
(entries, the lock, outages); this module owns the connection it runs over:

* :func:`client_from_url` builds a client with short socket timeouts and a single
  retry from a ``redis://``, ``rediss://`` or ``unix://`` URL (one server), a
  ``redis+sentinel://`` URL (the primary a Sentinel group names) or a
  ``redis+cluster://`` URL (a Redis Cluster), each also with ``rediss+`` for TLS;
* :func:`describe` says where a client connects, never with a password, and
  :func:`safe_redis_url` shows a URL without its password, for error messages;
* :func:`travelling_settings` and :func:`cache_over_pool` let a cache given a
  one-server client travel to another process as that client's settings.

The ``redis`` package is imported only when a cache is built (the ``redis`` extra).

Where the request goes next: nowhere; the cache sends its commands over the client built here.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, TypeVar
from urllib.parse import unquote

from ..errors import ConfigurationError

__all__ = [
    "CONNECT_TIMEOUT",
    "SOCKET_TIMEOUT",
    "cache_over_pool",
    "client_from_url",
    "describe",
    "import_redis",
    "safe_redis_url",
    "travelling_settings",
]

C = TypeVar("C")

#: Socket timeouts of a client built from a URL, in seconds. Redis answers in
#: milliseconds; waiting longer for a dead one only stalls the token call.
SOCKET_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0

_MISSING_REDIS = "RedisTokenCache needs the redis package: pip install 'requests-multiauth[redis]'"

#: The URL schemes of a Redis reached through its Sentinels or as a Cluster (the others
#: name one server, and redis-py reads them itself).
_SENTINEL_OR_CLUSTER = ("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")

#: The connection settings of a client that travel to another process: redis-py's
#: documented ones (its pools also keep internal handlers with locks, which do not).
_CONNECTION_SETTINGS = frozenset(
    {
        "host", "port", "path", "db", "username", "password", "client_name", "protocol",
        "socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval",
        "encoding", "encoding_errors", "decode_responses", "retry", "retry_on_error", "retry_on_timeout",
        "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_ca_data",
        "ssl_check_hostname", "ssl_password", "ssl_min_version", "ssl_ciphers",
    }
)  # fmt: skip


def import_redis() -> Any:
    """The ``redis`` module; raises ImportError naming the extra when it is missing."""
    try:
        import redis
    except ImportError as exc:
        raise ImportError(_MISSING_REDIS) from exc
    return redis


def client_from_url(module: Any, url: str) -> Any:
    """A client for *url* with short socket timeouts and a single retry: ``redis://``,
    ``rediss://``, ``unix://`` (one server), ``redis+sentinel://`` (the primary a
    Sentinel group names) or ``redis+cluster://`` (a Redis Cluster), each also
    with ``rediss+`` for TLS."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    timeouts: Dict[str, Any] = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT}
    # One immediate retry: it reconnects a pooled connection that a Redis restart closed.
    retry = Retry(NoBackoff(), 1)
    scheme, _, rest = url.partition("://")
    kind = scheme.lower()
    if kind not in _SENTINEL_OR_CLUSTER:
        return module.Redis.from_url(url, retry=retry, **timeouts)
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    credentials: Dict[str, Any] = {"username": unquote(username) or None, "password": unquote(password) or None}
    if kind.startswith("rediss"):
        credentials["ssl"] = True
    nodes = [_host_port(node, url) for node in hosts.split(",") if node]
    if not nodes:
        raise ConfigurationError(f"{safe_redis_url(url)} names no host")
    if kind.endswith("+cluster"):
        import redis.cluster

        cluster: Any = redis.cluster  # parts of redis-py are not typed
        startup = [cluster.ClusterNode(h, p) for h, p in nodes]
        return cluster.RedisCluster(startup_nodes=startup, **credentials, **timeouts)
    import redis.sentinel

    Sentinel: Any = redis.sentinel.Sentinel  # not typed in redis-py

    service, _, db = path.partition("/")
    if not service:
        raise ConfigurationError(
            f"{safe_redis_url(url)} names no service: redis+sentinel://host:port[,host:port...]/service[/db]"
        )
    if db and not db.isdigit():
        raise ConfigurationError(f"{safe_redis_url(url)}: the database must be a number")
    sentinel = Sentinel(nodes, sentinel_kwargs=dict(timeouts), **timeouts)
    return sentinel.master_for(unquote(service), db=int(db or 0), retry=retry, **credentials)


def _host_port(node: str, url: str) -> Tuple[str, int]:
    host, _, port = node.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"{safe_redis_url(url)}: each node must be host:port")
    return host.strip("[]"), int(port)


def safe_redis_url(url: str) -> str:
    """*url* without its password, for error messages."""
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at:
        netloc = userinfo.partition(":")[0] + ":***@" + hosts
    return f"{scheme}://{netloc}{slash}{path}"


def describe(client: Any) -> str:
    """Where a client connects, for logs and repr: host, port and database, never a password."""
    pool = getattr(client, "connection_pool", None)
    service = getattr(pool, "service_name", None)
    if isinstance(service, str):  # a Sentinel-managed primary: where it is changes with failovers
        return f"redis sentinel {service}"
    nodes = getattr(getattr(client, "nodes_manager", None), "startup_nodes", None)
    if isinstance(nodes, dict) and nodes:  # a RedisCluster
        return f"redis cluster {', '.join(sorted(nodes)[:3])}"
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    if kwargs.get("path"):
        return f"redis unix:{kwargs['path']}/{kwargs.get('db', 0)}"
    if kwargs.get("host"):
        return f"redis {kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return f"redis {type(client).__name__}"


def travelling_settings(client: Any) -> Optional[Tuple[Any, Any, Dict[str, Any]]]:
    """What rebuilds *client* in another process: its pool's class, connection class and
    connection settings; None for a client that cannot travel (a cluster, a Sentinel-managed
    primary, anything but a one-server ``redis.Redis``)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None or not hasattr(pool, "connection_kwargs") or type(client).__name__ != "Redis":
        return None
    settings = {name: value for name, value in pool.connection_kwargs.items() if name in _CONNECTION_SETTINGS}
    return type(pool), pool.connection_class, settings


def cache_over_pool(
    cls: Callable[..., C], pool_class: Any, connection_class: Any, kwargs: Dict[str, Any], options: Dict[str, Any]
) -> C:
    """A cache over a new client with the connection settings of one sent from another process."""
    import redis

    pool = pool_class(connection_class=connection_class, **kwargs)
    return cls(redis.Redis(connection_pool=pool), **options)
