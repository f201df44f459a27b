"""One way to reach Redis: build the client from settings and name every key the project uses.

Every Redis driver (adapter, cache, queue) gets its client from `redis_from_settings` and its
key names from `RedisKeys`, so URL handling, TLS, timeouts and the key layout are decided once.
The process is gevent monkey-patched, so redis-py's blocking sockets yield to other greenlets.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

import redis
from redis.cluster import RedisCluster
from redis.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.maint_notifications import MaintNotificationsConfig

from socketrush.adapters.topics import Topic, TopicKind
from socketrush.config import ConfigError
from socketrush.settings import ServerSettings

# A dead or unroutable host fails start-up (or a reconnect) quickly instead of hanging.
SOCKET_CONNECT_TIMEOUT_SECONDS = 5.0
# A command whose reply never comes fails instead of stalling its actor forever. Blocking
# commands (BLMOVE, ...) must use a server-side timeout below this; pub/sub reads are exempt.
SOCKET_TIMEOUT_SECONDS = 10.0
# A pooled connection idle for longer is PINGed before reuse, so a connection that a restarted
# Redis or a NAT silently dropped is replaced before a real command fails on it.
HEALTH_CHECK_INTERVAL_SECONDS = 30
# redis-py asks every new connection for maintenance notifications (a Redis Enterprise/Cloud
# feature) and logs each refusal at debug level: with LOG_LEVEL=debug, one line per
# connection from every open-source Redis. Nothing here reacts to those notifications.
NO_MAINTENANCE_NOTIFICATIONS = MaintNotificationsConfig(enabled=False)

_SCHEMES = ("redis", "rediss", "unix")
_TLS_PARAMS = frozenset(
    {
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_include_verify_flags",
        "ssl_exclude_verify_flags",
    }
)
_URL_PARAMS = frozenset(URL_QUERY_ARGUMENT_PARSERS) | _TLS_PARAMS | {"client_name"}
_CERT_REQS = ("none", "optional", "required")

RedisClient = redis.Redis | RedisCluster


def redis_from_settings(settings: ServerSettings, *, decode_responses: bool = False) -> RedisClient:
    """A client for `settings.redis_url`: a `RedisCluster` when `redis_cluster` is on.

    Accepts `redis://`, `rediss://`, `unix://` and the bare `host:port` form of the shipped
    default. `redis_tls` upgrades `redis://` to `rediss://`. TLS verifies the server's
    certificate against the system CAs unless the URL says otherwise (`?ssl_ca_certs=<file>`
    for a private CA, `?ssl_cert_reqs=none` to accept any certificate). Query parameters win over
    our timeouts, as in redis-py. A standalone client connects lazily; a cluster client reads
    the cluster's slot map at once, so an unreachable cluster fails here.

    Raises ConfigError, naming the faulty part but never the password, for a URL redis-py
    would reject or silently misread.
    """
    url = normalize_redis_url(settings.redis_url, tls=settings.redis_tls)
    parts = urlsplit(url)
    if settings.redis_cluster and parts.scheme == "unix":
        raise ConfigError("redis_url: redis_cluster needs a host:port, not a unix:// socket")
    if settings.redis_cluster and _db(url) not in (None, 0):
        raise ConfigError("redis_url: Redis Cluster has database 0 only; drop the /<db> part")
    common = {
        "decode_responses": decode_responses,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "maint_notifications_config": NO_MAINTENANCE_NOTIFICATIONS,
    }
    if parts.scheme != "unix":  # a TCP option: a unix socket connection refuses it
        common["socket_keepalive"] = True
    if settings.redis_cluster:
        # The cluster client drops health_check_interval; it re-reads the slot map on errors.
        return RedisCluster.from_url(url, **common)
    return redis.Redis.from_url(url, health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS, **common)


def normalize_redis_url(url: str, *, tls: bool = False) -> str:
    """`url` in the form redis-py parses, after checking what redis-py would let slip through.

    redis-py ignores a database path that is not a number and hands unknown query parameters to
    the connection, where they fail at the first command; both are caught here, at start-up.
    """
    url = url.strip()
    if not url:
        raise ConfigError("redis_url is empty: give e.g. redis://localhost:6379")
    if "://" not in url:
        url = f"redis://{url}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"redis_url scheme {parts.scheme!r} is not supported: use redis://, rediss://, "
            "unix:// or a bare host:port"
        )
    if tls and scheme == "unix":
        raise ConfigError("redis_url: redis_tls cannot apply to a unix:// socket")
    if tls and scheme == "redis":
        scheme = "rediss"
    url = scheme + url[len(parts.scheme) :]
    if scheme == "unix":
        if not parts.path:
            raise ConfigError("redis_url: unix:// needs a socket path, e.g. unix:///run/redis.sock")
        _check_params(parts.query, tls=False)
        return url
    try:
        _check_host_and_db(parts.hostname, parts.netloc, parts.path)
        _check_params(parts.query, tls=scheme == "rediss")
    except ConfigError:
        # An `@` after the host part: a password's raw `/`, `?` or `#` ended the host part
        # early, and what was refused may be a piece of the password: name none of it.
        if "@" not in parts.netloc and "@" in url.partition("://")[2][len(parts.netloc) :]:
            raise ConfigError(
                "redis_url: its host part ends before its '@': a '/', '?' or '#' in the "
                "password must be percent-encoded (%2F, %3F, %23)"
            ) from None
        raise
    return url


def _check_host_and_db(hostname: str | None, netloc: str, path: str) -> None:
    if not hostname:
        raise ConfigError("redis_url has no host: give e.g. redis://localhost:6379")
    port_text = netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ConfigError(f"redis_url port {port_text!r} is not a port number (1-65535)")
    db_text = path.strip("/")
    if db_text and not db_text.isdigit():
        raise ConfigError(f"redis_url database {db_text!r} is not a number: use e.g. /0")


def _check_params(query: str, *, tls: bool) -> None:
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _URL_PARAMS:
            raise ConfigError(
                f"redis_url query parameter {name!r} is not supported; known: "
                f"{', '.join(sorted(_URL_PARAMS))}"
            )
        if name in _TLS_PARAMS and not tls:
            raise ConfigError(
                f"redis_url query parameter {name!r} needs TLS: use rediss:// or --redis-tls"
            )
        if name == "ssl_cert_reqs" and value not in _CERT_REQS:
            raise ConfigError(
                f"redis_url ssl_cert_reqs {value!r} is not one of {', '.join(_CERT_REQS)}"
            )
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        if parser is not None:
            try:
                parser(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"redis_url query parameter {name}={value!r} is invalid"
                ) from None


def _db(url: str) -> int | None:
    parts = urlsplit(url)
    given = dict(parse_qsl(parts.query)).get("db") or parts.path.strip("/")
    return int(given) if given else None


class QueueKeys(NamedTuple):
    """The lists of one durable queue; they share a hash slot so LMOVE works in a cluster."""

    pending: str
    in_flight: str
    dead: str


class RedisKeys:
    """Every Redis key and pub/sub channel name of one deployment.

    Layout (P = redis_prefix, A = app id, `{...}` = Redis Cluster hash tag):

        P:A:c:<channel>              pub/sub topic of one channel (`topic`, see adapters/topics.py)
        P:A:u:<user>                 pub/sub topic of one user
        P:A:d                        pub/sub topic of one app's dashboard console
        P:dashboard                  pub/sub topic of the dashboards (node-wide)
        P:cache:<cache key>          string with PX expiry: a cache channel's last event
        {P}:queue:<name>:pending     list: jobs waiting for a consumer
        {P}:queue:<name>:in-flight   list: jobs a consumer took and has not finished
        {P}:queue:<name>:dead        list: jobs that used up their retries
        {P:A}:<part>:<part>...       per-app shared state (`app()`), all in the app's slot
        {P}:nodes                    zset: live node id -> heartbeat expiry (ms)
        {P}:node:<node>:apps         set: apps a node wrote state for (for its reaper)
        {P}:reap:<node>              string with expiry: lock of the node reaping a dead one

    Everything starts with the prefix, so two deployments with different prefixes share a Redis
    without seeing each other. Per-app keys share one slot so multi-key commands and scripts on
    one app's state work in a cluster while different apps spread over the cluster. Cache
    entries are read and written one at a time, so they carry no tag and spread too.
    Pub/sub topics carry no tag either: with Redis Cluster they are sharded channels
    (SSUBSCRIBE/SPUBLISH), each on the shard of its own slot, so the traffic spreads too.

    The tag is cut at the first `}`, so the prefix must not contain braces; app ids are
    assumed brace-free too (a `}` in one only merges that app into a shared slot).
    """

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"redis_prefix {prefix!r} contains a brace: braces mark Redis Cluster hash "
                "tags in key names; choose a prefix without them"
            )
        self.prefix = prefix

    def topic(self, topic: Topic) -> str:
        """The pub/sub channel of `topic` (app ids are assumed free of `:` like of braces)."""
        kind, app_id, name = topic
        if kind is TopicKind.DASHBOARD:
            return f"{self.prefix}:dashboard"
        if kind is TopicKind.CONSOLE:
            return f"{self.prefix}:{app_id}:d"
        return f"{self.prefix}:{app_id}:{kind.value}:{name}"

    def cache(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    def queue(self, name: str) -> QueueKeys:
        base = f"{{{self.prefix}}}:queue:{name}"
        return QueueKeys(f"{base}:pending", f"{base}:in-flight", f"{base}:dead")

    def nodes(self) -> str:
        return f"{{{self.prefix}}}:nodes"

    def node_apps(self, node_id: str) -> str:
        return f"{{{self.prefix}}}:node:{node_id}:apps"

    def reap_lock(self, node_id: str) -> str:
        return f"{{{self.prefix}}}:reap:{node_id}"

    def app(self, app_id: str, *parts: str) -> str:
        """A key for app `app_id`'s shared state, in that app's hash slot."""
        return ":".join((f"{{{self.prefix}:{app_id}}}", *parts))
