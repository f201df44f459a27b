"""RedisQueue on a real Redis, with consumers as real processes that can be SIGKILLed."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import orjson
import pytest
import redis

from socketrush.queues.base import Job
from socketrush.queues.redis import QueueKeys, RedisQueue, decode, encode
from socketrush.redis_client import RedisKeys
from socketrush.webhooks import events
from socketrush.webhooks.sender import ID_HEADER, make_job, request_of
from tests.support.redis import RedisServer, redis_server  # noqa: F401 (fixture)
from tests.support.server import REPO_ROOT
from tests.support.webhook_receiver import HANG, Receiver

BODY = events.body([events.channel_occupied("c")], 1_700_000_000_000)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:  # noqa: F811
    with redis_server.client() as plain:
        yield plain


class Consumer:
    """One consumer process; `kill()` is SIGKILL, `stop()` is a clean SIGTERM."""

    def __init__(self, url: str, prefix: str, *args: str) -> None:
        self.node_id = uuid.uuid4().hex
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.socketrush.queues.consumer", "--url", url]
            + ["--prefix", prefix, "--node-id", self.node_id, *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)


def webhook(url: str) -> bytes:
    return encode(make_job("424242", url, BODY, events.headers("key", "secret", BODY)))


def test_job_encoding_round_trips() -> None:
    job = Job("webhook", "424242", b'{"x":"\xc3\xa9"}')
    assert decode(encode(job)) == job


def test_keys_share_one_hash_tag() -> None:
    keys = QueueKeys(RedisKeys("p"))
    assert keys.pending == "{p}:queue:webhooks:pending"
    assert keys.dead == "{p}:queue:webhooks:dead"
    assert keys.inflight("n1") == "{p}:queue:webhooks:in-flight:n1"
    assert keys.alive("n1") == "{p}:queue:webhooks:alive:n1"
    assert keys.consumers == "{p}:queue:webhooks:consumers"


def test_a_consumer_delivers_and_clears_in_flight(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    keys = QueueKeys(RedisKeys(prefix))
    with Receiver() as receiver:
        consumer = Consumer(redis_server.url, prefix)
        try:
            client.lpush(keys.pending, webhook(receiver.url))
            [got] = receiver.wait_for(1)
            assert (got.status, got.body) == (200, BODY)
        finally:
            assert consumer.stop() == 0
    assert client.llen(keys.pending) == 0
    assert client.llen(keys.inflight(consumer.node_id)) == 0
    assert client.sismember(keys.consumers, consumer.node_id) == 0


def test_a_refused_job_goes_to_the_dead_letter_list(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    keys = QueueKeys(RedisKeys(prefix))
    with Receiver([404]) as receiver:
        consumer = Consumer(redis_server.url, prefix)
        try:
            raw = webhook(receiver.url)
            client.lpush(keys.pending, raw)
            [entry] = client.blpop([keys.dead], timeout=10)[1:]
        finally:
            consumer.stop()
    dead = orjson.loads(entry)
    assert dead["job"].encode() == raw
    assert dead["reason"] == f"DeliveryFailed: {receiver.url} refused the webhook (HTTP 404)"


def test_sigkill_mid_delivery_hands_the_job_to_another_node(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    keys = QueueKeys(RedisKeys(prefix))
    with Receiver([HANG]) as receiver:
        first = Consumer(redis_server.url, prefix, "--lease", "1")
        raw = webhook(receiver.url)
        client.lpush(keys.pending, raw)
        [hung] = receiver.wait_for(1)  # the first node is now mid-delivery
        first.kill()
        assert client.lrange(keys.inflight(first.node_id), 0, -1) == [raw]
        second = Consumer(redis_server.url, prefix, "--lease", "1")
        try:
            hung_again, delivered = receiver.wait_for(2)[:2]
            assert delivered.status == 200
            assert delivered.headers[ID_HEADER] == hung.headers[ID_HEADER]
            assert delivered.body == BODY
        finally:
            second.stop()
        assert hung_again is hung
    assert client.llen(keys.inflight(first.node_id)) == 0
    assert client.sismember(keys.consumers, first.node_id) == 0
    assert len(receiver.delivered()) == 1


def test_clean_stop_hands_unfinished_jobs_back(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    keys = QueueKeys(RedisKeys(prefix))
    with Receiver([HANG]) as receiver:
        consumer = Consumer(redis_server.url, prefix, "--stop-timeout", "0.2")
        raw = webhook(receiver.url)
        client.lpush(keys.pending, raw)
        receiver.wait_for(1)
        assert consumer.stop() == 0
    assert client.lrange(keys.pending, 0, -1) == [raw]
    assert client.llen(keys.inflight(consumer.node_id)) == 0


def test_reap_requeues_only_dead_nodes_oldest_first(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    keys = QueueKeys(RedisKeys(prefix))
    queue = RedisQueue(redis.Redis.from_url(redis_server.url), RedisKeys(prefix), node_id="me")
    client.sadd(keys.consumers, "dead", "alive")
    client.set(keys.alive("alive"), b"1", px=60_000)
    client.lpush(keys.inflight("dead"), b"old", b"new")  # LPUSH: "old" was taken first
    client.lpush(keys.inflight("alive"), b"busy")
    client.lpush(keys.pending, b"waiting")
    assert queue.reap() == 2
    assert client.lrange(keys.pending, 0, -1) == [b"waiting", b"new", b"old"]
    assert client.lrange(keys.inflight("alive"), 0, -1) == [b"busy"]
    assert client.smembers(keys.consumers) == {b"alive"}


def test_request_survives_the_queue_unchanged(client: redis.Redis, prefix: str) -> None:
    job = make_job("424242", "http://x", BODY, {"X-Pusher-Key": "key"})
    assert request_of(decode(encode(job))) == request_of(job)


def test_an_unreadable_entry_is_dead_lettered_not_fatal(
    redis_server: RedisServer,  # noqa: F811
    client: redis.Redis,
    prefix: str,
) -> None:
    keys = QueueKeys(RedisKeys(prefix))
    with Receiver() as receiver:
        consumer = Consumer(redis_server.url, prefix)
        try:
            client.lpush(keys.pending, b"not json")
            [entry] = client.blpop([keys.dead], timeout=10)[1:]
            client.lpush(keys.pending, webhook(receiver.url))  # the worker lives on
            assert receiver.wait_for(1)[0].status == 200
        finally:
            consumer.stop()
    dead = orjson.loads(entry)
    assert dead["reason"] == "not a job this version can read"
    assert orjson.loads(dead["job"])["payload"] == "not json"


def test_a_dropped_hold_or_cancel_is_logged_by_its_key_and_jobs_are_cut(
    redis_server: RedisServer,  # noqa: F811
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not started, so nothing drains the buffer of one: the cancels behind the hold are
    dropped at once, and the hold itself at stop (as when Redis is unreachable then)."""
    monkeypatch.setattr("socketrush.queues.redis.MAX_BUFFERED_PUSHES", 1)
    queue = RedisQueue(redis.Redis.from_url(redis_server.url), RedisKeys(prefix), node_id="me")
    large = Job("member_added", "424242", b"x" * 5000)
    caplog.set_level(logging.ERROR, logger="socketrush.queues.redis")
    queue.hold("k1", [Job("member_removed", "424242", b"r")], 60)
    queue.cancel_or_push("k2", [large])
    queue.cancel_or_push("k3", [])
    queue.stop(0)
    reason = "push buffer full (1 writes)"
    assert [r.getMessage() for r in caplog.records] == [
        f"redis queue: lost the cancel of the hold under key k2 ({reason}): a hold there is "
        "delivered when due instead of called off",
        f"redis queue: lost member_added job for app 424242 ({reason}): {'x' * 1000}... "
        "(5000 bytes)",
        f"redis queue: lost the cancel of the hold under key k3 ({reason}): a hold there is "
        "delivered when due instead of called off",
        "redis queue: lost the hold under key k1 (Redis unreachable at stop)",
        "redis queue: lost member_removed job for app 424242 (Redis unreachable at stop): r",
    ]
