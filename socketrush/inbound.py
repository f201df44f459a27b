"""The inbound half of a WebSocket connection: read the socket with as few system calls as
possible.

gevent's `socket.recv` first tries a non-blocking `recv` and only waits for readability when
that fails. For a request/response client (a client event, then its answer) the try almost
always fails, so every message cost an extra failing system call (measured: one `recv` in two
returned EAGAIN). Here a short read means the peer has sent everything it had, so the next
read waits for readability first; a full read means more is probably queued, so it tries
straight away.

Reads go into one buffer shared by every connection of the process and come back as a view
of it, instead of a fresh 64 KB bytes object per read. That is safe only because greenlets are
cooperative: the caller must copy or consume the view before it can yield (the frame parser
copies it into its own buffer at once).
"""

from __future__ import annotations

from collections.abc import Callable

READ_CHUNK = 65536

Reader = Callable[[], memoryview | bytes]

_shared = bytearray(READ_CHUNK)
_shared_view = memoryview(_shared)


def socket_reader(sock) -> Reader:
    """A blocking read for `sock` (a gevent socket): the next bytes, empty at end of stream.

    Raises OSError when the connection fails or is closed under the reader. TLS sockets keep
    gevent's own `recv`, which knows when OpenSSL already holds decrypted bytes.
    """
    if getattr(sock, "_sslobj", None) is not None:
        return lambda: sock.recv(READ_CHUNK)
    recv_into = sock._sock.recv_into  # the non-blocking OS socket under gevent's wrapper
    wait = sock._wait
    readable = sock._read_event
    expect_more = True  # bytes may already be waiting (e.g. sent along with the handshake)

    def read() -> memoryview:
        nonlocal expect_more
        if not expect_more:
            wait(readable)
        while True:
            try:
                size = recv_into(_shared, READ_CHUNK)
            except BlockingIOError:
                wait(readable)
                continue
            expect_more = size == READ_CHUNK
            return _shared_view[:size]

    return read
