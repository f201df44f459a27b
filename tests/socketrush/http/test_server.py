"""`serve`'s server, against real server processes. The handshake deadline: a connection
that sends nothing, or its request one byte at a time, or never starts TLS, is closed after
handshake_timeout_ms and counted; connections that finished their handshake are not, and a
keep-alive connection may idle up to keep_alive_timeout_ms between requests. The request
body's deadline. A request head it cannot read gets the error table's JSON 400, logged at
info."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

import pytest

from loadtests.certificates import make_certificate
from tests.support.client import PusherClient, assert_alive
from tests.support.metrics import other_free_port, scrape, scrape_until, value
from tests.support.server import APP_ID, ServerProcess, TlsServerProcess

pytestmark = pytest.mark.timeout(60)

DEADLINE_MS = 300
KEEP_ALIVE_MS = 1500
COUNTER = "socketrush_handshake_timeouts_total"


def with_metrics(server: ServerProcess) -> tuple[ServerProcess, int]:
    port = other_free_port(server.port)
    server.args = [
        *server.args,
        "--handshake-timeout-ms", str(DEADLINE_MS), "--keep-alive-timeout-ms", str(KEEP_ALIVE_MS),
        "--metrics-enabled", "true", "--metrics-port", str(port),
    ]  # fmt: skip
    return server.start(), port


@pytest.fixture
def strict() -> Iterator[tuple[ServerProcess, int]]:
    server, port = with_metrics(ServerProcess())
    yield server, port
    server.stop()


def raw_connection(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ended the connection (end of stream, or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_connections_that_send_nothing_are_closed_and_counted(
    strict: tuple[ServerProcess, int],
) -> None:
    server, metrics_port = strict
    silent = [raw_connection(server) for _ in range(20)]
    assert [closed_by_server(sock) for sock in silent] == [True] * 20  # recv waits up to 5 s
    samples = scrape_until(metrics_port, COUNTER, 20)
    assert value(samples, COUNTER) == 20
    for sock in silent:
        sock.close()


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(
    strict: tuple[ServerProcess, int],
) -> None:
    """Slowloris: each byte arrives in time for the last, but the head never completes."""
    server, metrics_port = strict
    sock = raw_connection(server)
    request = b"GET /usage HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"p" * 200
    started = time.monotonic()
    cut_off = False
    for byte in request:
        try:
            sock.sendall(bytes((byte,)))
        except (BrokenPipeError, ConnectionResetError):
            cut_off = True
            break
        time.sleep(0.02)  # pacing the attack itself, not waiting for the server
    cut_off = cut_off or closed_by_server(sock)
    sock.close()
    assert cut_off
    assert time.monotonic() - started < 5 * DEADLINE_MS / 1000 + 2  # long before the end
    assert value(scrape_until(metrics_port, COUNTER, 1), COUNTER) == 1


def test_connections_that_completed_their_handshake_are_not_cut(
    strict: tuple[ServerProcess, int],
) -> None:
    """The deadline ends with the request head: an idle WebSocket stays, and a keep-alive
    HTTP connection idle past the head deadline serves its next request (a client pooling
    connections must not have one closed under its next publish)."""
    server, metrics_port = strict
    client = PusherClient.connect(server)
    http = HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(3):
        http.request("GET", "/usage")
        response = http.getresponse()
        assert (response.status, response.getheader("Connection")) == (200, None)  # kept
        response.read()
        time.sleep(2 * DEADLINE_MS / 1000)  # idle past the head deadline on purpose
    http.close()
    assert_alive(client)
    client.close()
    assert value(scrape(metrics_port), COUNTER) == 0


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout_uncounted(
    strict: tuple[ServerProcess, int],
) -> None:
    server, metrics_port = strict
    http = HTTPConnection("127.0.0.1", server.port, timeout=5)
    http.request("GET", "/usage")
    http.getresponse().read()
    started = time.monotonic()
    assert closed_by_server(http.sock)  # recv waits up to 5 s
    assert KEEP_ALIVE_MS / 1000 - 0.1 < time.monotonic() - started < KEEP_ALIVE_MS / 1000 + 2
    http.close()
    assert value(scrape(metrics_port), COUNTER) == 0  # an idle client is not a slow one


def test_the_next_request_head_of_a_keep_alive_connection_has_the_deadline(
    strict: tuple[ServerProcess, int],
) -> None:
    """Slowloris on a kept connection: its next head, once begun, must end in time."""
    server, metrics_port = strict
    sock = raw_connection(server)
    sock.sendall(b"GET /usage HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = HTTPResponse(sock)
    response.begin()
    assert (response.status, len(response.read())) == (
        200,
        int(response.getheader("Content-Length")),
    )
    sock.sendall(b"GET /usage HTTP/1.1\r\n")  # and the rest never comes
    started = time.monotonic()
    assert closed_by_server(sock)
    assert time.monotonic() - started < KEEP_ALIVE_MS / 1000  # the head's deadline, not idle
    sock.close()
    assert value(scrape_until(metrics_port, COUNTER, 1), COUNTER) == 1


def test_a_connection_that_never_starts_tls_is_closed_and_counted(tmp_path: Path) -> None:
    server, metrics_port = with_metrics(TlsServerProcess(certificate=make_certificate(tmp_path)))
    try:
        sock = raw_connection(server)
        assert closed_by_server(sock)
        sock.close()
        assert value(scrape_until(metrics_port, COUNTER, 1), COUNTER) == 1
    finally:
        server.stop()


# -- the request body's deadline --

BODY_DEADLINE_MS = 300
BODY_COUNTER = "socketrush_request_body_timeouts_total"
BODY_TIMEOUT = {"error": "Request body not received in time"}


@pytest.fixture
def strict_body() -> Iterator[tuple[ServerProcess, int]]:
    server, port = with_metrics(
        ServerProcess(args=["--request-body-timeout-ms", str(BODY_DEADLINE_MS)])
    )
    yield server, port
    server.stop()


def answer_then_close(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The one response the server sends before it closes the connection. A close with bytes
    of ours unread resets the connection, after what it sent (which Linux keeps readable)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def events_head(framing: str) -> bytes:
    return (
        f"POST /apps/{APP_ID}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()


def test_a_body_trickled_past_its_deadline_is_answered_408_and_closed(
    strict_body: tuple[ServerProcess, int],
) -> None:
    """Content-Length promises 1,000 bytes; they come one every 20 ms, which would take 20 s."""
    server, metrics_port = strict_body
    sock = raw_connection(server)
    sock.sendall(events_head("Content-Length: 1000"))
    started = time.monotonic()
    for _ in range(1000):
        try:
            sock.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            break
        if time.monotonic() - started > 5 * BODY_DEADLINE_MS / 1000:
            break  # the server has had more than enough time to answer
        time.sleep(0.02)  # pacing the attack itself, not waiting for the server
    status, headers, body = answer_then_close(sock)
    sock.close()
    assert (status, headers["Connection"], json.loads(body)) == (408, "close", BODY_TIMEOUT)
    assert value(scrape_until(metrics_port, BODY_COUNTER, 1), BODY_COUNTER) == 1
    assert "Traceback" not in server.log()


def test_a_chunked_body_that_stops_is_answered_408_and_closed(
    strict_body: tuple[ServerProcess, int],
) -> None:
    server, metrics_port = strict_body
    sock = raw_connection(server)
    sock.sendall(events_head("Transfer-Encoding: chunked") + b'5\r\n{"nam\r\n')  # then nothing
    status, headers, body = answer_then_close(sock)  # recv waits up to 5 s
    sock.close()
    assert (status, headers["Connection"], json.loads(body)) == (408, "close", BODY_TIMEOUT)
    assert value(scrape_until(metrics_port, BODY_COUNTER, 1), BODY_COUNTER) == 1


def test_a_body_left_unread_by_the_answer_still_has_its_deadline(
    strict_body: tuple[ServerProcess, int],
) -> None:
    """An unknown app is answered before its body is read; gevent then reads the rest of the
    body to find the next request, and a body that stops is cut there too, silently."""
    server, metrics_port = strict_body
    sock = raw_connection(server)
    sock.sendall(events_head("Content-Length: 100").replace(APP_ID.encode(), b"999") + b"{")
    status, _, body = answer_then_close(sock)
    sock.close()
    assert (status, json.loads(body)) == (404, {"error": "Unknown app id 999"})
    assert value(scrape_until(metrics_port, BODY_COUNTER, 1), BODY_COUNTER) == 1
    assert "Traceback" not in server.log() and "BodyTimeout" not in server.log()


def test_a_body_sent_in_time_is_served_on_a_kept_connection(
    strict_body: tuple[ServerProcess, int],
) -> None:
    server, _ = strict_body
    http = HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(2):
        http.request("POST", f"/apps/{APP_ID}/events", body=b"{}")
        response = http.getresponse()
        assert response.status == 401  # unsigned; its body was read whole
        response.read()
    http.close()


@pytest.fixture(scope="module")
def informative() -> Iterator[ServerProcess]:
    server = ServerProcess(env={"LOG_LEVEL": "info"}).start()
    yield server
    server.stop()


def read_response(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


@pytest.mark.parametrize(
    ("head", "message", "reason"),
    [
        # Just over the 64 KB limit: the server reads the rest before it closes, so the
        # client's unread bytes do not reset the connection before the answer is read.
        (b"X-Big: " + b"a" * 66_000 + b"\r\n", "Request headers too large", "Line too long"),
        (
            b"".join(b"X-H%d: v\r\n" % n for n in range(101)),
            "Request headers too large",
            "Too many headers",
        ),
        (b"no colon in this line\r\n", "Bad request", "Malformed header line"),
    ],
    ids=["long line", "101 headers", "malformed"],
)
def test_an_unreadable_request_head_gets_a_json_400_logged_at_info(
    informative: ServerProcess, head: bytes, message: str, reason: str
) -> None:
    server = informative
    body = json.dumps({"error": message}, separators=(",", ":")).encode()
    # The server is the module's: only the lines this case adds are its own. The refusal is
    # logged before the answer is sent, so it is in the log once the connection closed.
    before = server.log().splitlines()
    with raw_connection(server) as sock:
        sock.sendall(b"GET /usage HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\n")
        response = read_response(sock)
    assert response == (
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    added = server.log().splitlines()[len(before) :]
    refusals = [line for line in added if "refused a request" in line]
    assert len(refusals) == 1
    assert " INFO socketrush.http.server: " in refusals[0]
    assert refusals[0].endswith(f"Invalid headers status: '{reason}'")
    assert not [line for line in added if " ERROR " in line]
    assert_alive(PusherClient.connect(server))


def test_a_request_line_over_the_limit_gets_a_json_414_logged_at_info(
    informative: ServerProcess,
) -> None:
    server = informative
    body = b'{"error":"Request line too long"}'
    before = server.log().splitlines()
    with raw_connection(server) as sock:
        path = b"/usage?" + b"a" * 9000
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = read_response(sock)
    assert response == (
        b"HTTP/1.1 414 Request-URI Too Long\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    added = server.log().splitlines()[len(before) :]
    refusals = [line for line in added if "refused a request" in line]
    assert len(refusals) == 1
    assert " INFO socketrush.http.server: " in refusals[0]
    assert not [line for line in added if " ERROR " in line]
    assert_alive(PusherClient.connect(server))


def test_http_connections_send_at_once_and_other_sockets_are_left_alone() -> None:
    """An HTTP answer must not wait for Nagle's algorithm (40 ms stalls with delayed ACKs)."""
    from socketrush.http.server import _send_at_once

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    with listener, client, accepted:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        _send_at_once(accepted)
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        client.sendall(b"x")
        assert accepted.recv(1) == b"x"
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        _send_at_once(left)  # not TCP: nothing to set, no error
