"""The gevent <-> asyncio bridge on a real nats-server: order of publishes, subscriptions that
match what was asked (also across failures and outages), results and errors of calls, fast
failure without a connection, and the reconnect backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import gevent
import pytest
from gevent.event import Event

from socketrush import nats_routes
from socketrush.nats_bridge import (
    BACKOFF_MAX_SECONDS,
    BACKOFF_START_SECONDS,
    NatsBridge,
    NatsUnavailable,
    reconnect_with_backoff,
)
from socketrush.nats_client import NatsOptions
from tests.support.nats import NatsServer
from tests.support.polling import wait_until
from tests.support.server import free_port


def options(url: str) -> NatsOptions:
    return NatsOptions((url,), None, None, None, 2.0, 2.0, None)


@pytest.fixture
def bridge(nats_server: NatsServer) -> Iterator[NatsBridge]:
    bridge = NatsBridge(options(nats_server.url), "test")
    bridge.start()
    yield bridge
    bridge.stop()


def test_publishes_from_greenlets_arrive_in_order(bridge: NatsBridge) -> None:
    received: list[bytes] = []
    done = Event()

    def on_message(subject: str, data: bytes) -> None:
        assert subject == "order.test"
        received.append(data)
        if len(received) == 2000:
            done.set()

    routed = Event()
    bridge.route(["order.test"], [], on_message, lambda done, failed: routed.set())
    assert routed.wait(5)  # the subscription is in place
    for number in range(2000):
        bridge.publish("order.test", str(number).encode())
    assert done.wait(10)
    assert received == [str(number).encode() for number in range(2000)]


def report(reports: list) -> Callable[[list[str], list[str]], None]:
    return lambda done, failed: reports.append((done, failed))


def test_routes_take_effect_in_order_once_reported_done(nats_server: NatsServer) -> None:
    """Asked before the bridge started: applied once connected. Reported done once the
    server has them: a publish after that reaches the subscription, and none after its
    end does."""
    bridge = NatsBridge(options(nats_server.url), "test")
    received: list[tuple[str, bytes]] = []
    reports: list[tuple[list[str], list[str]]] = []
    bridge.route(["a.1", "a.2"], [], lambda *message: received.append(message), report(reports))
    bridge.start()
    try:
        wait_until(lambda: reports, 5, str, gevent.sleep)
        assert reports == [(["a.1", "a.2"], [])]

        async def publish(client) -> None:
            for subject in ("a.1", "a.2", "a.3"):
                await client.publish(subject, b"first")
            await client.flush()

        nats_server.run(publish)
        wait_until(lambda: len(received) == 2, 5, lambda: f"got {received}", gevent.sleep)
        assert received == [("a.1", b"first"), ("a.2", b"first")]
        bridge.route([], ["a.1"], lambda *message: received.append(message), report(reports))
        wait_until(lambda: len(reports) == 2, 5, str, gevent.sleep)
        assert reports[1] == (["a.1"], [])
        nats_server.run(publish)
        wait_until(lambda: len(received) == 3, 5, lambda: f"got {received}", gevent.sleep)
        gevent.sleep(0.1)
        assert received[2:] == [("a.2", b"first")]
    finally:
        bridge.stop()


def test_a_refused_subject_fails_alone_and_the_rest_of_its_batch_takes_effect(
    bridge: NatsBridge, nats_server: NatsServer
) -> None:
    """nats-py refuses a subject with a space. It once aborted the whole batch, which was
    still reported done: "b.2" after it was never subscribed, its node deaf on it."""
    received: list[tuple[str, bytes]] = []
    reports: list[tuple[list[str], list[str]]] = []
    subjects = ["b.1", "b bad", "b.2"]
    bridge.route(subjects, [], lambda *message: received.append(message), report(reports))
    wait_until(lambda: reports, 5, str, gevent.sleep)
    assert reports == [(["b.1", "b.2"], ["b bad"])]

    async def publish(client) -> None:
        for subject in ("b.1", "b.2"):
            await client.publish(subject, b"hello")
        await client.flush()

    nats_server.run(publish)
    wait_until(lambda: len(received) == 2, 5, lambda: f"got {received}", gevent.sleep)
    assert received == [("b.1", b"hello"), ("b.2", b"hello")]
    bridge.route(["b bad"], ["b.1"], lambda *message: None, report(reports))
    wait_until(lambda: len(reports) == 2, 5, str, gevent.sleep)
    assert reports[1] == (["b.1"], ["b bad"])  # refused again, without harm to the rest


@pytest.fixture
def own_nats() -> Iterator[NatsServer]:
    """A server of this test alone: it is stopped, restarted or paused."""
    with NatsServer() as server:
        yield server


def subscriptions(bridge: NatsBridge) -> list[str]:
    """nats-py's subscriptions, by subject: those it subscribes again after a reconnect."""

    async def subjects(client) -> list[str]:
        return sorted(subscription.subject for subscription in client._subs.values())

    return bridge.call(subjects, 5)


