"""ChannelActor: publishes queued behind each other reach a subscriber in one write, and a
channel that empties while mail waits for it reports itself empty again."""

from __future__ import annotations

import orjson

from socketrush import metrics, tally
from socketrush.channels import Broadcast, ChannelActor, Join, Leave
from socketrush.channels.actor import _RUN_BYTES
from socketrush.protocol.channels import classify
from socketrush.protocol.websocket import text_frame
from tests.support.channels import Socket, channel_settings


def publish(event: str, pad: int = 0) -> bytes:
    return text_frame(orjson.dumps({"event": event, "channel": "news", "data": "x" * pad}))


def local_channel() -> ChannelActor:
    """A channel actor on a single node, not started: what is told queues up meanwhile."""
    return ChannelActor(classify("news"), channel_settings(app_id="runs"), on_empty=lambda _: None)


def test_queued_plain_broadcasts_go_out_as_one_write_per_subscriber() -> None:
    """A run of queued publishes is joined; one excluding another socket starts a new run,
    and a client event (which has a sender) is never joined."""
    channel = local_channel()
    a, b = Socket("1.1"), Socket("2.2")
    for message in [
        Join(a),
        Join(b),
        Broadcast(publish("e1")),
        Broadcast(publish("e2")),
        Broadcast(publish("e3")),
        Broadcast(publish("e4"), except_socket_id="1.1"),
        Broadcast(publish("e5"), except_socket_id="1.1"),
        Broadcast(publish("client-1"), except_socket_id="1.1", sender=a),
        Broadcast(publish("e6")),
        Broadcast(publish("e7")),
    ]:
        channel.tell(message)
    before = metrics.MESSAGES_OUT.labels("runs")._value.get()
    channel.start()
    channel.stop(drain=True)
    assert channel.join(1) is True
    succeeded = ["pusher_internal:subscription_succeeded"]
    assert a.events_per_write() == [succeeded, ["e1", "e2", "e3"], ["e6", "e7"]]
    assert b.events_per_write() == [
        succeeded,
        ["e1", "e2", "e3"],
        ["e4", "e5"],
        ["client-1"],
        ["e6", "e7"],
    ]
    tally.flush_all()
    sent = 2 + 2 * 3 + 2 + 1 + 2 * 2
    assert metrics.MESSAGES_OUT.labels("runs")._value.get() - before == sent


def test_a_joined_write_stays_within_its_byte_bound() -> None:
    channel = local_channel()
    subscriber = Socket("1.1")
    pad = _RUN_BYTES // 3  # two frames fit in the bound, a third does not
    channel.tell(Join(subscriber))
    for number in range(5):
        channel.tell(Broadcast(publish(f"e{number}", pad)))
    channel.start()
    channel.stop(drain=True)
    assert channel.join(1) is True
    assert subscriber.events_per_write()[1:] == [["e0", "e1"], ["e2", "e3"], ["e4"]]


class Empties(list):
    """Records each time the channel reports itself empty (the app's `on_empty`)."""

    def __call__(self, channel: ChannelActor) -> None:
        self.append(channel)


def test_a_channel_that_empties_with_mail_waiting_reports_empty_again() -> None:
    """The app keeps a channel whose mailbox is not empty when it reports itself empty (a
    subscribe may be on its way); after that mail the channel says so again, or the app
    would keep the empty actor forever."""
    empties = Empties()
    channel = ChannelActor(classify("news"), channel_settings(), on_empty=empties).start()
    alice = Socket("1.1")
    channel.ask(Join(alice))
    channel.tell(Leave(alice))
    channel.tell(Broadcast(publish("late")))
    channel.ask(Leave(Socket("2.2")))
    assert empties == [channel, channel]
    channel.stop()
