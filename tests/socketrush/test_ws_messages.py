"""End-to-end: bad client input is answered with `pusher:error` and never costs the
connection (or anyone else's); a flood of subscribe/unsubscribe is absorbed."""

from __future__ import annotations

import threading

import pytest

from tests.support.client import PusherClient, assert_alive
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(30)

BAD_INPUT = [
    pytest.param(
        "{not json",
        "Invalid JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
        id="malformed-json",
    ),
    pytest.param("[1, 2]", "The message must be a JSON object", id="array"),
    pytest.param('"ping"', "The message must be a JSON object", id="string"),
    pytest.param('{"data": {}}', "The message must have a string event", id="no-event"),
    pytest.param('{"event": 7}', "The message must have a string event", id="numeric-event"),
    pytest.param('{"event": "pusher:dance"}', "Unknown event: pusher:dance", id="unknown-pusher"),
]


@pytest.mark.parametrize(("text", "message"), BAD_INPUT)
def test_bad_text_frame_is_an_error_and_connection_stays(
    server: ServerProcess, text: str, message: str
) -> None:
    client = PusherClient.connect(server)
    bystander = PusherClient.connect(server)
    client.ws.send(text)
    assert client.recv() == {"event": "pusher:error", "data": {"code": None, "message": message}}
    assert_alive(client)
    assert_alive(bystander)
    client.close()
    bystander.close()


def test_binary_frame_is_an_error_and_connection_stays(server: ServerProcess) -> None:
    client = PusherClient.connect(server)
    bystander = PusherClient.connect(server)
    client.ws.send_binary(b"\x00\x01binary")
    assert client.recv() == {
        "event": "pusher:error",
        "data": {"code": None, "message": "Binary frames are not supported"},
    }
    assert_alive(client)
    assert_alive(bystander)
    client.close()
    bystander.close()


@pytest.mark.timeout(20)
def test_ten_thousand_subscribe_unsubscribe_then_pong(server: ServerProcess) -> None:
    rounds = 10_000
    client = PusherClient.connect(server)
    received: list[dict] = []

    def read_all_replies() -> None:
        # Drain concurrently: unread replies would pile up and make us a slow consumer.
        # The pong comes straight from the socket while confirmations come from channel
        # actors, so it may overtake the last ones; stop when both are in.
        while len(received) < rounds + 1:
            received.append(client.recv(timeout=15))

    reader = threading.Thread(target=read_all_replies)
    reader.start()
    for i in range(rounds):
        channel = f"flood-{i % 10}"
        client.subscribe(channel)
        client.send("pusher:unsubscribe", {"channel": channel})
    client.send("pusher:ping")
    reader.join(timeout=15)
    assert not reader.is_alive()

    assert [f for f in received if f["event"] == "pusher:pong"] == [
        {"event": "pusher:pong", "data": {}}
    ]
    succeeded = [f for f in received if f["event"] == "pusher_internal:subscription_succeeded"]
    assert len(succeeded) == rounds
    assert succeeded[0] == {
        "event": "pusher_internal:subscription_succeeded",
        "channel": "flood-0",
        "data": {},
    }

    other = PusherClient.connect(server)
    other.subscribe("flood-3")
    assert other.recv()["event"] == "pusher_internal:subscription_succeeded"
    assert_alive(other)
    assert_alive(client)
    other.close()
    client.close()
