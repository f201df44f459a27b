"""Held jobs in Redis (queues/redis_holds.py): the scripts on a real Redis and a real
Redis Cluster. The promoter and the nodes that use them are tested end to end in
tests/socketrush/webhooks/test_held_removals.py."""

from __future__ import annotations

import uuid

import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient

from socketrush.queues.redis import QueueKeys
from socketrush.queues.redis_holds import (
    PROMOTE_BATCH,
    CancelWrite,
    HoldsLost,
    HoldWrite,
    RedisHolds,
)
from socketrush.redis_client import RedisKeys
from tests.support.redis import RedisCluster, RedisServer

LEASE = 15.0  # the default queue_redis_lease_ms


@pytest.fixture
def client(redis_server: RedisServer):
    with redis_server.client() as plain:
        yield plain


def holds_on(client: redis.Redis | ClusterClient) -> tuple[RedisHolds, QueueKeys]:
    keys = QueueKeys(RedisKeys(f"t{uuid.uuid4().hex[:8]}"))
    holds = RedisHolds(client, keys.base, keys.pending, LEASE)
    holds.epoch = holds.fetch_epoch()
    return holds, keys


def hold(key: str, *jobs: bytes, delay_ms: int = 60_000) -> HoldWrite:
    return HoldWrite(uuid.uuid4().hex, key, jobs, delay_ms)


def cancel(key: str, *jobs: bytes) -> CancelWrite:
    return CancelWrite(uuid.uuid4().hex, key, jobs)


def leftovers(client: redis.Redis, keys: QueueKeys) -> list[bytes]:
    """Every key of the queue except done markers, the epoch and the pending list."""
    found = client.keys(f"{keys.base}:*")
    kept = {keys.pending.encode(), f"{keys.base}:held:epoch".encode()}
    return sorted(k for k in found if b":done:" not in k and k not in kept)


