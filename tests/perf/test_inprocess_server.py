"""The real server in-process over real sockets: a broadcast is encoded and framed once, and
idle subscribed connections park no greenlet."""

from __future__ import annotations

import base64
import gc
import os
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import gevent
import greenlet
import orjson
import pytest
from gevent import socket as gsocket

from actors import actor as actor_base
from actors import runners
from loadtests.certificates import make_certificate
from loadtests.rawws import OP_TEXT, RawPusher, encode_frame
from socketrush import metrics, tally
from socketrush.app import actor as app_module
from socketrush.channels import actor as channel_module
from socketrush.connection import SocketActor
from socketrush.connection import actor as actor_module
from socketrush.http import server as server_module
from socketrush.protocol import frames
from socketrush.transport.outbox import Outbox
from tests.perf.inprocess import InProcessServer, in_thread, serve_in_process
from tests.support.polling import wait_until
from tests.support.server import APP_ID, APP_KEY

SUBSCRIBERS = 25


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["ws", "wss"])
def server(request, certificate: tuple[Path, Path]) -> Iterator[InProcessServer]:
    """Every test here runs over plain sockets and over TLS: both are read the same way."""
    with serve_in_process(certificate=certificate if request.param == "wss" else None) as running:
        yield running


def subscribed_clients(server: InProcessServer, channel: str) -> list[RawPusher]:
    clients = [server.connect() for _ in range(SUBSCRIBERS)]
    for client in clients:
        client.subscribe(channel)
    return clients


def live_objects(kind: type) -> list:
    return [obj for obj in gc.get_objects() if isinstance(obj, kind)]


def busy_greenlets() -> int:
    """Live greenlets other than the runners parked for reuse (actors/runners.py)."""
    gc.collect()
    live = sum(not g.dead for g in live_objects(greenlet.greenlet))
    return live - runners.idle_runners()


def counting(calls: list, function: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        calls.append((args, result))
        return result

    return wrapper


def test_broadcast_encodes_and_frames_once_and_offers_the_same_bytes(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered: list[bytes] = []
    offer = Outbox.offer

    def recording_offer(self: Outbox, frame: bytes) -> None:
        offered.append(frame)
        offer(self, frame)

    # Before connecting: each connection binds its outbox's `offer` when it is created.
    monkeypatch.setattr(Outbox, "offer", recording_offer)
    clients = subscribed_clients(server, "perf-once")
    offered.clear()  # the handshakes and subscriptions
    encoded: list = []
    framed: list = []
    monkeypatch.setattr(frames, "event_frame", counting(encoded, frames.event_frame))
    for module in (app_module, channel_module):  # both frame payloads on the publish path
        monkeypatch.setattr(module, "text_frame", counting(framed, module.text_frame))

    sdk = server.sdk()
    in_thread(sdk.trigger, "perf-once", "tick", {"n": 1})
    received = [subscriber.next_event("tick") for subscriber in clients]

    assert len(encoded) == 1
    assert len(framed) == 1
    assert len(offered) == SUBSCRIBERS
    assert all(frame is framed[0][1] for frame in offered)  # one object, not N copies
    assert received == [orjson.loads(encoded[0][1])] * SUBSCRIBERS
    for subscriber in clients:
        subscriber.close()


def test_idle_subscribed_connections_hold_no_greenlet(
    server: InProcessServer,
) -> None:
    tally.tally(metrics.MESSAGES_IN.labels(APP_ID))  # its process-wide flusher runs already
    before = busy_greenlets()
    clients = subscribed_clients(server, "perf-idle")
    gevent.idle()  # let every actor finish its mailbox and exit
    gc.collect()
    outboxes = [o for o in live_objects(Outbox) if not o.closed]

    assert len(outboxes) == SUBSCRIBERS
    assert [o.has_writer for o in outboxes] == [False] * SUBSCRIBERS
    assert [o.backlog_bytes for o in outboxes] == [0] * SUBSCRIBERS
    # Their sockets are read from the event loop and written inline: no reader or writer
    # greenlet waits per connection. (At most: a previous test's connections may still have
    # been finishing their close when `before` was counted.)
    assert busy_greenlets() - before <= 0
    for subscriber in clients:
        subscriber.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def await_descriptors(expected: int) -> None:
    """Until this process has `expected` open descriptors: the server's side of a connection
    closes in its own greenlet, on this hub, with nothing to await from here."""
    wait_until(
        lambda: open_descriptors() == expected,
        5,
        lambda: f"{open_descriptors()} descriptors open, not {expected}",
        sleep=gevent.sleep,
    )


def test_a_released_connection_closes_its_socket_when_the_client_leaves(
    server: InProcessServer,
) -> None:
    """No greenlet waits on a connection, so nothing of the WSGI server's closes its socket:
    the connection itself must, or every connection would leak a descriptor; and nothing
    may keep the closed connection alive (its last cleanup ran in a reused runner)."""
    gevent.idle()
    before = open_descriptors()
    older = {id(actor): actor for actor in live_objects(SocketActor)}  # held: ids stay theirs
    clients = subscribed_clients(server, "perf-leave")
    assert open_descriptors() == before + 2 * SUBSCRIBERS  # both ends live in this process
    ours = [weakref.ref(a) for a in live_objects(SocketActor) if id(a) not in older]
    assert len(ours) == SUBSCRIBERS
    del older
    for client in clients:
        client.close()
    await_descriptors(before)
    assert server.node.connection_count() == 0
    gevent.idle()
    gc.collect()
    assert [ref() for ref in ours] == [None] * SUBSCRIBERS  # nothing keeps them alive


def test_a_bug_handling_a_released_connections_message_costs_that_connection_only(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    parse = actor_module.parse_client_message

    def buggy(text: str):
        if "boom" in text:
            raise RuntimeError("a bug")
        return parse(text)

    monkeypatch.setattr(actor_module, "parse_client_message", buggy)
    victim, bystander = server.connect(), server.connect()
    bystander.subscribe("perf-bug")
    gevent.idle()
    before = open_descriptors()
    victim.send("boom", {})
    assert victim.read_to_eof() == []  # cut off: the server closed its socket
    victim.sock.close()
    await_descriptors(before - 2)  # both ends of the victim's connection
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        f"connection {victim.socket_id} failed"
    ]
    sdk = server.sdk()
    in_thread(sdk.trigger, "perf-bug", "still", {"n": 1})
    assert orjson.loads(bystander.next_event("still")["data"]) == {"n": 1}
    assert server.node.connection_count() == 1
    bystander.close()


def test_messages_arriving_together_are_all_handled(server: InProcessServer) -> None:
    """Twenty frames in one write (several frames per read), then one larger than a TLS
    record (16 KB; one frame over several reads): each is answered once."""
    client = server.connect()
    ping = encode_frame(OP_TEXT, orjson.dumps({"event": "pusher:ping", "data": {}}))
    big = encode_frame(
        OP_TEXT, orjson.dumps({"event": "pusher:ping", "data": {"pad": "x" * 60_000}})
    )
    client.sock.sendall(ping * 20 + big)
    pongs: list[bytes] = []
    with gevent.Timeout(5, False):
        while len(pongs) < 21:
            pongs += client.texts()
    assert pongs == [b'{"event":"pusher:pong","data":"{}"}'] * 21
    client.close()


def test_a_frame_sent_with_a_large_upgrade_request_is_handled(server: InProcessServer) -> None:
    """The request's headers are read in 1 KB pieces; over TLS, the rest of the same record
    (here a ping sent before the 101 arrived) then waits decrypted inside OpenSSL, where no
    readiness event announces it: the reader must look there once it starts."""
    sock = gsocket.create_connection(("127.0.0.1", server.port), timeout=5)
    if server.client_tls is not None:
        sock = server.client_tls.wrap_socket(sock, server_hostname="127.0.0.1")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /app/{APP_KEY}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {key}\r\nX-Padding: {'p' * 3000}\r\n\r\n"
    )
    ping = {"event": "pusher:ping", "data": {"pad": "x" * 5000}}  # more than the 1 KB reads
    sock.sendall(request.encode() + encode_frame(OP_TEXT, orjson.dumps(ping)))  # one record
    received = b""
    with gevent.Timeout(5, False):
        while b"pusher:pong" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"closed; got {received[:300]!r}"
            received += chunk
    assert b"pusher:pong" in received, received[:300]
    assert received.startswith(b"HTTP/1.1 101 ")
    sock.close()


def upgrade_request(key: str = "") -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /app/{APP_KEY}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {key}\r\n\r\n"
    ).encode()


