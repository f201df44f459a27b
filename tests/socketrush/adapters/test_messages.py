"""The wire form of what nodes tell each other: every kind keeps its parts, and bytes that
are not one of our messages are refused with MalformedMessage, never a crash."""

from __future__ import annotations

import orjson
import pytest

from socketrush.adapters.messages import (
    ConsoleRecord,
    ConsoleWatched,
    MalformedMessage,
    NodeFigures,
    RemoteBroadcast,
    SubscriptionTotal,
    TerminateUserConnections,
    decode,
    encode,
)


def test_a_broadcast_keeps_its_parts_and_loopback_flag_on_the_wire() -> None:
    plain = RemoteBroadcast("1", "news", b'{"event":"e"}', "1.2")
    assert orjson.loads(encode("node-a", plain)) == {
        "k": "b",
        "n": "node-a",
        "a": "1",
        "c": "news",
        "p": '{"event":"e"}',
        "x": "1.2",
    }
    assert decode(encode("node-a", plain)) == ("node-a", plain)
    back = RemoteBroadcast("1", "presence-room", b"{}", None, loopback=True)
    assert orjson.loads(encode("node-a", back))["l"] is True
    assert decode(encode("node-a", back)) == ("node-a", back)
    cached = RemoteBroadcast("1", "cache-prices", b"{}", None, True, event_id="0123abcd")
    assert orjson.loads(encode("node-a", cached))["i"] == "0123abcd"
    assert decode(encode("node-a", cached)) == ("node-a", cached)


def test_commands_are_typed_not_channel_names() -> None:
    terminate = TerminateUserConnections("1", "carol")
    assert orjson.loads(encode("n", terminate)) == {"k": "t", "n": "n", "a": "1", "u": "carol"}
    assert decode(encode("n", terminate)) == ("n", terminate)
    total = SubscriptionTotal("1", "#terminate-user-carol", 3, 1_700_000_000_000_000)
    assert orjson.loads(encode("n", total)) == {
        "k": "c",
        "n": "n",
        "a": "1",
        "c": "#terminate-user-carol",
        "t": 3,
        "v": 1_700_000_000_000_000,
    }
    assert decode(encode("n", total)) == ("n", total)


def test_the_dashboards_messages_are_typed_too() -> None:
    for message in (
        ConsoleWatched("1"),
        ConsoleRecord("1", b'{"event":"log","data":"{}"}'),
        NodeFigures("node-a", {"1": (3, 2.5), "2": (0, 0.0)}),
    ):
        assert decode(encode("n", message)) == ("n", message)
    assert orjson.loads(encode("n", NodeFigures("node-a", {"1": (3, 2.5)}))) == {
        "k": "f",
        "n": "n",
        "a": "",
        "i": "node-a",
        "f": {"1": [3, 2.5]},
    }


@pytest.mark.parametrize(
    "raw",
    [
        b'{"k": "f", "n": "n", "a": "", "i": "a", "f": []}',
        b'{"k": "f", "n": "n", "a": "", "i": "a", "f": {"1": []}}',
        b'{"k": "f", "n": "n", "a": "", "i": "a", "f": {"1": ["x", 1]}}',
        b'{"k": "f", "n": "n", "a": "", "i": "a", "f": {"1": [1, "x"]}}',
        b'{"k": "f", "n": "n", "a": "", "f": {}}',
        b'{"k": "r", "n": "n", "a": "1", "p": 5}',
        b"not json",
        b"\xff",
        b"[]",
        b"5",
        b"null",
        b'"text"',
        b'{"k": "f", "n": "n", "a": "", "i": "a", "f": {"1": 5}}',
        b'{"k": "f", "n": "n", "a": "", "i": "a", "f": {"1": [1, 2, 3]}}',
        b'{"k": "b"}',
        b'{"k": "z", "n": "n", "a": "1"}',
        b'{"k": "t", "n": "n", "a": 1, "u": "carol"}',
        b'{"k": "c", "n": "n", "a": "1", "c": "news", "t": "3", "v": 1}',
        b'{"k": "c", "n": "n", "a": "1", "c": "news", "t": true, "v": 1}',
        b'{"k": "b", "n": "n", "a": "1", "c": "news", "p": {}, "x": null}',
        b'{"k": "b", "n": "n", "a": "1", "c": "news", "p": "{}", "x": null, "i": 7}',
    ],
)
def test_anything_else_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(raw)
