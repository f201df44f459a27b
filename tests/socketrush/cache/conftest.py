"""Real Redis servers for the cache driver tests."""

from tests.support.redis import redis_cluster, redis_server, redis_tls  # noqa: F401
