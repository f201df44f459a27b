"""redis_from_settings (URL forms, TLS, timeouts, bad URLs) and the RedisKeys layout."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.crc import key_slot

from socketrush.config import ConfigError
from socketrush.redis_client import (
    HEALTH_CHECK_INTERVAL_SECONDS,
    SOCKET_CONNECT_TIMEOUT_SECONDS,
    SOCKET_TIMEOUT_SECONDS,
    QueueKeys,
    RedisKeys,
    redis_from_settings,
)
from tests.support.client import PusherClient
from tests.support.redis import RedisCluster as ClusterServers
from tests.support.redis import (  # noqa: F401
    RedisServer,
    RedisTls,
    redis_cluster,
    redis_server,
    redis_settings,
    redis_tls,
)
from tests.support.server import ServerProcess


def pool_of(url: str, *, tls: bool = False) -> redis.ConnectionPool:
    client = redis_from_settings(redis_settings(url, tls=tls))
    assert type(client) is redis.Redis
    return client.connection_pool


# --- URL forms ------------------------------------------------------------------------------


def test_bare_host_port_of_the_shipped_default() -> None:
    pool = pool_of("localhost:6379")
    assert pool.connection_class is Connection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"]) == ("localhost", 6379)
    assert "db" not in kwargs and "password" not in kwargs


def test_timeouts_keepalive_and_health_checks() -> None:
    kwargs = pool_of("redis://h:6379").connection_kwargs
    assert kwargs["socket_connect_timeout"] == SOCKET_CONNECT_TIMEOUT_SECONDS == 5.0
    assert kwargs["socket_timeout"] == SOCKET_TIMEOUT_SECONDS == 10.0
    assert kwargs["socket_keepalive"] is True
    assert kwargs["health_check_interval"] == HEALTH_CHECK_INTERVAL_SECONDS == 30
    assert kwargs["decode_responses"] is False


def test_decode_responses_is_passed_through() -> None:
    client = redis_from_settings(redis_settings("redis://h"), decode_responses=True)
    assert client.connection_pool.connection_kwargs["decode_responses"] is True


def test_url_query_parameters_win_over_our_timeouts() -> None:
    kwargs = pool_of("redis://h?socket_timeout=2.5&health_check_interval=5").connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["health_check_interval"]) == (2.5, 5)


def test_password_username_and_db() -> None:
    kwargs = pool_of("redis://:s3cret@cache.internal:6380/2").connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["password"], kwargs["db"]) == (
        "cache.internal",
        6380,
        "s3cret",
        2,
    )
    kwargs = pool_of("redis://user:p%40ss%3Aw@h/3").connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("user", "p@ss:w", 3)


def test_db_query_parameter() -> None:
    assert pool_of("redis://h?db=4").connection_kwargs["db"] == 4


def test_rediss_uses_tls_with_verification_by_default() -> None:
    pool = pool_of("rediss://h:6380")
    assert pool.connection_class is SSLConnection
    assert "ssl_cert_reqs" not in pool.connection_kwargs  # redis-py's default: required


def test_redis_tls_upgrades_redis_and_bare_urls() -> None:
    assert pool_of("redis://h:6379", tls=True).connection_class is SSLConnection
    assert pool_of("h:6379", tls=True).connection_class is SSLConnection
    assert pool_of("REDIS://h:6379", tls=True).connection_class is SSLConnection


def test_tls_query_parameters_for_self_signed_servers() -> None:
    pool = pool_of("rediss://h?ssl_cert_reqs=none")
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none"
    pool = pool_of("redis://h?ssl_ca_certs=/etc/ca%20dir/ca.pem", tls=True)
    assert pool.connection_kwargs["ssl_ca_certs"] == "/etc/ca dir/ca.pem"


def test_unix_socket() -> None:
    pool = pool_of("unix:///run/redis/redis.sock?db=1")
    assert pool.connection_class is UnixDomainSocketConnection
    assert (pool.connection_kwargs["path"], pool.connection_kwargs["db"]) == (
        "/run/redis/redis.sock",
        1,
    )


# --- bad URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "tls", "message"),
    [
        ("", False, "redis_url is empty: give e.g. redis://localhost:6379"),
        (
            "http://h:6379",
            False,
            "redis_url scheme 'http' is not supported: use redis://, rediss://, unix:// or a "
            "bare host:port",
        ),
        ("redis://:6379", False, "redis_url has no host: give e.g. redis://localhost:6379"),
        ("redis://h:abc", False, "redis_url port 'abc' is not a port number (1-65535)"),
        ("h:70000", False, "redis_url port '70000' is not a port number (1-65535)"),
        ("redis://h/cache", False, "redis_url database 'cache' is not a number: use e.g. /0"),
        ("redis://h?db=x", False, "redis_url query parameter db='x' is invalid"),
        (
            "redis://h?ssl_cert_reqs=none",
            False,
            "redis_url query parameter 'ssl_cert_reqs' needs TLS: use rediss:// or --redis-tls",
        ),
        (
            "rediss://h?ssl_cert_reqs=maybe",
            False,
            "redis_url ssl_cert_reqs 'maybe' is not one of none, optional, required",
        ),
        ("unix://", False, "redis_url: unix:// needs a socket path, e.g. unix:///run/redis.sock"),
        ("unix:///tmp/r.sock", True, "redis_url: redis_tls cannot apply to a unix:// socket"),
    ],
)
def test_bad_url_message(url: str, tls: bool, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        redis_from_settings(redis_settings(url, tls=tls))
    assert str(raised.value) == message


def test_unknown_query_parameter_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^redis_url query parameter 'sockettimeout' is not"):
        redis_from_settings(redis_settings("redis://h?sockettimeout=1"))


def test_bad_url_message_never_shows_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        redis_from_settings(redis_settings("redis://user:hunter2@h:port"))
    assert "hunter2" not in str(raised.value)
    assert str(raised.value) == "redis_url port 'port' is not a port number (1-65535)"


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:hun/ter2@h:6379/0",  # looks like host "user", port "hun"
        "redis://user:12/ter2@h:6379/0",  # port 12, database "ter2@h:6379/0"
        "redis://:hun/ter2@h",  # no host at all
        "redis://user:12?ter2@h",  # query parameter "ter2@h"
    ],
)
def test_a_password_with_a_raw_slash_or_question_mark_is_not_shown(url: str) -> None:
    """urlsplit ends the host part at the password's `/` or `?`: the refusal must say so
    without naming any piece of what it cut off."""
    with pytest.raises(ConfigError) as raised:
        redis_from_settings(redis_settings(url))
    assert str(raised.value) == (
        "redis_url: its host part ends before its '@': a '/', '?' or '#' in the password "
        "must be percent-encoded (%2F, %3F, %23)"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h/2", "redis_url: Redis Cluster has database 0 only; drop the /<db> part"),
        ("redis://h?db=1", "redis_url: Redis Cluster has database 0 only; drop the /<db> part"),
        ("unix:///tmp/r.sock", "redis_url: redis_cluster needs a host:port, not a unix:// socket"),
    ],
)
def test_cluster_url_limits(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        redis_from_settings(redis_settings(url, cluster=True))
    assert str(raised.value) == message


# --- against real servers -------------------------------------------------------------------


def test_cluster_client_from_settings(redis_cluster: ClusterServers) -> None:  # noqa: F811
    client = redis_from_settings(redis_settings(redis_cluster.url, cluster=True))
    assert type(client) is RedisCluster
    assert len(client.get_primaries()) == 3
    kwargs = client.nodes_manager.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (5.0, 10.0)
    keys = RedisKeys("pusher").queue("webhooks")
    client.rpush(keys.pending, b"job")
    assert client.lmove(keys.pending, keys.in_flight) == b"job"  # one slot, so no CROSSSLOT
    assert client.lrange(keys.in_flight, 0, -1) == [b"job"]
    client.close()


def _redis_debug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name.startswith("redis")]


def _commands_and_pubsub(client: redis.Redis | RedisCluster) -> None:
    assert client.ping() is True
    client.set("k", b"v")
    subscriber = client.pubsub()
    subscriber.subscribe("news")
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    subscriber.close()
    client.close()


def test_no_maintenance_notification_attempts_at_debug_level(
    redis_server: RedisServer,  # noqa: F811
    redis_cluster: ClusterServers,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """redis-py would ask each new connection for maintenance notifications, which open-source
    Redis refuses, and log every refusal at debug level."""
    with caplog.at_level(logging.DEBUG):
        _commands_and_pubsub(redis_from_settings(redis_settings(redis_server.url)))
        _commands_and_pubsub(redis_from_settings(redis_settings(redis_cluster.url, cluster=True)))
    assert [line for line in _redis_debug_lines(caplog) if "maintenance" in line] == []


def test_a_unix_socket_connects() -> None:
    socket_path = Path(tempfile.mkdtemp(prefix="sr-")) / "redis.sock"  # paths over 107 bytes fail
    with RedisServer(extra_args=["--unixsocket", str(socket_path)]):
        _commands_and_pubsub(redis_from_settings(redis_settings(f"unix://{socket_path}")))
    shutil.rmtree(socket_path.parent, ignore_errors=True)


def test_a_node_at_debug_level_logs_no_maintenance_notification_attempts(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    redis_flags = ("--adapter-driver", "redis", "--cache-driver", "redis", "--queue-driver",
                   "redis", "--redis-url", redis_server.url)  # fmt: skip
    with ServerProcess(args=redis_flags, env={"LOG_LEVEL": "debug"}) as server:
        client = PusherClient.connect(server)
        client.subscribe("news")
        client.recv_event("pusher_internal:subscription_succeeded")
        client.close()
        log = server.log()
    assert " DEBUG " in log  # the node did log at debug level
    assert "maintenance notifications" not in log


def test_tls_trusts_the_given_ca_or_none_at_all(redis_tls: RedisTls) -> None:  # noqa: F811
    for url in (redis_tls.url, redis_tls.insecure_url):
        client = redis_from_settings(redis_settings(url))
        assert client.ping() is True
        client.close()


def test_tls_refuses_an_untrusted_certificate(redis_tls: RedisTls) -> None:  # noqa: F811
    client = redis_from_settings(redis_settings(redis_tls.unverified_url))
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        client.ping()


def test_redis_tls_flag_upgrades_a_plain_url_against_a_tls_server(redis_tls: RedisTls) -> None:  # noqa: F811
    plain = redis_tls.url.replace("rediss://", "redis://")
    client = redis_from_settings(redis_settings(plain, tls=True))
    assert client.ping() is True
    client.close()


# --- key layout -----------------------------------------------------------------------------


def test_key_names() -> None:
    keys = RedisKeys("pusher")
    assert keys.cache("cache-channel:1:cache-a") == "pusher:cache:cache-channel:1:cache-a"
    assert keys.queue("webhooks") == QueueKeys(
        "{pusher}:queue:webhooks:pending",
        "{pusher}:queue:webhooks:in-flight",
        "{pusher}:queue:webhooks:dead",
    )
    assert (
        keys.app("424242", "presence", "presence-room") == "{pusher:424242}:presence:presence-room"
    )
    assert keys.app("424242") == "{pusher:424242}"


def test_one_apps_keys_share_a_slot_and_apps_spread() -> None:
    keys = RedisKeys("pusher")
    slots = {
        key_slot(keys.app("424242", *parts).encode())
        for parts in [("channels",), ("presence", "presence-a"), ("user", "u:{1}"), ()]
    }
    assert slots == {key_slot(b"pusher:424242")}
    assert key_slot(keys.app("1").encode()) != key_slot(keys.app("2").encode())


def test_one_queues_keys_share_a_slot() -> None:
    queue = RedisKeys("pusher").queue("webhooks")
    assert {key_slot(key.encode()) for key in queue} == {key_slot(b"pusher")}


def test_prefix_with_a_brace_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        RedisKeys("app{1}")
    assert str(raised.value) == (
        "redis_prefix 'app{1}' contains a brace: braces mark Redis Cluster hash tags in key "
        "names; choose a prefix without them"
    )