def messages_for(bridge: NatsBridge, server: NatsServer, subjects: list[str]) -> int:
    """How many messages the bridge's connection gets when another client publishes one on
    each subject: one per subscription the server holds for it, including any nats-py no
    longer knows and discards."""

    async def received(client) -> int:
        await client.flush()  # its PONG comes after whatever the server sent before it
        return client.stats["in_msgs"]

    async def publish(client) -> None:
        for subject in subjects:
            await client.publish(subject, b"one")
        await client.flush()  # the server has handed them to every subscriber's connection

    before = bridge.call(received, 5)
    server.run(publish)
    return bridge.call(received, 5) - before


def test_a_subscribe_that_failed_and_was_asked_again_is_subscribed_once(
    own_nats: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py registers a subscription (and subscribes it again after every reconnect)
    before its SUB leaves. Its `subscribe` raises only before that (a refused subject, a
    closed connection), but a subscription whose flush got no answer was registered and
    sent: reported failed, it must be undone, or the subscribe asked again makes a second
    one and every message comes twice. (The server is frozen, then replaced.)"""
    monkeypatch.setattr(nats_routes, "ROUTE_FLUSH_TIMEOUT_SECONDS", 0.5)
    bridge = NatsBridge(options(own_nats.url), "test")
    lost, back = Event(), Event()
    bridge.on_connection(lambda connected: (back if connected else lost).set())
    received: list[tuple[str, bytes]] = []
    reports: list[tuple[list[str], list[str]]] = []

    def route(subscribe: list[str]) -> None:
        bridge.route(subscribe, [], lambda *message: received.append(message), report(reports))

    bridge.start()
    try:
        assert back.wait(10)
        back.clear()
        own_nats.pause()
        route(["retried"])
        wait_until(lambda: reports, 10, lambda: "no report", gevent.sleep)
        assert reports == [([], ["retried"])]
        own_nats.restart()
        assert lost.wait(10) and back.wait(15)
        route(["retried"])  # as the adapter asks again
        wait_until(lambda: len(reports) == 2, 10, str, gevent.sleep)
        assert reports[1] == (["retried"], [])
        assert subscriptions(bridge) == ["retried"]
        assert messages_for(bridge, own_nats, ["retried"]) == 1
        wait_until(lambda: received, 5, lambda: "nothing delivered", gevent.sleep)
        assert received == [("retried", b"one")]
    finally:
        bridge.stop()


def test_a_flush_answered_after_its_timeout_leaves_the_connection_reading(
    own_nats: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py cancels the PONG waiter of a flush that timed out; the PONG that comes later
    killed its read loop (InvalidStateError), and the connection, still "connected", got no
    message until missed pings forced a reconnect. `flush_within` leaves the waiter alone."""
    monkeypatch.setattr(nats_routes, "ROUTE_FLUSH_TIMEOUT_SECONDS", 0.5)
    bridge = NatsBridge(options(own_nats.url), "test")
    back = Event()
    bridge.on_connection(lambda connected: connected and back.set())
    received: list[tuple[str, bytes]] = []
    reports: list[tuple[list[str], list[str]]] = []

    def route(subscribe: list[str]) -> None:
        bridge.route(subscribe, [], lambda *message: received.append(message), report(reports))

    bridge.start()
    try:
        assert back.wait(10)
        route(["kept"])
        wait_until(lambda: reports, 10, lambda: "no report", gevent.sleep)
        own_nats.pause()
        route(["late"])  # its flush times out while the server is frozen
        wait_until(lambda: len(reports) == 2, 10, lambda: "no report", gevent.sleep)
        assert reports == [(["kept"], []), ([], ["late"])]
        own_nats.resume()  # the late PONG arrives now
        assert messages_for(bridge, own_nats, ["kept"]) == 1
        wait_until(lambda: received, 5, lambda: "nothing delivered", gevent.sleep)
        assert received == [("kept", b"one")]
    finally:
        bridge.stop()


def test_a_connection_nats_py_gives_up_for_good_is_reported_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscription over the server's limit: nats-server refuses it with -ERR and keeps the
    connection, but nats-py closes it for good. The node is then deaf to the other nodes
    until restarted, so it says so at error level (it used to say nothing)."""
    caplog.set_level(logging.ERROR, logger="socketrush.nats_bridge")
    with NatsServer(config="max_subscriptions: 2\n") as limited:
        bridge = NatsBridge(options(limited.url), "test")
        back, lost = Event(), Event()
        bridge.on_connection(lambda connected: (back if connected else lost).set())
        reports: list[tuple[list[str], list[str]]] = []
        bridge.start()
        try:
            assert back.wait(10)
            bridge.route(["one", "two", "three"], [], lambda *message: None, report(reports))
            assert lost.wait(10)
            wait_until(lambda: len(caplog.records) == 2, 10, lambda: caplog.text, gevent.sleep)
            assert not bridge.connected
        finally:
            bridge.stop()
    assert [record.getMessage() for record in caplog.records] == [
        "nats: disconnected; reconnecting",
        "nats: the connection was closed for good after "
        "Error('nats: maximum subscriptions exceeded'); this node no longer shares events "
        "with the others and /ready answers 503: fix the cause (e.g. raise the server's or "
        "account's subscription limit; the node subscribes one subject per channel it has "
        "subscribers to) and restart it",
    ]


def test_subscriptions_changed_while_nats_is_away_are_what_the_server_has_after(
    own_nats: NatsServer,
) -> None:
    """nats-py sends no UNSUB while it reconnects, and keeps a SUB made meanwhile for the next
    connection: a subscription made and ended while away stayed on the server, which sent
    its messages for nothing (nats-py discards them) as long as the connection lived."""
    bridge = NatsBridge(options(own_nats.url), "test")
    lost, back = Event(), Event()
    bridge.on_connection(lambda connected: (back if connected else lost).set())
    received: list[tuple[str, bytes]] = []
    reports: list[tuple[list[str], list[str]]] = []

    def route(subscribe: list[str], unsubscribe: list[str]) -> None:
        bridge.route(
            subscribe, unsubscribe, lambda *message: received.append(message), report(reports)
        )

    bridge.start()
    try:
        route(["kept"], [])
        wait_until(lambda: reports, 10, lambda: "no report", gevent.sleep)
        assert reports == [(["kept"], [])]
        back.clear()
        own_nats.stop()
        assert lost.wait(10)
        route(["during", "gone"], [])
        route([], ["gone"])
        own_nats.start()
        assert back.wait(15)
        wait_until(lambda: len(reports) == 3, 10, str, gevent.sleep)
        assert reports[1:] == [(["during", "gone"], []), (["gone"], [])]
        assert subscriptions(bridge) == ["during", "kept"]
        assert messages_for(bridge, own_nats, ["kept", "during", "gone"]) == 2
        wait_until(lambda: len(received) == 2, 5, lambda: f"got {received}", gevent.sleep)
        assert sorted(received) == [("during", b"one"), ("kept", b"one")]
    finally:
        bridge.stop()


def test_calls_return_results_and_raise_the_loops_errors(bridge: NatsBridge) -> None:
    async def answer(_client) -> int:
        await asyncio.sleep(0)
        return 42

    async def fail(_client) -> None:
        raise ValueError("from the loop")

    assert bridge.call(answer, 5) == 42
    with pytest.raises(ValueError, match="from the loop"):
        bridge.call(fail, 5)
    # Other greenlets run while one waits: the hub is never blocked by a call.
    ticks = gevent.spawn(lambda: [gevent.sleep(0.001) for _ in range(10)])

    async def slow(_client) -> str:
        await asyncio.sleep(0.2)
        return "late"

    assert bridge.call(slow, 5) == "late"
    assert ticks.dead


def test_a_call_out_of_time_is_cancelled_and_reported(bridge: NatsBridge) -> None:
    async def forever(_client) -> None:
        await asyncio.sleep(3600)

    with pytest.raises(NatsUnavailable, match="did not answer within 0.2s"):
        bridge.call(forever, 0.2)


def test_without_nats_a_call_fails_at_once_after_the_first_moments() -> None:
    bridge = NatsBridge(options(f"nats://127.0.0.1:{free_port()}"), "test")
    bridge.start()
    try:
        with pytest.raises(NatsUnavailable, match="not connected"):
            bridge.call(lambda client: client.flush(), 5)  # waited the first-connection grace
        started = gevent.get_hub().loop.now()
        with pytest.raises(NatsUnavailable, match="not connected"):
            bridge.call(lambda client: client.flush(), 5)
        assert gevent.get_hub().loop.now() - started < 0.5
        assert bridge.connected is False
    finally:
        bridge.stop()


def test_reconnects_back_off_from_the_least_tried_server() -> None:
    servers = [SimpleNamespace(reconnects=n, name=f"s{n}") for n in (3, 0, 7)]
    server, delay = reconnect_with_backoff(servers, {})
    assert server.name == "s0"
    assert BACKOFF_START_SECONDS / 2 <= delay <= BACKOFF_START_SECONDS
    tried = [SimpleNamespace(reconnects=n) for n in (3, 20)]
    _, delay = reconnect_with_backoff(tried, {})
    assert BACKOFF_START_SECONDS * 8 / 2 <= delay <= BACKOFF_START_SECONDS * 8
    _, delay = reconnect_with_backoff([SimpleNamespace(reconnects=20)], {})
    assert BACKOFF_MAX_SECONDS / 2 <= delay <= BACKOFF_MAX_SECONDS
