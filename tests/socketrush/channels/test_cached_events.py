"""A cache channel's actor sends a subscriber each API event once: from the cache on subscribe
or live, whichever of the two reaches it first (tests/socketrush/adapters/test_cache_once.py
holds the same windows open across real nodes)."""

from __future__ import annotations

from dataclasses import replace

import orjson

from socketrush.cache.access import (
    ActorCache,
    CacheAccess,
    CacheActor,
    CachedEvent,
    DirectCache,
    cache_entry,
    cache_key,
)
from socketrush.cache.local import LocalCache
from socketrush.channels import Broadcast, ChannelActor, Join, Leave
from socketrush.protocol.channels import classify
from socketrush.protocol.websocket import text_frame
from tests.support.channels import Socket, channel_settings

CHANNEL = "cache-prices"
KEY = cache_key("app", CHANNEL)


def payload(number: int) -> bytes:
    return orjson.dumps({"event": "tick", "channel": CHANNEL, "data": number})


def live(number: int) -> Broadcast:
    """API event `number`, as the app tells it to the channel (its id is `e<number>`)."""
    return Broadcast(text_frame(payload(number)), event_id=f"e{number}")


def cached(cache: LocalCache, number: int) -> None:
    cache.set(KEY, cache_entry(f"e{number}", payload(number)), 60)


def channel_on(access: CacheAccess) -> ChannelActor:
    """Not started: what is told queues up until the test starts it."""
    settings = replace(channel_settings(), cache=access)
    return ChannelActor(classify(CHANNEL), settings, on_empty=lambda _: None)


def run(channel: ChannelActor) -> None:
    channel.start()
    channel.stop(drain=True)
    assert channel.join(5)


def ticks(socket: Socket) -> list[object]:
    return [f["data"] if f["event"] == "tick" else f["event"] for f in socket.frames]


SUCCEEDED = "pusher_internal:subscription_succeeded"


def test_an_event_cached_before_its_delivery_is_not_sent_again_live() -> None:
    """One node: the app caches an event and tells the channel, whose mailbox still holds a
    join (the channel was busy); the joining socket reads the event from the cache. One that
    joins after the delivery reads it too, and is owed nothing more."""
    cache = LocalCache()
    channel = channel_on(DirectCache(cache))
    early, late = Socket("1.1"), Socket("2.2")
    channel.tell(Join(early))
    cached(cache, 1)
    channel.tell(live(1))
    channel.tell(Join(late))
    channel.tell(live(2))
    run(channel)
    assert ticks(early) == [SUCCEEDED, 1, 2]
    assert ticks(late) == [SUCCEEDED, 1, 2]


def unanswered() -> ActorCache:
    """A cache actor that never runs: the test tells the channel each answer itself, where
    a Redis cache's answer could arrive."""
    return ActorCache(CacheActor(LocalCache()))


def answer(socket: Socket, number: int | None) -> CachedEvent:
    if number is None:
        return CachedEvent(socket, None)
    return CachedEvent(socket, payload(number), f"e{number}")


def test_a_cached_answer_overtaken_by_live_events_is_not_sent() -> None:
    """Events that arrived live since the subscriber asked make its answer redundant (that
    very event, an older one, or a newer one still on its way); a miss is still told."""
    channel = channel_on(unanswered())
    same, older, missed = Socket("1.1"), Socket("2.2"), Socket("3.3")
    for socket in (same, older, missed):
        channel.tell(Join(socket))
    channel.tell(live(1))
    channel.tell(live(2))
    channel.tell(answer(same, 2))
    channel.tell(answer(older, 1))
    channel.tell(answer(missed, None))
    run(channel)
    assert ticks(same) == ticks(older) == [SUCCEEDED, 1, 2]
    assert ticks(missed) == [SUCCEEDED, 1, 2, "pusher:cache_miss"]


def test_only_the_event_sent_from_the_cache_is_left_out() -> None:
    """An event the bus ordered before the cached one still arrives, and so does the same
    data triggered again (another event: another id)."""
    channel = channel_on(unanswered())
    first, late = Socket("1.1"), Socket("2.2")
    channel.tell(Join(first))
    channel.tell(answer(first, None))
    channel.tell(Join(late))
    channel.tell(answer(late, 2))
    channel.tell(live(1))
    channel.tell(live(2))
    channel.tell(Broadcast(text_frame(payload(2)), event_id="again"))
    run(channel)
    assert ticks(first) == [SUCCEEDED, "pusher:cache_miss", 1, 2, 2]
    assert ticks(late) == [SUCCEEDED, 2, 1, 2]


def test_a_subscriber_that_left_and_came_back_gets_the_event_live() -> None:
    channel = channel_on(unanswered())
    socket = Socket("1.1")
    channel.tell(Join(socket))
    channel.tell(answer(socket, 1))
    channel.tell(Leave(socket))
    channel.tell(Join(socket))
    channel.tell(answer(socket, None))
    channel.tell(live(1))
    run(channel)
    assert ticks(socket) == [SUCCEEDED, 1, SUCCEEDED, "pusher:cache_miss", 1]
