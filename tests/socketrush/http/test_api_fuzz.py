"""Fuzzing the HTTP API (issue 16): hostile bodies, query strings, headers, methods and
signatures for every endpoint of a real server process.

Every answer must carry a documented status and, for a refusal, a JSON ``{"error": ...}``
body. Most requests are validly signed, so the fuzz reaches the parsers behind the signature
check; those requests must be answered exactly as the pure validators of
`protocol/http_api.py` decide, and every event they accept for the watched channel must reach
its subscriber byte for byte. After each test the server's log holds no traceback, and a
publish still reaches the subscriber as the very next frame.

The examples are derandomized and bounded, so `make test` sends the same few hundred requests
every time; set SOCKETRUSH_FUZZ_EXAMPLES (e.g. 5000) to explore with fresh random ones.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketrush.protocol.http_api import (
    ApiError,
    TriggerEvent,
    check_users_channel,
    parse_batch,
    parse_channel_query,
    parse_channels_query,
    parse_json,
    parse_trigger,
)
from socketrush.settings import AppSettings
from tests.support.client import PusherClient, sdk
from tests.support.http_fuzz import (
    BODY_LIMIT,
    FuzzRequest,
    Reply,
    batch_bodies,
    event_bodies,
    extra_params,
    fuzz_requests,
    info_values,
    path_segments,
    send_fuzzed,
)
from tests.support.server import APP_ID, APP_KEY, APP_SECRET, ServerProcess

pytestmark = pytest.mark.timeout(300)

WATCHED = "fuzz"  # the channel a subscriber listens on while the fuzz publishes
LIMITS = AppSettings(id=APP_ID, key=APP_KEY, secret=APP_SECRET)  # the server's defaults
DOCUMENTED = frozenset({200, 400, 401, 403, 404, 405, 413, 429, 503})
EXPLORING = "SOCKETRUSH_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=int(os.environ.get("SOCKETRUSH_FUZZ_EXAMPLES", "200")),
    derandomize=not EXPLORING,
    database=None,
    deadline=None,
)

Expected = tuple[int, str | None]  # the status, and the error message of a refusal


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[ServerProcess]:
    """The server under fuzz, alone, so its log holds only what the fuzz caused. The watcher
    reads only when an event is due, so it is not pinged during a long exploration."""
    with ServerProcess(args=["--app-activity-timeout", "86400"]) as server:
        yield server


@pytest.fixture(scope="module")
def watcher(fuzzed: ServerProcess) -> Iterator[PusherClient]:
    client = PusherClient.connect(fuzzed)
    client.subscribe(WATCHED)
    assert client.recv()["event"] == "pusher_internal:subscription_succeeded"
    yield client
    client.close()


def next_frame(client: PusherClient) -> dict[str, Any]:
    """The next frame with `data` exactly as sent."""
    client.ws.settimeout(client.timeout)
    return json.loads(client.ws.recv())


def assert_unharmed(server: ServerProcess, watcher: PusherClient) -> None:
    """No traceback, and a publish is the subscriber's very next frame (so nothing stray
    arrived during the fuzz either)."""
    assert "Traceback" not in server.log(), server.log()[-5000:]
    assert sdk(server).trigger(WATCHED, "after-fuzz", "still here") == {}
    assert next_frame(watcher) == {"event": "after-fuzz", "channel": WATCHED, "data": "still here"}


def assert_well_formed(request: FuzzRequest, reply: Reply) -> None:
    """What every answer must be, whatever was asked."""
    assert reply.status in DOCUMENTED, (request, reply)
    if request.method == "HEAD":
        # No body, by HTTP. (A HEAD with a body is refused by gevent before any view, 400.)
        assert reply.body == b"", (request, reply)
    elif request.method == "OPTIONS" and reply.status == 200:
        assert reply.body == b"", (request, reply)  # CORS preflight or Allow: no content
    elif reply.status >= 400:
        assert reply.content_type == "application/json", (request, reply)
        error = json.loads(reply.body)
        assert list(error) == ["error"] and isinstance(error["error"], str), (request, reply)
        assert error["error"], (request, reply)


def outcome(check: Callable[[], object]) -> Expected:
    """What the server must answer: what `check` (the pure validator) decides."""
    try:
        check()
    except ApiError as error:
        return error.status, error.message
    return 200, None


def exact(request: FuzzRequest, method: str) -> bool:
    """Whether the validators' decision is the whole story: the documented method, a valid
    signature, the test app, and path segments that route as drawn."""
    routed = all(segment and "/" not in segment for segment in request.segments)
    return (
        routed
        and request.method == method
        and request.signing == "valid"
        and request.app_id == APP_ID
    )


class Fuzz:
    """One test's run: sends, checks, and counts what it saw."""

    def __init__(self, server: ServerProcess, watcher: PusherClient) -> None:
        self.server = server
        self.watcher = watcher
        self.statuses: set[int] = set()

    def send(self, request: FuzzRequest, expected: Expected | None = None) -> Reply:
        reply = send_fuzzed(self.server, request)
        assert_well_formed(request, reply)
        self.statuses.add(reply.status)
        if expected is not None:
            error = json.loads(reply.body).get("error") if reply.status >= 400 else None
            assert (reply.status, error) == expected, request
        return reply

    def delivered(self, events: list[TriggerEvent]) -> None:
        """Each accepted event for the watched channel arrives, in order, as sent."""
        for event in events:
            if WATCHED in event.channels:
                frame = next_frame(self.watcher)
                assert frame == {"event": event.name, "channel": WATCHED, "data": event.data}

    def finish(self, must_see: frozenset[int] = frozenset({200, 400, 401})) -> None:
        """The fuzz must have got past the signature check both ways, or it tested little."""
        assert must_see <= self.statuses, sorted(self.statuses)
        assert_unharmed(self.server, self.watcher)


