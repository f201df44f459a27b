"""WebhookNotifier: switches, filters, member_removed held and called off, batching, flush on
stop."""

from __future__ import annotations

import dataclasses
import time

import gevent
import orjson
import pusher
from gevent.event import Event as GeventEvent

from socketrush.queues.base import Handler, Job, Queue
from socketrush.queues.holds import MemoryHolds
from socketrush.settings import AppSettings, WebhookTarget
from socketrush.webhooks import events
from socketrush.webhooks.notifier import NotifierTiming, WebhookNotifier
from socketrush.webhooks.sender import request_of

ALL_ON = {switch: True for switch in events.SWITCHES.values()}
APP = AppSettings(
    id="424242",
    key="key",
    secret="secret",
    webhooks_enabled=True,
    webhook_urls=("http://hook",),
    **ALL_ON,
)
NO_DELAY = NotifierTiming(member_removed_delay=0, batch_window=0.05, batch_max_events=3)


class Collector(Queue):
    """Records pushed jobs, holding in memory as the local queue does; `wait_for(n)` yields to
    the hub until n jobs arrived."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._changed = GeventEvent()
        self.holds = MemoryHolds(self.push)

    def start(self, handler: Handler) -> None: ...

    def stop(self, timeout: float) -> None:
        self.holds.release_all()

    def push(self, job: Job) -> None:
        self.jobs.append(job)
        self._changed.set()

    def hold(self, key: str, jobs, delay: float) -> None:
        self.holds.hold(key, jobs, delay)

    def cancel_or_push(self, key: str, jobs) -> None:
        self.holds.cancel_or_push(key, jobs)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Job]:
        with gevent.Timeout(timeout, AssertionError(f"expected {count} jobs, got {self.jobs}")):
            while len(self.jobs) < count:
                self._changed.clear()
                self._changed.wait()
        return self.jobs

    def requests(self) -> list[tuple[str, list[dict]]]:
        return [
            (request_of(job).url, orjson.loads(request_of(job).body)["events"]) for job in self.jobs
        ]


def notifier(
    app: AppSettings = APP, timing: NotifierTiming = NO_DELAY, clock=lambda: 1_700_000_000.5
) -> tuple[WebhookNotifier, Collector]:
    queue = Collector()
    return WebhookNotifier(app, queue, timing, clock=clock).start(), queue


def settle(actor: WebhookNotifier) -> None:
    """Stop with drain and wait: every notice sent before is handled (and flushed)."""
    actor.stop(drain=True)
    assert actor.join(5)


def test_every_event_type_becomes_one_signed_request() -> None:
    actor, queue = notifier(clock=time.time)
    every = [
        events.channel_occupied("c"),
        events.member_added("presence-c", "u"),
        events.client_event("presence-c", "client-x", {"a": 1}, "1.1", "u"),
        events.cache_miss("cache-c"),
        events.subscription_count("c", 2),
        events.member_removed("presence-c", "u"),
        events.channel_vacated("c"),
    ]
    for event in every:
        actor.notify(event)
    queue.wait_for(7)
    assert queue.requests() == [("http://hook", [event]) for event in every]
    sdk = pusher.Pusher(app_id="424242", key="key", secret="secret")
    for job in queue.jobs:
        request = request_of(job)
        assert job.app_id == "424242"
        validated = sdk.validate_webhook(
            request.headers["X-Pusher-Key"], request.headers["X-Pusher-Signature"], request.body
        )
        assert validated == orjson.loads(request.body)
    settle(actor)


def test_each_switch_off_drops_only_its_type() -> None:
    for event_type, switch in events.SWITCHES.items():
        actor, queue = notifier(dataclasses.replace(APP, **{switch: False}))
        assert not actor.wants(event_type)
        actor.notify({"name": event_type, "channel": "presence-c", "user_id": "u"})
        actor.notify(
            events.channel_occupied("marker")
            if event_type != "channel_occupied"
            else events.cache_miss("marker")
        )
        settle(actor)
        assert [e["channel"] for _, batch in queue.requests() for e in batch] == ["marker"]


def test_time_ms_is_when_the_request_was_made() -> None:
    actor, queue = notifier()
    actor.notify(events.channel_occupied("c"))
    queue.wait_for(1)
    assert orjson.loads(request_of(queue.jobs[0]).body)["time_ms"] == 1_700_000_000_500
    settle(actor)


def test_webhooks_disabled_sends_nothing() -> None:
    actor, queue = notifier(dataclasses.replace(APP, webhooks_enabled=False))
    actor.notify(events.channel_occupied("c"))
    settle(actor)
    assert queue.jobs == []


def test_targets_filter_by_type_and_channel_name() -> None:
    app = dataclasses.replace(
        APP,
        webhook_urls=(),
        webhooks=(
            WebhookTarget("http://members", frozenset({"member_added", "member_removed"})),
            WebhookTarget("http://rooms", channel_name_starts_with="presence-room"),
        ),
    )
    actor, queue = notifier(app)
    actor.notify(events.member_added("presence-room-1", "u"))
    actor.notify(events.channel_occupied("presence-room-1"))
    actor.notify(events.member_added("presence-lobby", "u"))
    actor.notify(events.channel_occupied("lobby"))
    settle(actor)
    assert queue.requests() == [
        ("http://members", [events.member_added("presence-room-1", "u")]),
        ("http://rooms", [events.member_added("presence-room-1", "u")]),
        ("http://rooms", [events.channel_occupied("presence-room-1")]),
        ("http://members", [events.member_added("presence-lobby", "u")]),
    ]


def test_a_quick_reconnect_suppresses_removed_and_added() -> None:
    actor, queue = notifier(timing=dataclasses.replace(NO_DELAY, member_removed_delay=10))
    actor.notify(events.member_removed("presence-c", "u"))
    actor.notify(events.member_added("presence-c", "u"))
    actor.notify(events.channel_occupied("marker"))
    settle(actor)
    assert queue.requests() == [("http://hook", [events.channel_occupied("marker")])]


def test_member_removed_is_sent_after_the_delay() -> None:
    actor, queue = notifier(timing=dataclasses.replace(NO_DELAY, member_removed_delay=0.1))
    actor.notify(events.member_removed("presence-c", "u"))
    actor.notify(events.member_added("presence-c", "other"))
    queue.wait_for(2)
    assert queue.requests() == [
        ("http://hook", [events.member_added("presence-c", "other")]),
        ("http://hook", [events.member_removed("presence-c", "u")]),
    ]
    settle(actor)


def test_removals_are_held_by_the_queue_stamped_with_their_due_time() -> None:
    actor, queue = notifier(timing=dataclasses.replace(NO_DELAY, member_removed_delay=60))
    actor.notify(events.member_removed("presence-c", "u"))
    settle(actor)  # the notifier's stop leaves the hold to the queue, whose stop sends it
    assert queue.jobs == []
    assert len(queue.holds) == 1
    queue.stop(1)
    assert queue.requests() == [("http://hook", [events.member_removed("presence-c", "u")])]
    assert orjson.loads(request_of(queue.jobs[0]).body)["time_ms"] == 1_700_000_060_500


def test_every_added_meets_its_removed_when_removals_of_one_member_overlap() -> None:
    """In a cluster a member can leave on one node, come back on another (whose member_added
    goes out) and leave again while the first removal is held: each removal is held, and a
    re-join calls off one of them. Before, the second removal was dropped as a repeat, and
    the soak counted a member_added that never got its member_removed."""
    actor, queue = notifier(timing=dataclasses.replace(NO_DELAY, member_removed_delay=0.2))
    actor.notify(events.member_removed("presence-c", "u"))
    actor.notify(events.member_removed("presence-c", "u"))
    actor.notify(events.member_removed("presence-c", "u"))
    actor.notify(events.member_added("presence-c", "u"))
    queue.wait_for(2)
    settle(actor)
    assert queue.requests() == [("http://hook", [events.member_removed("presence-c", "u")])] * 2
    assert len(queue.holds) == 0


def test_a_re_join_calls_off_the_removal_even_when_member_added_is_switched_off() -> None:
    app = dataclasses.replace(APP, has_member_added_webhooks=False)
    actor, queue = notifier(app, dataclasses.replace(NO_DELAY, member_removed_delay=10))
    assert actor.wants("member_added")  # needed to call off the held removal
    actor.notify(events.member_removed("presence-c", "u"))
    actor.notify(events.member_added("presence-c", "u"))
    actor.notify(events.member_added("presence-c", "v"))  # nothing held: and not sent
    settle(actor)
    queue.stop(1)
    assert queue.jobs == []


def test_without_a_delay_member_added_follows_its_own_switch() -> None:
    app = dataclasses.replace(APP, has_member_added_webhooks=False)
    actor, _ = notifier(app)
    assert not actor.wants("member_added")


def test_member_events_leave_batches_alone_while_removals_are_held() -> None:
    app = dataclasses.replace(APP, has_webhook_batching_enabled=True)
    timing = NotifierTiming(member_removed_delay=10, batch_window=60, batch_max_events=100)
    actor, queue = notifier(app, timing)
    actor.notify(events.channel_occupied("presence-c"))
    actor.notify(events.member_added("presence-c", "u"))
    actor.notify(events.subscription_count("presence-c", 1))
    settle(actor)
    assert queue.requests() == [
        ("http://hook", [events.member_added("presence-c", "u")]),
        (
            "http://hook",
            [events.channel_occupied("presence-c"), events.subscription_count("presence-c", 1)],
        ),
    ]


def test_batching_sends_full_batches_at_once_and_the_rest_after_the_window() -> None:
    app = dataclasses.replace(APP, has_webhook_batching_enabled=True)
    actor, queue = notifier(app, dataclasses.replace(NO_DELAY, batch_window=0.2))
    sent = [events.channel_occupied(f"c{i}") for i in range(5)]
    for event in sent:
        actor.notify(event)
    queue.wait_for(1)
    assert queue.requests() == [("http://hook", sent[:3])]
    queue.wait_for(2)
    assert queue.requests() == [("http://hook", sent[:3]), ("http://hook", sent[3:])]
    settle(actor)


def test_batching_window_gathers_events_that_arrive_within_it() -> None:
    app = dataclasses.replace(APP, has_webhook_batching_enabled=True)
    actor, queue = notifier(app, NotifierTiming(0, batch_window=0.3, batch_max_events=100))
    actor.notify(events.channel_occupied("a"))
    gevent.sleep(0.1)  # inside the window on purpose: this is the behaviour under test
    actor.notify(events.channel_vacated("a"))
    queue.wait_for(1)
    assert queue.requests() == [
        ("http://hook", [events.channel_occupied("a"), events.channel_vacated("a")])
    ]
    settle(actor)


def test_stop_flushes_an_open_batch() -> None:
    app = dataclasses.replace(APP, has_webhook_batching_enabled=True)
    actor, queue = notifier(app, NotifierTiming(0, batch_window=60, batch_max_events=100))
    actor.notify(events.channel_occupied("a"))
    settle(actor)
    assert queue.requests() == [("http://hook", [events.channel_occupied("a")])]