def test_a_due_hold_moves_to_pending_and_leaves_nothing(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    holds.hold(hold('["app","presence-c","u"]', b'{"job":1}', b'{"job":2}', delay_ms=0))
    assert holds.promote() == (1, None, False, [])
    assert client.lrange(keys.pending, 0, -1) == [b'{"job":2}', b'{"job":1}']  # FIFO from right
    assert leftovers(client, keys) == []


def test_a_hold_waits_for_its_time_and_says_how_long(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    holds.hold(hold("k", b"j", delay_ms=60_000))
    moved, wait, _, _ = holds.promote()
    assert moved == 0
    assert wait is not None and 59 < wait <= 60
    assert client.llen(keys.pending) == 0


def test_a_cancel_calls_off_the_latest_hold_and_drops_its_own_jobs(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    first, second = hold("k", b"first"), hold("k", b"second")
    holds.hold(first)
    holds.hold(second)
    assert holds.cancel_or_push(cancel("k", b"added"))[:2] == (1, second.op_id)
    assert client.zrange(keys.base + ":held", 0, -1) == [first.op_id.encode()]
    assert holds.cancel_or_push(cancel("k", b"added"))[:2] == (1, first.op_id)
    assert holds.cancel_or_push(cancel("k", b"added again")) == (
        0,
        None,
        0.0,
    )  # nothing left: pushed
    assert client.lrange(keys.pending, 0, -1) == [b"added again"]
    assert leftovers(client, keys) == []


def test_a_cancel_tells_how_long_the_hold_it_called_off_had_left(client: redis.Redis) -> None:
    """By Redis' clock: the node that keeps the id for as long needs no clock of its own."""
    holds, _ = holds_on(client)
    holds.hold(hold("k", delay_ms=60_000))
    outcome, _, left = holds.cancel_or_push(cancel("k"))
    assert outcome == 1
    assert 59 < left <= 60
    holds.hold(hold("k", delay_ms=0))  # due, not moved yet: no PROMOTE ran
    assert holds.cancel_or_push(cancel("k"))[::2] == (1, 0.0)


def test_keys_never_run_into_each_other(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    write = hold("a b\nc", b"j1")
    holds.hold(write)
    assert holds.cancel_or_push(cancel("a b", b"x")) == (0, None, 0.0)
    assert holds.cancel_or_push(cancel("a b\nc"))[:2] == (1, write.op_id)
    assert client.lrange(keys.pending, 0, -1) == [b"x"]


def test_a_repeated_write_is_applied_once(client: redis.Redis) -> None:
    """A write whose answer a broken connection lost is sent again: a second cancel would
    call off a hold that no re-join matched."""
    holds, keys = holds_on(client)
    write = hold("k", b"first")
    second = hold("k", b"second")
    assert holds.hold(write)
    assert not holds.hold(write)
    holds.hold(second)
    undo = cancel("k")
    assert holds.cancel_or_push(undo)[:2] == (1, second.op_id)
    assert holds.cancel_or_push(undo) == (-1, None, 0.0)
    assert client.zcard(keys.base + ":held") == 1
    assert client.hget(keys.base + ":held:keys", b'"k"') == write.op_id.encode()


def test_done_markers_live_a_few_leases(client: redis.Redis) -> None:
    """One marker per hold and per cancel: at 1,000 joins and leaves a second, ten minutes of
    them was 1.2 million keys."""
    holds, keys = holds_on(client)
    holds.hold(hold("k"))
    holds.cancel_or_push(cancel("k"))
    holds.cancel_or_push(cancel("k", b"pushed"))
    markers = client.keys(f"{keys.base}:held:done:*")
    assert len(markers) == 3
    assert all(0 < client.pttl(marker) <= 4 * LEASE * 1000 for marker in markers)


def test_a_hold_with_no_jobs_still_pairs_with_a_re_join(client: redis.Redis) -> None:
    """No destination wants member_removed, one wants member_added: the leave is held empty
    so that the re-join's member_added is called off, not sent alone."""
    holds, keys = holds_on(client)
    holds.hold(hold("k"))
    assert holds.cancel_or_push(cancel("k", b"added"))[0] == 1
    holds.hold(hold("k", delay_ms=0))
    assert holds.promote() == (1, None, False, [])
    assert client.llen(keys.pending) == 0
    assert leftovers(client, keys) == []


def test_an_epoch_is_made_once_and_then_kept(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    assert holds.epoch is not None
    assert holds.fetch_epoch() == holds.epoch
    client.delete(f"{keys.base}:held:epoch")  # as in a Redis restarted empty
    assert holds.fetch_epoch() not in (holds.epoch, None)


def test_under_another_epoch_writes_change_nothing_and_due_holds_still_move(
    client: redis.Redis,
) -> None:
    holds, keys = holds_on(client)
    kept = hold("k", b"due", delay_ms=0)
    holds.hold(kept)
    holds.epoch = "another"
    with pytest.raises(HoldsLost):
        holds.hold(hold("k", b"held"))
    with pytest.raises(HoldsLost):
        holds.cancel_or_push(cancel("k", b"added"))
    assert client.keys(f"{keys.base}:held:done:*") == [
        f"{keys.base}:held:done:{kept.op_id}".encode()
    ]
    assert holds.promote([kept.op_id]) == (1, None, True, [])  # lost: nothing said of the ids
    assert client.lrange(keys.pending, 0, -1) == [b"due"]


def lose_data(client: redis.Redis, keys: QueueKeys) -> None:
    """What a Redis restarted empty keeps of the queue: nothing."""
    client.delete(*client.keys(f"{keys.base}:*"))


@pytest.mark.parametrize("call_off_first", [True, False], ids=["call off first", "write first"])
def test_a_hold_called_off_again_after_a_loss_stays_off(
    client: redis.Redis, call_off_first: bool
) -> None:
    """Node A wrote `called_off`, node B called it off; Redis lost its data; A writes it
    again and B calls it off again, in either order. Another hold under its key stays."""
    writer, keys = holds_on(client)
    other = RedisHolds(client, keys.base, keys.pending, LEASE)
    other.epoch = writer.epoch
    called_off, kept = hold("k", b"called off"), hold("k", b"kept")
    writer.hold(called_off)
    assert other.cancel_or_push(cancel("k", b"added"))[:2] == (1, called_off.op_id)
    lose_data(client, keys)
    epoch = writer.fetch_epoch()
    writer.hold(kept, epoch)
    if call_off_first:
        assert other.call_off([called_off.op_id], epoch) == 0
        assert not writer.hold(called_off, epoch)  # a repeat: its done marker is set
    else:
        assert writer.hold(called_off, epoch)
        assert other.call_off([called_off.op_id], epoch) == 1
        assert not writer.hold(called_off, epoch)
    assert client.zrange(f"{keys.base}:held", 0, -1) == [kept.op_id.encode()]
    assert client.hkeys(f"{keys.base}:held:jobs") == [kept.op_id.encode()]
    assert client.hgetall(f"{keys.base}:held:keys") == {b'"k"': kept.op_id.encode()}
    assert client.llen(keys.pending) == 0


def test_calling_off_again_under_another_epoch_changes_nothing(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    with pytest.raises(HoldsLost):
        holds.call_off(["some hold"], "another")
    assert client.keys(f"{keys.base}:held:done:*") == []


def test_calling_off_again_goes_in_batches(client: redis.Redis) -> None:
    holds, keys = holds_on(client)
    writes = [hold(f"k{index}") for index in range(PROMOTE_BATCH + 1)]
    for write in writes:
        holds.hold(write)
    assert holds.call_off([write.op_id for write in writes], holds.epoch or "") == len(writes)
    assert leftovers(client, keys) == []


def test_promote_tells_which_checked_holds_are_held_no_more(client: redis.Redis) -> None:
    holds, _ = holds_on(client)
    due, waiting, called_off = hold("a", delay_ms=0), hold("b"), hold("c")
    for write in (due, waiting, called_off):
        holds.hold(write)
    holds.cancel_or_push(cancel("c"))
    moved, _, lost, gone = holds.promote([due.op_id, waiting.op_id, called_off.op_id])
    assert (moved, lost, gone) == (1, False, [due.op_id, called_off.op_id])


def test_on_redis_cluster(redis_cluster: RedisCluster) -> None:
    client = ClusterClient.from_url(redis_cluster.url)
    try:
        holds, keys = holds_on(client)
        holds.hold(hold("k", b"kept", delay_ms=0))
        called_off = hold("k", b"called off")
        holds.hold(called_off)
        assert holds.cancel_or_push(cancel("k"))[0] == 1
        assert holds.call_off([called_off.op_id, "never held"], holds.epoch or "") == 0
        assert holds.promote() == (1, None, False, [])
        assert client.lrange(keys.pending, 0, -1) == [b"kept"]
    finally:
        client.close()
