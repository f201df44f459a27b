"""Unit tests of DashboardHub and DebugFeed: listeners, records, budget, figures and peers.

The hub is a real actor on gevent; apps and subscribers are stand-ins with only the
attributes the hub reads, and the other nodes a recording stand-in for the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
import orjson
import pytest

from socketrush import metrics
from socketrush.adapters.messages import Command, ConsoleRecord, ConsoleWatched, NodeFigures
from socketrush.adapters.topics import DASHBOARD, Topic, console_topic
from socketrush.dashboard.access import DashboardAccess
from socketrush.dashboard.feed import DATA_SHOWN, DebugFeed
from socketrush.dashboard.hub import (
    DEBUG_CHANNEL,
    LISTEN_TTL_SECONDS,
    RECORDS_PER_SECOND,
    DashboardHub,
    Figures,
    RecordBudget,
    Samples,
    _Tick,
)
from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import TriggerEvent
from socketrush.webhooks.sender import WebhookAttempt

ACCESS = DashboardAccess("admin", "pw")


@dataclass
class Page:
    """A debug listener's socket: records every frame it is sent, decoded."""

    socket_id: str
    frames: list[dict] = field(default_factory=list)

    def send_frame(self, frame: bytes) -> None:
        length, start = frame[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(frame[2:4], "big"), 4
        decoded = orjson.loads(frame[start : start + length])
        if isinstance(decoded.get("data"), str):
            decoded["data"] = orjson.loads(decoded["data"])
        self.frames.append(decoded)

    def records(self) -> list[dict]:
        return [
            {k: v for k, v in f["data"].items() if k != "time"}
            for f in self.frames
            if f["event"] == "log"
        ]


@dataclass
class Settings:
    id: str


@dataclass
class App:
    settings: Settings
    connection_count: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Peers:
    """The adapter as the hub uses it: what it sent and which topics it watched."""

    sent: list[Command] = field(default_factory=list)
    topics: list[tuple[str, Topic]] = field(default_factory=list)

    def send(self, command: Command) -> None:
        self.sent.append(command)

    def watch(self, topic: Topic, on_ready) -> bool:
        self.topics.append(("watch", topic))
        return True

    def unwatch(self, topic: Topic) -> None:
        self.topics.append(("unwatch", topic))

    def of(self, kind: type) -> list:
        return [command for command in self.sent if isinstance(command, kind)]


@pytest.fixture
def peers() -> Peers:
    return Peers()


@pytest.fixture
def apps() -> list[App]:
    return [App(Settings("1"), 3), App(Settings("2"))]


@pytest.fixture
def hub(apps, peers, clock):
    actor = DashboardHub(lambda: apps, peers, node_id="me", clock=clock).start()
    yield actor
    actor.stop()


def settle(hub: DashboardHub) -> None:
    """Let the hub handle everything told so far (an ask queues behind it)."""
    hub.ask(Figures())


def subscribe(feed: DebugFeed, page: Page, app_id: str = "1") -> None:
    auth = ACCESS.channel_auth(app_id, page.socket_id)
    assert feed.take_subscribe(app_id, page, DEBUG_CHANNEL, auth)


def test_no_listener_means_no_record(hub: DashboardHub) -> None:
    feed = DebugFeed(hub, ACCESS)
    settle(hub)
    depth = hub.mailbox_depth
    feed.connected("1", "1.1", "https://a")
    feed.client_event("1", "1.1", "private-x", "client-e", {}, None)
    assert hub.mailbox_depth == depth == 0
    assert not feed.listening("1")


def test_disabled_feed_refuses_the_debug_channel() -> None:
    feed, page = DebugFeed(), Page("1.1")
    assert feed.take_subscribe("1", page, DEBUG_CHANNEL, "dashboard:x")
    assert page.frames == [
        {
            "event": "pusher:subscription_error",
            "channel": DEBUG_CHANNEL,
            "data": {"type": "AuthError", "error": "The dashboard is not enabled", "status": 401},
        }
    ]
    assert not feed.take_subscribe("1", page, "private-other", None)
    feed.connected("1", "1.1", "")  # nothing listens, nothing fails


def test_a_listener_gets_its_app_s_records_only(hub: DashboardHub, peers) -> None:
    feed, page, other = DebugFeed(hub, ACCESS), Page("9.9"), Page("8.8")
    subscribe(feed, page, "1")
    subscribe(feed, other, "2")
    settle(hub)
    assert page.frames[0] == {
        "event": "pusher_internal:subscription_succeeded",
        "channel": DEBUG_CHANNEL,
        "data": {},
    }
    assert feed.listening("1") and feed.listening("2")
    feed.connected("1", "1.1", "https://a")
    feed.subscribed("1", "1.1", "presence-r", "u1")
    feed.api_event("1", TriggerEvent("e", ("a", "b"), "x" * (DATA_SHOWN + 5), "3.3", frozenset()))
    feed.webhook_attempt(
        WebhookAttempt("1", "http://h", b'{"events":[{"name":"n","channel":"c"}]}', 2, None, "E")
    )
    settle(hub)
    assert page.records() == [
        {"type": "connected", "socket_id": "1.1", "origin": "https://a"},
        {"type": "subscribed", "socket_id": "1.1", "channel": "presence-r", "user_id": "u1"},
        {
            "type": "api_event",
            "channels": ["a", "b"],
            "event": "e",
            "data": "x" * DATA_SHOWN + "…",
            "except_socket_id": "3.3",
        },
        {
            "type": "webhook",
            "url": "http://h",
            "events": [{"name": "n", "channel": "c"}],
            "attempt": 2,
            "status": None,
            "outcome": "E",
        },
    ]
    assert other.records() == []
    assert peers.of(ConsoleRecord) == []  # no remote listener


def test_a_bad_signature_is_refused(hub: DashboardHub) -> None:
    feed, page = DebugFeed(hub, ACCESS), Page("1.1")
    auth = ACCESS.channel_auth("1", "2.2")  # another socket's
    assert feed.take_subscribe("1", page, DEBUG_CHANNEL, auth)
    settle(hub)
    assert page.frames[0]["event"] == "pusher:subscription_error"
    assert not feed.listening("1")


def test_a_page_leaving_stops_the_records(hub: DashboardHub) -> None:
    feed, page = DebugFeed(hub, ACCESS), Page("9.9")
    subscribe(feed, page)
    feed.disconnected("1", "9.9", 1000)  # before the hub even saw the subscription
    settle(hub)
    assert not feed.listening("1")
    subscribe(feed, page)
    settle(hub)
    feed.unsubscribed("1", "9.9", DEBUG_CHANNEL)
    settle(hub)
    assert not feed.listening("1")


def test_a_flood_is_cut_and_counted(hub: DashboardHub, clock: Clock) -> None:
    feed, page = DebugFeed(hub, ACCESS), Page("9.9")
    subscribe(feed, page)
    settle(hub)
    for n in range(RECORDS_PER_SECOND + 7):
        feed.error("1", f"1.{n}", Err.UNKNOWN_EVENT, None)
    settle(hub)
    assert len(page.records()) == RECORDS_PER_SECOND
    clock.now += 1
    feed.connected("1", "2.2", "")
    settle(hub)
    assert page.records()[-2:] == [
        {"type": "dropped", "count": 7},
        {"type": "connected", "socket_id": "2.2", "origin": ""},
    ]


def test_budget_reports_drops_of_a_quiet_app_once() -> None:
    budget = RecordBudget(limit=1)
    assert budget.take("a", 10.0) == (True, 0)
    assert budget.take("a", 10.5) == (False, 0)
    assert budget.closed_drops(10.9) == {}
    assert budget.closed_drops(11.0) == {"a": 1}
    assert budget.closed_drops(12.0) == {}


def test_remote_pages_are_announced_and_expire(hub: DashboardHub, peers, clock: Clock) -> None:
    feed, page = DebugFeed(hub, ACCESS), Page("9.9")
    subscribe(feed, page)
    settle(hub)
    assert ConsoleWatched("1") in peers.sent
    hub.tell(ConsoleWatched("2"))
    settle(hub)
    assert feed.listening("2")
    feed.connected("2", "5.5", "")
    settle(hub)
    logs = peers.of(ConsoleRecord)
    assert len(logs) == 1 and logs[0].app_id == "2"
    assert orjson.loads(orjson.loads(logs[0].frame)["data"])["socket_id"] == "5.5"
    hub.tell(ConsoleRecord("1", logs[0].frame))  # a record from another node, for our page
    settle(hub)
    assert page.records()[-1]["socket_id"] == "5.5"
    clock.now += LISTEN_TTL_SECONDS
    feed.unsubscribed("1", "9.9", DEBUG_CHANNEL)
    settle(hub)
    assert not feed.listening("2") and not feed.listening("1")


def test_only_a_page_on_a_console_makes_the_node_watch_its_topic(hub: DashboardHub, peers) -> None:
    settle(hub)
    assert peers.topics == [("watch", DASHBOARD)]  # every dashboard: listening and figures
    feed, first, second = DebugFeed(hub, ACCESS), Page("9.9"), Page("9.8")
    subscribe(feed, first)
    subscribe(feed, second)
    settle(hub)
    assert peers.topics[1:] == [("watch", console_topic("1"))]  # once for both pages
    feed.unsubscribed("1", "9.9", DEBUG_CHANNEL)
    settle(hub)
    assert peers.topics[2:] == []
    feed.disconnected("1", "9.8", 1000)
    settle(hub)
    assert peers.topics[2:] == [("unwatch", console_topic("1"))]


def test_figures_sum_this_node_and_its_peers(hub: DashboardHub, apps, peers, clock) -> None:
    feed, page = DebugFeed(hub, ACCESS), Page("9.9")
    subscribe(feed, page)  # the page's own socket is one of app 1's three connections
    settle(hub)
    hub.tell(NodeFigures("other", {"1": (5, 1.5), "3": (2, 0.0)}))
    hub.tell(NodeFigures("me", {"1": (100, 100.0)}))  # our own echo: ignored
    assert hub.ask(Figures()) == {
        "1": {"connections": 7, "messages_per_second": 0.0},
        "2": {"connections": 0, "messages_per_second": 0.0},
        "3": {"connections": 2, "messages_per_second": 0.0},
    }
    clock.now += 30
    assert hub.ask(Figures())["1"] == {"connections": 2, "messages_per_second": 0.0}


def test_ticks_sample_into_the_ring_and_share_figures(apps, peers, clock) -> None:
    hub = DashboardHub(lambda: apps, peers, "me", clock)
    metrics.MESSAGES_OUT.labels("1")  # known to the counter
    hub.start()
    try:
        settle(hub)  # the first tick ran at start
        clock.now += 10
        metrics.MESSAGES_OUT.labels("1").inc(50)
        hub.tell(_Tick())
        settle(hub)
        columns = hub.ask(Samples("1"))
        assert columns == {
            "time": [1000.0, 1010.0],
            "connections": [3, 3],
            "messages_per_second": [0.0, 5.0],
        }
        assert hub.ask(Samples("unknown")) == {
            "time": [],
            "connections": [],
            "messages_per_second": [],
        }
        assert peers.of(NodeFigures)[-1] == NodeFigures("me", {"1": (3, 5.0), "2": (0, 0.0)})
    finally:
        hub.stop()
        gevent.idle()
