"""The Redis adapter's side that listens: the node's pub/sub connections, owned by one greenlet.

A pub/sub connection is one socket with one reply stream, so it has one owner. Its greenlet
interleaves the subscribes and unsubscribes the node's `Interest` asks for with reading
messages, and sleeps in between until a connection is readable or there is something to ask
(`wake`): a first subscriber waits one round trip for its topic, not a polling period.

Standalone Redis: one connection, SUBSCRIBE/UNSUBSCRIBE (batched). Redis Cluster: sharded
pub/sub (SSUBSCRIBE/SUNSUBSCRIBE, one per topic since each names one slot) on a connection
to each master that owns a wanted topic's slot, so a topic's traffic stays on its shard.
When Cluster moves a slot, its master ends the topic's subscription (an SUNSUBSCRIBE it sends
by itself, or MOVED in answer to ours); the topic is then asked for again where it now lives.

Every connection is pinged when quiet; a missing pong, a closed socket or an error reply that
is not a moved slot drops all connections, releases every waiter and reconnects with backoff,
then subscribes everything again (counted in the adapter's metrics).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import gevent
import redis
from gevent import get_hub
from gevent.event import Event
from redis.cluster import RedisCluster
from redis.exceptions import AskError, RedisClusterException
from redis.maint_notifications import MaintNotificationsConfig

from socketrush import metrics
from socketrush.adapters.interest import Interest

log = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 0.2
# A node is deaf to the others until it has subscribed again: retried often once Redis is
# away (a connect attempt to a stopped Redis costs next to nothing).
BACKOFF_MAX_SECONDS = 1.0
PING_AFTER_SECONDS = 5.0  # a quiet connection is pinged...
PONG_WITHIN_SECONDS = 10.0  # ...and dropped if the pong does not come back in time
MAX_TOPICS_PER_COMMAND = 1000
YIELD_EVERY = 256  # messages read in a row before other greenlets get a turn

Receive = Callable[[bytes], None]

# A pub/sub connection speaks RESP2 with raw bytes, pings on its own terms (`_sleep`), and
# wants no maintenance notifications (redis-py's need RESP3 and a Redis Enterprise server).
_PUBSUB_OPTIONS = {
    "health_check_interval": 0,
    "protocol": 2,
    "decode_responses": False,
    "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    "maint_notifications_pool_handler": None,
}
_MESSAGES = (b"message", b"smessage")
_PONG = (b"pong", b"PONG")


class _Link:
    """One pub/sub connection (to the standalone Redis, or to one Cluster master), with the
    confirmations it owes in the order its requests were sent."""

    def __init__(self, connection: redis.Connection) -> None:
        self.connection = connection
        self.expected: deque[tuple[bytes, str]] = deque()  # (reply kind, topic)
        self.last_read = time.monotonic()
        self.ping_sent: float | None = None
        self._watcher = None
        self._on_readable: Callable[[], None] | None = None

    def open(self, on_readable: Callable[[], None]) -> None:
        self.connection.connect()
        self._on_readable = on_readable
        self._watcher = get_hub().loop.io(self.connection._sock.fileno(), 1)

    def listen(self, on: bool) -> None:
        """Call `on_readable` when the socket becomes readable (only while the owner sleeps:
        the rest of the time it reads until nothing is left)."""
        if on:
            self._watcher.start(self._on_readable)
        else:
            self._watcher.stop()

    def send(self, *args: str) -> None:
        self.connection.send_command(*args, check_health=False)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None
        self.connection.disconnect()


class RedisSubscriber:
    """State: the links (by address), which link carries each topic, and whether all links are
    up. `interest` is shared with the adapter, which watches topics and wakes this one."""

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        interest: Interest,
        receive: Receive,
    ) -> None:
        self._client = client
        self._sharded = isinstance(client, RedisCluster)
        self._interest = interest
        self._receive = receive
        self._links: dict[str, _Link] = {}
        self._where: dict[str, _Link] = {}  # topic -> the link it was asked on
        self._wakeup = Event()
        self._greenlet: gevent.Greenlet | None = None
        self._connections = 0  # made so far; every one after the first is a reconnect
        self._failures = 0  # in a row
        self._resubscribing: set[str] = set()  # wanted at the last connect, not yet confirmed
        self.connected = False

    @property
    def synced(self) -> bool:
        """Connected, and every topic wanted when it (re)connected subscribed again."""
        return self.connected and not self._resubscribing

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def wake(self) -> None:
        """There is something to ask of Redis: the owner does it at its next turn."""
        self._wakeup.set()

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._close_links()

    # -- the owner greenlet --

    def _run(self) -> None:
        backoff = BACKOFF_START_SECONDS
        while True:
            try:
                self._connect()
                backoff = BACKOFF_START_SECONDS
                while True:
                    self._ask()
                    self._read_all()
                    self._sleep()
            except (redis.RedisError, RedisClusterException, OSError) as error:
                self._lost(error)
            except Exception as error:  # a bug must not end cross-node delivery for good
                log.exception("redis adapter subscriber failed; subscribing everything again")
                self._lost(error)
            gevent.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _connect(self) -> None:
        """A standalone Redis is connected here (its one link); Cluster masters on demand,
        when a topic of theirs is asked for."""
        if not self._sharded:
            self._link_to("", self._client)
        else:
            self._client.nodes_manager.initialize()
        self._connections += 1
        self._resubscribing = set(self._interest.wanted())
        if self._connections > 1:
            metrics.ADAPTER_RECONNECTS.inc()
            log.info(
                "redis adapter reconnected; subscribing %d topics again", len(self._resubscribing)
            )
            metrics.ADAPTER_RESUBSCRIBED.inc(len(self._resubscribing))
        self._interest.connected = self.connected = True

    def _lost(self, error: BaseException) -> None:
        if self.connected:
            log.error("redis adapter lost its subscriptions: %s; reconnecting", error)
            self._failures = 0
        else:
            self._failures += 1
            if self._failures == 1 or self._failures % 100 == 0:
                log.warning("redis adapter cannot subscribe (%d tries): %s", self._failures, error)
        self.connected = False
        self._resubscribing = set()
        self._close_links()
        for ready in self._interest.connection_lost():
            ready()
        metrics.ADAPTER_TOPICS.set(0)

    def _close_links(self) -> None:
        links, self._links, self._where = self._links, {}, {}
        for link in links.values():
            try:
                link.close()
            except Exception:  # a broken socket may fail to close: it is dropped anyway
                log.debug("closing a pub/sub connection failed", exc_info=True)

    def _link_to(self, address: str, client: redis.Redis) -> _Link:
        link = self._links.get(address)
        if link is None:
            pool = client.connection_pool
            link = _Link(pool.connection_class(**{**pool.connection_kwargs, **_PUBSUB_OPTIONS}))
            link.open(self._wakeup.set)
            self._links[address] = link
        return link

    def _link_for(self, topic: str) -> _Link:
        if not self._sharded:
            return self._links[""]
        cluster = self._client
        node = cluster.get_node_from_key(topic)
        return self._link_to(node.name, cluster.get_redis_connection(node))

    def _ask(self) -> None:
        subscribe, unsubscribe = self._interest.requests()
        if not subscribe and not unsubscribe:
            return
        if self._sharded:
            for topic in unsubscribe:
                link = self._where.pop(topic, None)
                if link is not None:  # else its link is gone: nothing to end
                    self._request(link, b"sunsubscribe", [topic])
                else:
                    self._answered(topic)
            for topic in subscribe:
                link = self._link_for(topic)
                self._where[topic] = link
                self._request(link, b"ssubscribe", [topic])
        else:
            link = self._links[""]
            for start in range(0, len(unsubscribe), MAX_TOPICS_PER_COMMAND):
                chunk = unsubscribe[start : start + MAX_TOPICS_PER_COMMAND]
                self._request(link, b"unsubscribe", chunk)
            for start in range(0, len(subscribe), MAX_TOPICS_PER_COMMAND):
                self._request(link, b"subscribe", subscribe[start : start + MAX_TOPICS_PER_COMMAND])
        metrics.ADAPTER_TOPICS.set(len(self._interest))

    def _request(self, link: _Link, kind: bytes, topics: list[str]) -> None:
        link.send(kind.decode().upper(), *topics)
        link.expected.extend((kind, topic) for topic in topics)

    def _read_all(self) -> None:
        for link in list(self._links.values()):
            connection = link.connection
            read = 0
            while connection.can_read(timeout=0):
                read += 1
                if read % YIELD_EVERY == 0:
                    gevent.sleep(0)  # a flood must not starve the actors it feeds
                try:
                    reply = connection.read_response(disconnect_on_error=False)
                except redis.ResponseError as error:
                    self._refused(link, error)
                else:
                    self._handle(link, reply)
                link.last_read = time.monotonic()
                link.ping_sent = None

    def _handle(self, link: _Link, reply: object) -> None:
        if not isinstance(reply, list) or not reply:
            if reply in _PONG:
                return
            raise redis.ConnectionError(f"unexpected pub/sub reply {reply!r:.80}")
        kind = reply[0]
        if kind in _MESSAGES:
            self._receive(reply[2])
        elif kind in _PONG:
            return
        else:
            topic = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
            if link.expected and link.expected[0] == (kind, topic):
                link.expected.popleft()
                self._answered(topic)
            elif kind == b"sunsubscribe" and self._where.get(topic) is link:
                self._moved(link, topic)  # Cluster moved the topic's slot away

    def _answered(self, topic: str) -> None:
        self._resubscribing.discard(topic)
        for ready in self._interest.answered(topic):
            ready()

    def _refused(self, link: _Link, error: redis.ResponseError) -> None:
        """An error answers the oldest request: on Cluster a MOVED means the slot lives
        elsewhere now; anything else is a Redis this adapter cannot use."""
        if not link.expected:
            raise redis.ConnectionError(f"unexpected error on a pub/sub connection: {error}")
        _kind, topic = link.expected.popleft()
        if self._sharded and isinstance(error, AskError):  # MOVED or ASK
            self._moved(link, topic)
            return
        raise redis.ConnectionError(f"redis refused a subscription to {topic!r}: {error}")

    def _moved(self, link: _Link, topic: str) -> None:
        if self._where.get(topic) is link:
            del self._where[topic]
        self._interest.lost([topic], release=False)
        self._client.nodes_manager.initialize()
        self.wake()

    def _sleep(self) -> None:
        """Until a link is readable, something is to be asked, or a quiet link needs a ping."""
        now = time.monotonic()
        for link in self._links.values():
            if link.ping_sent is not None and now - link.ping_sent > PONG_WITHIN_SECONDS:
                raise redis.ConnectionError("redis did not answer a ping in time")
            if link.ping_sent is None and now - link.last_read > PING_AFTER_SECONDS:
                link.send("PING")
                link.ping_sent = now
        if self._wakeup.is_set():
            self._wakeup.clear()
            return
        for link in self._links.values():
            link.listen(True)
        try:
            self._wakeup.wait(PING_AFTER_SECONDS)
        finally:
            for link in self._links.values():
                link.listen(False)
        self._wakeup.clear()
