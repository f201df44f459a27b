"""A TCP proxy on loopback that can hold back what the server sends on chosen connections.

A node behind it reaches its Redis or NATS as usual until a test holds a connection: from
then on the server's bytes for that node wait in the proxy, in order, until `release`. So a
test can stop a node from hearing the bus (its pub/sub connection) while the node's other
connections go on, and open a window that is otherwise a few microseconds wide. Each
connection is two pumps of one thread each.
"""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK = 65536


class _Link:
    """One proxied connection; `port` is the proxy's own port towards the server (what the
    server sees as the client's, e.g. in Redis `CLIENT LIST`)."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.port: int = upstream.getsockname()[1]
        self._lock = threading.Lock()  # orders forwarding against hold and release
        self._held: list[bytes] | None = None

    def hold(self) -> None:
        with self._lock:
            if self._held is None:
                self._held = []

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
            for data in held:
                self.client.sendall(data)

    def down(self, data: bytes) -> None:
        """From the server to the node, unless held."""
        with self._lock:
            if self._held is not None:
                self._held.append(data)
            else:
                self.client.sendall(data)


class HoldingProxy:
    """Forwards `127.0.0.1:port` to `127.0.0.1:target_port`, both ways, at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.links: list[_Link] = []
        self._closed = False

    def __enter__(self) -> HoldingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed = True
        for sock in [
            self._listener,
            *(s for link in self.links for s in (link.client, link.upstream)),
        ]:
            with contextlib.suppress(OSError):
                sock.close()

    def link(self, port: int) -> _Link:
        """The connection whose proxy side has `port` towards the server."""
        (found,) = [link for link in self.links if link.port == port]
        return found

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return
            link = _Link(client, upstream)
            self.links.append(link)
            threading.Thread(target=self._pump_up, args=(link,), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(link,), daemon=True).start()

    @staticmethod
    def _pump_up(link: _Link) -> None:
        with contextlib.suppress(OSError):
            while data := link.client.recv(CHUNK):
                link.upstream.sendall(data)
            link.upstream.shutdown(socket.SHUT_WR)

    @staticmethod
    def _pump_down(link: _Link) -> None:
        with contextlib.suppress(OSError):
            while data := link.upstream.recv(CHUNK):
                link.down(data)
            link.client.shutdown(socket.SHUT_WR)
