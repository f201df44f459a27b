"""A dashboard page's debug console for the benchmarks, without a browser: the same login,
authorizer call and debug channel subscription as the page's pusher-js, then a reader that
counts the records (`bench.py --dashboard watching`)."""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie

import gevent
from bench_server import APP_ID, APP_KEY, HOST, PinnedServer
from rawws import Closed, RawPusher

USERNAME, PASSWORD = "bench", "bench-password"
DEBUG_CHANNEL = "private-#socketrush-dashboard"
FLAGS = ("--dashboard-enabled", "true", "--dashboard-username", USERNAME)
FLAGS += ("--dashboard-password", PASSWORD)


def server_flags(mode: str) -> tuple[str, ...]:
    """`serve` flags for --dashboard off | idle (enabled, no page) | watching (a page open)."""
    return () if mode == "off" else FLAGS


class Watcher:
    """One open debug console; `records` counts what it received."""

    def __init__(self, server: PinnedServer) -> None:
        base = f"http://{HOST}:{server.port}/dashboard"
        token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        login = urllib.request.Request(base, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(login, timeout=5) as response:
            cookie = SimpleCookie(response.headers["Set-Cookie"])["socketrush_dashboard"].value
        self.sock = RawPusher(HOST, server.port, APP_KEY)
        form = urllib.parse.urlencode(
            {"socket_id": self.sock.socket_id, "channel_name": DEBUG_CHANNEL}
        )
        authorize = urllib.request.Request(
            f"{base}/api/apps/{APP_ID}/auth",
            data=form.encode(),
            headers={"Cookie": f"socketrush_dashboard={cookie}"},
        )
        with urllib.request.urlopen(authorize, timeout=5) as response:
            auth = response.read().decode().split('"auth":"')[1].split('"')[0]
        self.sock.send("pusher:subscribe", {"channel": DEBUG_CHANNEL, "auth": auth})
        self.sock.next_event("pusher_internal:subscription_succeeded")
        self.records = 0
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            while True:
                self.records += len(self.sock.texts())
        except (Closed, OSError):
            return

    def close(self) -> int:
        self._reader.kill()
        self.sock.sock.close()
        return self.records


def watch(server: PinnedServer, mode: str) -> Watcher | None:
    return Watcher(server) if mode == "watching" else None
