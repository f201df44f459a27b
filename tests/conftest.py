"""Shared fixtures: real server processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """A server with the default test app, client events enabled, shared by a test module."""
    with ServerProcess(args=["--app-enable-client-messages", "true"]) as proc:
        yield proc


@pytest.fixture
def start_server() -> Iterator:
    """Factory for servers with custom flags; all are stopped after the test."""
    started: list[ServerProcess] = []

    def factory(*args: str, env: dict[str, str] | None = None, default_app: bool = True):
        proc = ServerProcess(args=args, env=env or {}, with_default_app=default_app).start()
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()


# Real Redis servers (standalone, 3-master cluster, TLS) and NATS servers with JetStream (plain,
# TLS), started on free loopback ports; several nodes on a shared Redis or NATS: `nodes_on`,
# and `bus` / `restartable_bus` that run a multi-node test once on Redis and once on NATS.
from tests.support.bus import bus, restartable_bus  # noqa: E402, F401

# Servers with metrics on.
from tests.support.metrics import metrics_server  # noqa: E402, F401

# moto's standalone server (DynamoDB, SQS, SNS), one per session: registered once, here.
from tests.support.moto import moto_server  # noqa: E402, F401
from tests.support.nats import nats_server, nats_tls  # noqa: E402, F401
from tests.support.nodes import nodes_on  # noqa: E402, F401
from tests.support.redis import redis_cluster, redis_server, redis_tls  # noqa: E402, F401
