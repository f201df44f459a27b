"""A TCP proxy on loopback that delays every byte by a fixed time, both ways: a node behind it
is a node far from its Redis or NATS (a slow network), which widens the windows a cross-node
design must close. Bytes keep their order; each connection is two pumps of two threads."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

CHUNK = 65536


class DelayingProxy:
    """Forwards `127.0.0.1:port` to `127.0.0.1:target_port`, `delay` seconds late each way."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = False

    def start(self) -> DelayingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._closed = True
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> DelayingProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            self._pump(client, upstream)
            self._pump(upstream, client)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            with contextlib.suppress(OSError):
                while data := source.recv(CHUNK):
                    chunks.put((time.monotonic() + self.delay, data))
            chunks.put((time.monotonic() + self.delay, b""))

        def write() -> None:
            while True:
                due, data = chunks.get()
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    if not data:
                        target.shutdown(socket.SHUT_WR)
                        return
                    target.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()
