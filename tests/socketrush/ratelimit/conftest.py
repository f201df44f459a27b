"""The multi-node fixture shared with the adapter tests."""

from tests.socketrush.adapters.test_redis_adapter import nodes_on  # noqa: F401
