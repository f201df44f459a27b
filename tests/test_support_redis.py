"""tests/support/redis.py: a port taken between its pick and the first start is replaced."""

from __future__ import annotations

import socket

import pytest

from tests.support.redis import RedisServer, RedisUnavailable


def test_a_picked_port_taken_before_the_start_is_replaced() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = RedisServer()
        server.port = taken.getsockname()[1]  # as if another process took it meanwhile
        with server:
            assert server.port != taken.getsockname()[1]
            with server.client() as client:
                assert client.ping() is True


def test_a_given_port_is_kept_and_its_failure_reported() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = RedisServer(port=port)
        with pytest.raises(RedisUnavailable, match="Address already in use"):
            server.start()
        assert server.port == port
