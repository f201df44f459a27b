"""Pusher message fuzzing against a real server: wrong JSON types in every field of every
client message (subscribe, unsubscribe, signin, client events, ping), huge and deeply nested
data, lone surrogates in strings. Each is answered as the error table says: `pusher:error`
with code null (the connection stays: a ping right after it is answered) or, for a refused
subscription, `pusher:subscription_error`; a bad signin is an unauthorized connection,
`pusher:error` 4009 and a close with 4009. The server logs no traceback.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from loadtests.rawws import OP_TEXT, RawPusher, encode_frame
from tests.fuzz.frame_cases import read_until_closed
from tests.support.client import sdk
from tests.support.metrics import other_free_port, scrape
from tests.support.server import APP_KEY, APP_SECRET, ServerProcess

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning"),
]

HOST = "127.0.0.1"
PING = orjson.dumps({"event": "pusher:ping", "data": {}})
ERRORS = {"pusher:error", "pusher:subscription_error"}
UNAUTHORIZED = {"close 4009"}  # pusher:error 4009, then a close with 4009

# Any JSON value but the type a field wants is drawn from these.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),  # what JSON encoders carry
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
not_strings = json_values.filter(lambda v: not isinstance(v, str))
not_objects = json_values.filter(lambda v: not isinstance(v, dict))


@st.composite
def hostile(draw) -> tuple[bytes, set[str]]:
    """A client message with a wrong type somewhere, and the replies it may earn."""
    kind = draw(
        st.sampled_from(
            [
                "not-an-object", "event-type", "subscribe-data", "subscribe-channel",
                "private-auth", "presence-channel-data", "unsubscribe-channel", "signin-data",
                "signin-fields", "client-channel", "client-unsubscribed", "ping-data",
                "surrogate", "unknown-event",
            ]
        )
    )  # fmt: skip
    if kind == "not-an-object":
        return orjson.dumps(draw(not_objects)), {"pusher:error"}
    if kind == "event-type":
        return orjson.dumps({"event": draw(not_strings), "data": {}}), {"pusher:error"}
    if kind == "subscribe-data":
        return _msg("pusher:subscribe", draw(not_objects.filter(_not_json_object))), {
            "pusher:error"
        }
    if kind == "subscribe-channel":
        return _msg("pusher:subscribe", {"channel": draw(not_strings)}), {"pusher:error"}
    if kind == "private-auth":
        data = {"channel": "private-fuzz", "auth": draw(json_values)}
        return _msg("pusher:subscribe", data), ERRORS
    if kind == "presence-channel-data":
        data = {"channel": "presence-fuzz", "auth": "k:0", "channel_data": draw(json_values)}
        return _msg("pusher:subscribe", data), ERRORS
    if kind == "unsubscribe-channel":
        return _msg("pusher:unsubscribe", {"channel": draw(not_strings)}), {"pusher:error"}
    if kind == "signin-data":  # an unauthorized connection: closed with 4009 (the table)
        return _msg("pusher:signin", draw(not_objects.filter(_not_json_object))), UNAUTHORIZED
    if kind == "signin-fields":
        data = {"user_data": draw(json_values), "auth": draw(json_values)}
        return _msg("pusher:signin", data), UNAUTHORIZED
    if kind == "client-channel":
        frame = {"event": "client-fuzz", "channel": draw(not_strings), "data": draw(json_values)}
        return orjson.dumps(frame), {"pusher:error"}
    if kind == "client-unsubscribed":
        frame = {"event": "client-fuzz", "channel": "private-nope", "data": draw(json_values)}
        return orjson.dumps(frame), {"pusher:error"}
    if kind == "ping-data":
        return _msg("pusher:ping", draw(json_values)), {"pusher:pong"}
    if kind == "surrogate":  # valid UTF-8 text whose JSON escapes a lone surrogate
        return b'{"event":"pusher:subscribe","data":{"channel":"\\ud800x"}}', {"pusher:error"}
    return _msg(f"pusher:{draw(st.text(max_size=10))}x", {}), {"pusher:error"}


def _msg(event: str, data: object) -> bytes:
    return orjson.dumps({"event": event, "data": data})


def _not_json_object(value: object) -> bool:
    """A string that holds a JSON object counts as the object (some clients send that)."""
    if not isinstance(value, str):
        return True
    try:
        return not isinstance(orjson.loads(value), dict)
    except orjson.JSONDecodeError:
        return True


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerProcess, int]]:
    process = ServerProcess()
    port = other_free_port(process.port)
    process.args = ["--metrics-enabled", "true", "--metrics-port", str(port)]
    process.args += ["--app-enable-client-messages", "true"]
    with process:
        yield process, port


def answers(client: RawPusher, message: bytes, pongs: int = 1) -> list[dict]:
    """Send `message`, then a ping; every frame up to the ping's pong (which proves the
    connection alive), decoded. `pongs`: 2 when `message` is itself a ping."""
    client.sock.sendall(encode_frame(OP_TEXT, message) + encode_frame(OP_TEXT, PING))
    got: list[dict] = []
    while sum(g["event"] == "pusher:pong" for g in got) < pongs:
        got += [orjson.loads(text) for text in client.texts()]
    return got


def check(client: RawPusher, message: bytes, allowed: set[str]) -> bool:
    """Assert the documented answer; False when it closed the connection (as it should)."""
    if allowed == UNAUTHORIZED:
        client.sock.sendall(encode_frame(OP_TEXT, message))
        replies, code = read_until_closed(client.sock, bytes(client.buffer))
        error = orjson.loads(replies[0][1])
        assert error["event"] == "pusher:error" and error["data"]["code"] == 4009, error
        assert code == 4009
        return False
    if "pusher:pong" in allowed:  # a fuzzed ping: answered like any other
        got = answers(client, message, pongs=2)
        assert [g["event"] for g in got] == ["pusher:pong", "pusher:pong"], got
        return True
    got = answers(client, message)
    assert len(got) == 2 and got[0]["event"] in allowed, (message[:200], got)
    if got[0]["event"] == "pusher:error":
        assert got[0]["data"]["code"] is None, got  # documented: the connection stays
    return True


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(hostile(), min_size=25, max_size=25))
def test_every_wrong_type_gets_the_documented_error(server, batch) -> None:
    process, _ = server
    client = RawPusher(HOST, process.port, APP_KEY)
    try:
        for message, allowed in batch:
            if not check(client, message, allowed):
                client.close()
                client = RawPusher(HOST, process.port, APP_KEY)
    finally:
        client.close()


def test_huge_and_deep_data_gets_the_documented_error(server) -> None:
    process, metrics_port = server
    client = RawPusher(HOST, process.port, APP_KEY)
    auth = sdk(process).authenticate(channel="private-big", socket_id=client.socket_id)
    client.send("pusher:subscribe", {"channel": "private-big", "auth": auth["auth"]})
    client.next_event("pusher_internal:subscription_succeeded")
    deep = b'{"event":"client-deep","channel":"private-big","data":'
    deep += b"[" * 100_000 + b"]" * 100_000 + b"}"  # 200 KB: under the frame limit
    got = answers(client, deep)
    assert got[0]["event"] == "pusher:error" and got[0]["data"]["code"] is None
    assert got[0]["data"]["message"].startswith("Invalid JSON"), got[0]
    huge = orjson.dumps({"event": "client-huge", "channel": "private-big", "data": "x" * 20_000})
    got = answers(client, huge)
    assert got[0]["data"] == {
        "code": None,
        "message": "Client event rejected - the data is too large",
    }
    client.close()
    samples = scrape(metrics_port)
    assert sum(v for (n, _), v in samples.items() if n == "socketrush_actor_restarts_total") == 0
    assert "Traceback" not in process.log()


def test_an_oversized_signin_is_refused(server) -> None:
    """Bounded by the presence member limit (10 KB): an unauthorized connection, 4009."""
    process, _ = server
    client = RawPusher(HOST, process.port, APP_KEY)
    user_data = orjson.dumps({"id": "u" * 100_000}).decode()  # the SDK refuses to sign it
    digest = hmac.new(
        APP_SECRET.encode(), f"{client.socket_id}::user::{user_data}".encode(), hashlib.sha256
    ).hexdigest()
    auth = {"user_data": user_data, "auth": f"{APP_KEY}:{digest}"}
    assert check(client, _msg("pusher:signin", auth), UNAUTHORIZED) is False
