"""What the nodes of a test deployment share: a Redis or a NATS ("the bus"), behind one face.

Multi-node tests take the `bus` fixture (module scope) or `restartable_bus` (a server of the
test's own, which it may stop and restart) and run once per kind: the same test, on Redis and
on NATS. A bus says how to point a node at it, and answers the few questions tests ask of
the shared state directly (connection totals, heartbeats, what a node left behind).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import orjson
import pytest
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from socketrush.adapters.messages import RemoteBroadcast, encode
from socketrush.adapters.topics import channel_topic
from socketrush.nats_client import NatsNames
from socketrush.redis_client import RedisKeys
from tests.support.nats import NatsServer, NatsUnavailable
from tests.support.redis import RedisServer, RedisUnavailable
from tests.support.server import APP_ID

KINDS = ("redis", "nats")


class Bus(Protocol):
    kind: str

    def node_args(self, prefix: str) -> list[str]: ...

    def node_env(self, prefix: str) -> dict[str, str]:
        """The same as environment variables (for gunicorn workers)."""

    def stop(self) -> None: ...

    def start(self) -> object: ...

    def restart_empty(self) -> None:
        """Stop, then come back having lost all data (proven inside)."""

    def connection_total(self, prefix: str) -> int: ...

    def heartbeats(self, prefix: str) -> dict[str, float]:
        """Node -> heartbeat expiry (ms) in the registry."""

    def nodes_with_state(self, prefix: str) -> set[str]:
        """Nodes that still have anything of theirs in the shared state."""

    def flood(self, prefix: str, channel: str, payload: bytes, count: int) -> None:
        """Publish `count` broadcasts of the test app as if from another node."""


class RedisBus:
    kind = "redis"

    def __init__(self, server: RedisServer) -> None:
        self.server = server

    def node_args(self, prefix: str) -> list[str]:
        return [
            "--adapter-driver",
            "redis",
            "--redis-url",
            self.server.url,
            "--redis-prefix",
            prefix,
        ]

    def node_env(self, prefix: str) -> dict[str, str]:
        return {"ADAPTER_DRIVER": "redis", "REDIS_URL": self.server.url, "REDIS_PREFIX": prefix}

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> object:
        return self.server.start()

    def restart_empty(self) -> None:
        # The nodes start rebuilding the moment Redis answers, so emptiness is shown by a key
        # no node writes: it is gone after the restart.
        self.server.client().set("canary", "1")
        self.server.restart()
        assert self.server.client().exists("canary") == 0

    def connection_total(self, prefix: str) -> int:
        counts = self._client().hgetall(f"{{{prefix}:{APP_ID}}}:connections")
        return sum(int(n) for n in counts.values())

    def heartbeats(self, prefix: str) -> dict[str, float]:
        return dict(self._client().zrange(f"{{{prefix}}}:nodes", 0, -1, withscores=True))

    def nodes_with_state(self, prefix: str) -> set[str]:
        client = self._client()
        nodes = set(client.zrange(f"{{{prefix}}}:nodes", 0, -1))
        for key in client.scan_iter(f"{{{prefix}*:node:*"):
            nodes.add(key.split(":node:", 1)[1].split(":", 1)[0])
        for key in client.scan_iter(f"{{{prefix}:*}}:*"):
            kind = client.type(key)
            if kind == "hash" and ":presence:" in key:
                nodes.update(field.partition("|")[0] for field in client.hkeys(key))
            elif kind == "hash" and (":subs:" in key or key.endswith(":connections")):
                nodes.update(client.hkeys(key))
        return nodes

    def flood(self, prefix: str, channel: str, payload: bytes, count: int) -> None:
        message = encode("elsewhere", RemoteBroadcast(APP_ID, channel, payload, None))
        topic = RedisKeys(prefix).topic(channel_topic(APP_ID, channel))
        pipeline = self.server.client().pipeline(transaction=False)
        for _ in range(count):
            pipeline.publish(topic, message)
        pipeline.execute()

    def _client(self):
        return self.server.client(decode_responses=True)


class NatsBus:
    kind = "nats"

    def __init__(self, server: NatsServer) -> None:
        self.server = server

    def node_args(self, prefix: str) -> list[str]:
        args = ["--adapter-driver", "nats", "--adapter-nats-servers", self.server.url]
        ca = getattr(self.server, "ca_cert", None)
        if ca is not None:
            args += ["--adapter-nats-tls-ca-file", str(ca)]
        return [*args, "--adapter-nats-prefix", prefix]

    def node_env(self, prefix: str) -> dict[str, str]:
        env = {"ADAPTER_DRIVER": "nats", "ADAPTER_NATS_SERVERS": self.server.url}
        ca = getattr(self.server, "ca_cert", None)
        if ca is not None:
            env["ADAPTER_NATS_TLS_CA_FILE"] = str(ca)
        return {**env, "ADAPTER_NATS_PREFIX": prefix}

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> object:
        return self.server.start()

    def restart_empty(self) -> None:
        self.server.restart(empty=True)

    def connection_total(self, prefix: str) -> int:
        return sum(self._document(prefix, f"{APP_ID}.conns").values())

    def heartbeats(self, prefix: str) -> dict[str, float]:
        return {node: float(ms) for node, ms in self._document(prefix, "nodes").items()}

    def nodes_with_state(self, prefix: str) -> set[str]:
        nodes: set[str] = set()
        for key, doc in self._documents(prefix).items():
            if key == "nodes" or key.endswith(".conns"):
                nodes.update(doc)
            elif key.startswith("node."):
                nodes.add(key.split(".", 1)[1])
            elif ".subs." in key:
                nodes.update(doc["n"])
            elif ".pres." in key:
                for held in doc.values():
                    nodes.update(held)
        return nodes

    def flood(self, prefix: str, channel: str, payload: bytes, count: int) -> None:
        message = encode("elsewhere", RemoteBroadcast(APP_ID, channel, payload, None))
        subject = NatsNames(prefix).channel(APP_ID, channel)

        async def publish(client) -> None:
            for _ in range(count):
                await client.publish(subject, message)
            await client.flush()

        self.server.run(publish)

    def _document(self, prefix: str, key: str) -> dict:
        async def read(client) -> dict:
            try:
                bucket = await client.jetstream().key_value(NatsNames(prefix).bucket())
                return orjson.loads((await bucket.get(key)).value)
            except (BucketNotFoundError, KeyNotFoundError):
                return {}

        return self.server.run(read)

    def _documents(self, prefix: str) -> dict[str, dict]:
        async def read_all(client) -> dict[str, dict]:
            try:
                bucket = await client.jetstream().key_value(NatsNames(prefix).bucket())
            except BucketNotFoundError:
                return {}
            watcher = await bucket.watch(">", ignore_deletes=True)
            found = {}
            while (entry := await watcher.updates(timeout=5)) is not None:
                if entry.key != "epoch" and not entry.key.startswith("reap."):
                    found[entry.key] = orjson.loads(entry.value)
            await watcher.stop()
            return found

        return self.server.run(read_all)


def _bus(kind: str) -> Bus:
    return RedisBus(RedisServer()) if kind == "redis" else NatsBus(NatsServer())


def _running(bus: Bus) -> Iterator[Bus]:
    try:
        bus.start()
    except (RedisUnavailable, NatsUnavailable) as problem:
        pytest.fail(str(problem), pytrace=False)
    try:
        yield bus
    finally:
        bus.stop()
        remove = getattr(bus.server, "remove", None)
        if remove is not None:
            remove()


@pytest.fixture(scope="module", params=KINDS)
def bus(request) -> Iterator[Bus]:
    """A Redis, then a NATS, each shared by the test module's tests."""
    yield from _running(_bus(request.param))


@pytest.fixture(params=KINDS)
def restartable_bus(request) -> Iterator[Bus]:
    """A Redis, then a NATS, of this test's own: it may stop and restart it."""
    yield from _running(_bus(request.param))
