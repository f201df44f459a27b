"""RequestHeaders: the header block of a request, read like http.client reads it."""

from __future__ import annotations

import io
import socket

import pytest

from socketrush.http.headers import MAX_HEADERS, MAX_LINE, RequestHeaders
from tests.support.server import ServerProcess


def read(block: bytes) -> RequestHeaders:
    return RequestHeaders.read(io.BytesIO(block))


def test_fields_are_read_up_to_the_blank_line_and_looked_up_in_any_case() -> None:
    rfile = io.BytesIO(b"Host: a\r\nUpgrade:  websocket \r\nX-Two: 1\r\nx-two: 2\r\n\r\nbody")
    headers = RequestHeaders.read(rfile)
    assert headers.status == ""
    assert headers.get("host") == "a"
    assert headers.get("UPGRADE") == "websocket"
    assert headers.get("x-two") == "1"  # the first, as email.message.Message.get
    assert headers.getheader("missing", "none") == "none"
    assert list(headers.headers) == [
        "Host: a\r\n",
        "Upgrade: websocket\r\n",
        "X-Two: 1\r\n",
        "x-two: 2\r\n",
    ]
    assert rfile.read() == b"body"


def test_delete_removes_every_field_of_that_name() -> None:
    headers = read(b"Content-Length: 3\r\ncontent-length: 4\r\nContent-Type: text/plain\r\n\r\n")
    del headers["Content-Length"]
    assert headers.get("content-length") is None
    assert headers.typeheader == "text/plain"


def test_folded_lines_continue_the_previous_value() -> None:
    headers = read(b"X-Long: one\r\n  two\r\n\ttwo-more\r\n\r\n")
    assert headers.get("x-long") == "one two two-more"


def test_end_of_stream_ends_the_block() -> None:
    assert read(b"Host: a\r\n").get("host") == "a"


@pytest.mark.parametrize(
    ("block", "status"),
    [
        (b"X: " + b"a" * MAX_LINE + b"\r\n\r\n", "Line too long"),
        (
            b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n",
            "Too many headers",
        ),
        (b" folded-first\r\n\r\n", "Continuation line without a header"),
        (b"no colon here\r\n\r\n", "Malformed header line"),
        (b"Bad Name : v\r\n\r\n", "Malformed header line"),
    ],
)
def test_bad_blocks_are_refused_with_a_reason(block: bytes, status: str) -> None:
    headers = read(block)
    assert headers.status == status
    assert list(headers.headers) == []


def test_the_server_answers_400_to_a_bad_header_block(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