def test_a_plain_upgrade_skips_the_http_handler_and_a_split_one_takes_it(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a plain socket a request head that arrives whole is answered without gevent's WSGI
    handler (the ping sent in the same write is answered too); one split in two writes is read
    by the handler, as is every head over TLS. Both are upgraded."""
    handlers: list = []
    monkeypatch.setattr(
        server_module.LeanHandler,
        "__init__",
        counting(handlers, server_module.LeanHandler.__init__),
    )
    ping = encode_frame(OP_TEXT, orjson.dumps({"event": "pusher:ping", "data": {}}))
    request = upgrade_request()
    for pieces in ([request + ping], [request[:40], request[40:] + ping]):
        sock = gsocket.create_connection(("127.0.0.1", server.port), timeout=5)
        if server.client_tls is not None:
            sock = server.client_tls.wrap_socket(sock, server_hostname="127.0.0.1")
        for piece in pieces:
            sock.sendall(piece)
            gevent.sleep(0.05)  # a separate segment: pacing the client, not awaiting the server
        received = b""
        with gevent.Timeout(5, False):
            while b"pusher:pong" not in received:
                chunk = sock.recv(65536)
                assert chunk, f"closed; got {received[:300]!r}"
                received += chunk
        assert received.startswith(b"HTTP/1.1 101 ")
        assert b"pusher:connection_established" in received
        assert b"pusher:pong" in received
        sock.close()
    assert len(handlers) == (2 if server.client_tls is not None else 1)


def test_a_subscribe_to_an_idle_app_and_channel_needs_no_runner(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app and an existing channel handle a subscribe (and the unsubscribe) at once in the
    reading greenlet (`Actor.tell_inline`): no hand-over to a runner greenlet, two per
    subscribe before, and the answer is the same."""
    first = server.connect()
    first.subscribe("inline")  # the channel exists from here on
    client = server.connect()
    spawned: list = []
    monkeypatch.setattr(actor_base, "run_soon", counting(spawned, actor_base.run_soon))
    client.subscribe("inline")  # waits for subscription_succeeded
    assert spawned == []
    client.send("pusher:unsubscribe", {"channel": "inline"})
    channel = server.node.app_by_id(APP_ID)._channels["inline"]
    wait_until(
        lambda: len(channel.subscribers) == 1,
        5,
        lambda: f"{len(channel.subscribers)} subscribers left, not 1",
        sleep=gevent.sleep,
    )
    assert spawned == []
    first.close()
    client.close()
