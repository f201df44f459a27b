"""A real HTTP webhook receiver on a free loopback port, in a thread.

Each request is recorded; its answer comes from a script of actions (an HTTP status, or
"hang" to stall past the sender's timeout), then 200 once the script is used up. Tests wait
on a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.server import free_port

HANG = "hang"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def events(self) -> list[dict]:
        return json.loads(self.body)["events"]


class Receiver:
    def __init__(self, script: list[int | str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.script = list(script or [])
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._release = threading.Event()  # ends hung requests
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    action = receiver.script.pop(0) if receiver.script else 200
                    status = 0 if action == HANG else int(action)
                    receiver.received.append(Received(self.path, dict(self.headers), body, status))
                    receiver._changed.notify_all()
                if action == HANG:
                    receiver._release.wait(30)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Every request so far once there are `count`; a hung one has status 0."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"got {len(self.received)} webhooks, expected {count}")
            return list(self.received)

    def delivered(self) -> list[Received]:
        """Requests answered 2xx, in arrival order."""
        with self._changed:
            return [r for r in self.received if 200 <= r.status < 300]

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
