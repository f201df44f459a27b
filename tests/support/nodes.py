"""Several Socket Rush nodes as separate processes, sharing a Redis or a NATS (`bus.py`)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.bus import Bus
from tests.support.server import ServerProcess


def wait_ready(server: ServerProcess, timeout: float = 15.0) -> None:
    """Poll /ready until the node's adapter is connected (another process: nothing to await)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.http_url + "/ready", timeout=1) as reply:
                if reply.status == 200:
                    return
        except urllib.error.HTTPError as error:
            assert error.code == 503
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{server.http_url} never became ready:\n{server.log()}")


def start_nodes(adapter_args: list[str], count: int, *extra: str) -> list[ServerProcess]:
    nodes = []
    for _ in range(count):
        args = [*adapter_args, "--app-enable-client-messages", "true", *extra]
        nodes.append(ServerProcess(args=args).start())
    for node in nodes:
        wait_ready(node)
    return nodes


@pytest.fixture
def nodes_on(request) -> Iterator[Callable[..., list[ServerProcess]]]:
    """`nodes_on(bus, count, *flags)`: `count` nodes on `bus` (or on the Redis at a URL),
    stopped after the test."""
    started: list[ServerProcess] = []
    # Each test its own keys: a node one test killed is never reaped into the next test's
    # channels (the server is shared by the module).
    prefix = f"test-{uuid.uuid4().hex[:8]}"

    def factory(target: Bus | str, count: int = 2, *extra: str) -> list[ServerProcess]:
        if isinstance(target, str):
            adapter_args = ["--adapter-driver", "redis", "--redis-url", target]
            adapter_args += ["--redis-prefix", prefix]
        else:
            adapter_args = target.node_args(prefix)
        started.extend(start_nodes(adapter_args, count, *extra))
        return started[-count:]

    factory.prefix = prefix  # type: ignore[attr-defined]
    yield factory
    for node in started:
        node.stop()
