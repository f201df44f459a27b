"""Client messages parsed into typed requests, and every malformed shape answered from the
error table."""

from __future__ import annotations

import pytest

from socketrush.protocol import frames
from socketrush.protocol.client_messages import (
    PING,
    PONG,
    BadMessage,
    ClientEvent,
    SignIn,
    Subscribe,
    Unsubscribe,
    parse_client_message,
)
from socketrush.protocol.errors import Err


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ('{"event":"pusher:ping","data":{}}', PING),
        ('{"event":"pusher:ping"}', PING),
        ('{"event":"pusher:pong","data":{}}', PONG),
        (
            '{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"k:s"}}',
            Subscribe("private-a", "k:s", None),
        ),
        (
            '{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s",'
            '"channel_data":"{\\"user_id\\":\\"1\\"}"}}',
            Subscribe("presence-a", "k:s", '{"user_id":"1"}'),
        ),
        (  # data JSON-encoded into a string, as some clients send it
            '{"event":"pusher:subscribe","data":"{\\"channel\\":\\"news\\"}"}',
            Subscribe("news", None, None),
        ),
        (  # auth and channel_data of the wrong type count as absent: refused later
            '{"event":"pusher:subscribe","data":{"channel":"private-a","auth":5,"channel_data":[]}}',
            Subscribe("private-a", None, None),
        ),
        ('{"event":"pusher:unsubscribe","data":{"channel":"news"}}', Unsubscribe("news")),
        (
            '{"event":"pusher:signin","data":{"user_data":"{\\"id\\":\\"1\\"}","auth":"k:s"}}',
            SignIn('{"id":"1"}', "k:s"),
        ),
        ('{"event":"pusher:signin","data":{"user_data":{"id":"1"},"auth":7}}', SignIn(None, None)),
        ('{"event":"pusher:signin"}', SignIn(None, None)),
        (
            '{"event":"client-typing","channel":"private-a","data":{"on":1}}',
            ClientEvent("client-typing", "private-a", {"on": 1}),
        ),
        ('{"event":"client-x","channel":5}', ClientEvent("client-x", None, None)),
    ],
)
def test_requests(text: str, request_: object) -> None:
    assert parse_client_message(text) == request_
    assert type(parse_client_message(text)) is type(request_)


def test_client_event_data_is_kept_as_sent_from_bytes() -> None:
    request = parse_client_message(
        b'{"event":"client-x","channel":"private-a","data":"{\\"a\\":\\"\xc3\xa9\\"}"}'
    )
    assert request == ClientEvent("client-x", "private-a", '{"a":"\u00e9"}')
    assert frames.encoded_size(request.data) == 10  # é is two bytes


def bad(text: str | bytes) -> BadMessage:
    with pytest.raises(BadMessage) as caught:
        parse_client_message(text)
    return caught.value


@pytest.mark.parametrize("text", ["{", "", b"\xff", "[1,", '{"event":"x"} junk', "{'a':1}"])
def test_invalid_json(text: str | bytes) -> None:
    error = bad(text)
    assert error.spec is Err.INVALID_JSON
    assert error.detail.startswith("Invalid JSON: ")


@pytest.mark.parametrize("levels", [1_100, 100_000])
def test_json_nested_beyond_the_limit_is_invalid_json_at_any_depth(levels: int) -> None:
    for inner in ("[" * levels + "]" * levels, '{"a":' * levels + "1" + "}" * levels):
        error = bad('{"event":"client-x","channel":"private-a","data":' + inner + "}")
        assert error.spec is Err.INVALID_JSON
        assert "depth limit exceeded" in error.detail


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("[]", "The message must be a JSON object"),
        ('"x"', "The message must be a JSON object"),
        ("1", "The message must be a JSON object"),
        ("null", "The message must be a JSON object"),
        ("{}", "The message must have a string event"),
        ('{"event":1}', "The message must have a string event"),
        ('{"event":null}', "The message must have a string event"),
        ('{"event":["pusher:ping"]}', "The message must have a string event"),
        ('{"event":"pusher:subscribe"}', "pusher:subscribe needs data.channel"),
        ('{"event":"pusher:subscribe","data":[]}', "pusher:subscribe needs data.channel"),
        ('{"event":"pusher:subscribe","data":"not json"}', "pusher:subscribe needs data.channel"),
        (
            '{"event":"pusher:subscribe","data":{"channel":7}}',
            "pusher:subscribe needs data.channel",
        ),
        ('{"event":"pusher:unsubscribe","data":{}}', "pusher:unsubscribe needs data.channel"),
        ('{"event":"pusher:unsubscribe","data":"[1]"}', "pusher:unsubscribe needs data.channel"),
    ],
)
def test_invalid_frames(text: str, detail: str) -> None:
    error = bad(text)
    assert (error.spec, error.detail) == (Err.INVALID_FRAME, detail)


@pytest.mark.parametrize("event", ["pusher:dance", "pusher_internal:member_added", "x", ""])
def test_unknown_events(event: str) -> None:
    error = bad('{"event":"' + event + '"}')
    assert (error.spec, error.detail) == (Err.UNKNOWN_EVENT, f"Unknown event: {event}")


def test_an_unknown_event_name_is_cut_in_the_answer() -> None:
    assert bad('{"event":"' + "e" * 500 + '"}').detail == "Unknown event: " + "e" * 100