@pytest.fixture
def fuzz(fuzzed: ServerProcess, watcher: PusherClient) -> Fuzz:
    return Fuzz(fuzzed, watcher)


def publishing(body: bytes, parse: Callable[[object], list[TriggerEvent]]) -> Expected:
    if len(body) >= BODY_LIMIT:
        return 413, f"Request body is larger than {BODY_LIMIT} bytes"
    return outcome(lambda: parse(parse_json(body)))


def test_events(fuzz: Fuzz) -> None:
    @FUZZ
    @given(fuzz_requests("POST", "/apps/{app}/events", bodies=event_bodies()))
    def events(request: FuzzRequest) -> None:
        if not exact(request, "POST"):
            fuzz.send(request)
            return
        parse = lambda body: [parse_trigger(body, LIMITS)]  # noqa: E731
        expected = publishing(request.body, parse)
        fuzz.send(request, expected)
        if expected[0] == 200:
            fuzz.delivered(parse(parse_json(request.body)))

    events()
    fuzz.finish()


def test_batch_events(fuzz: Fuzz) -> None:
    @FUZZ
    @given(fuzz_requests("POST", "/apps/{app}/batch_events", bodies=batch_bodies()))
    def batch_events(request: FuzzRequest) -> None:
        if not exact(request, "POST"):
            fuzz.send(request)
            return
        parse = lambda body: parse_batch(body, LIMITS)  # noqa: E731
        expected = publishing(request.body, parse)
        fuzz.send(request, expected)
        if expected[0] == 200:
            fuzz.delivered(parse(parse_json(request.body)))

    batch_events()
    fuzz.finish()


listing_params = st.fixed_dictionaries(
    {},
    optional={
        "filter_by_prefix": st.sampled_from(("", "presence-", "private-", "fuzz"))
        | st.text(max_size=8),
        "info": info_values(),
    },
).flatmap(lambda known: extra_params.map(lambda extra: {**extra, **known}))
channel_params = st.fixed_dictionaries({}, optional={"info": info_values()}).flatmap(
    lambda known: extra_params.map(lambda extra: {**extra, **known})
)


def test_channels(fuzz: Fuzz) -> None:
    @FUZZ
    @given(fuzz_requests("GET", "/apps/{app}/channels", params=listing_params))
    def channels(request: FuzzRequest) -> None:
        exactly = exact(request, "GET") and not request.body
        fuzz.send(
            request, outcome(lambda: parse_channels_query(request.params)) if exactly else None
        )

    channels()
    fuzz.finish()


def test_channel(fuzz: Fuzz) -> None:
    @FUZZ
    @given(fuzz_requests("GET", "/apps/{app}/channels/{segment}", params=channel_params))
    def channel(request: FuzzRequest) -> None:
        if exact(request, "GET") and not request.body:
            (name,) = request.segments
            fuzz.send(request, outcome(lambda: parse_channel_query(name, request.params, LIMITS)))
        else:
            fuzz.send(request)

    channel()
    fuzz.finish()


def test_users(fuzz: Fuzz) -> None:
    @FUZZ
    @given(fuzz_requests("GET", "/apps/{app}/channels/{segment}/users"))
    def users(request: FuzzRequest) -> None:
        if exact(request, "GET") and not request.body:
            (name,) = request.segments
            fuzz.send(request, outcome(lambda: check_users_channel(name, LIMITS)))
        else:
            fuzz.send(request)

    users()
    fuzz.finish()


@pytest.mark.parametrize(
    "template",
    ["/apps/{app}/users/{segment}/terminate_connections", "/users/{segment}/terminate_connections"],
    ids=["by-app-id", "by-key"],
)
def test_terminate_connections(fuzz: Fuzz, template: str) -> None:
    @FUZZ
    @given(
        fuzz_requests(
            "POST", template, bodies=st.sampled_from((b"", b"{}")) | st.binary(max_size=20)
        )
    )
    def terminate(request: FuzzRequest) -> None:
        fuzz.send(request, (200, None) if exact(request, "POST") else None)

    terminate()
    fuzz.finish(frozenset({200, 401}))


@pytest.mark.parametrize("path", ["/", "/ready", "/accept-traffic", "/usage"])
def test_probes(fuzz: Fuzz, path: str) -> None:
    """Unsigned: whatever the query, headers or body, a GET answers 200."""

    @settings(FUZZ, max_examples=max(FUZZ.max_examples // 4, 10))
    @given(fuzz_requests("GET", path))
    def probe(request: FuzzRequest) -> None:
        reply = fuzz.send(request)
        if request.method == "GET":
            assert reply.status == 200, request
            if path == "/usage":
                assert set(json.loads(reply.body)) == {"memory", "connections", "uptime_seconds"}
            else:
                assert (reply.content_type, reply.body) == ("text/plain", b"OK")

    probe()
    fuzz.finish(frozenset({200}))


def test_unknown_paths(fuzz: Fuzz) -> None:
    quoted = path_segments.map(lambda part: urllib.parse.quote(part, safe=""))
    paths = st.lists(quoted, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))

    @FUZZ
    @given(paths.flatmap(lambda path: fuzz_requests("GET", path)))
    def anywhere(request: FuzzRequest) -> None:
        fuzz.send(request)

    anywhere()
    fuzz.finish(frozenset({404}))
