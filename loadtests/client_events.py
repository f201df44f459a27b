"""Client-event ping-pong: each user owns a pair of sockets on its own private channel.

Run (server started separately, with client messages enabled):
`.venv/bin/locust --config loadtests/client_events.conf`.
A sends `client-ping`, B answers `client-pong`, one event in flight per pair. Each event carries
its send time; the receiver reports the one-way latency as `WS client-ping` / `WS client-pong`.
"""

from __future__ import annotations

import uuid

from locust import User, constant, task
from pusher_ws import PusherSocket
from scenario_support import measure, now_ms, pusher_client, record, ws_url


def _subscribe_private(socket: PusherSocket, client, channel: str) -> None:
    socket.subscribe(channel, client.authenticate(channel, socket.socket_id)["auth"])
    socket.expect_subscribed(channel)


class PingPongPair(User):
    """A closed loop of client events between two connections."""

    wait_time = constant(0)
    sockets: tuple[PusherSocket, PusherSocket] | None = None

    def on_start(self) -> None:
        client = pusher_client(self.environment)
        self.channel = f"private-pingpong-{uuid.uuid4().hex[:12]}"
        with measure(self.environment, "connect pair"):
            self.sockets = (
                PusherSocket(ws_url(self.environment)),
                PusherSocket(ws_url(self.environment)),
            )
        with measure(self.environment, "subscribe pair"):
            for socket in self.sockets:
                _subscribe_private(socket, client, self.channel)

    @task
    def ping_pong(self) -> None:
        pinger, ponger = self.sockets
        self._volley(pinger, ponger, "client-ping")
        self._volley(ponger, pinger, "client-pong")

    def _volley(self, sender: PusherSocket, receiver: PusherSocket, event: str) -> None:
        sender.send(event, {"t": now_ms()}, self.channel)
        try:
            frame = receiver.expect(event, self.channel, timeout=5.0)
        except Exception as error:
            record(self.environment, event, 5000.0, exception=error)
            raise
        record(self.environment, event, now_ms() - frame["data"]["t"])

    def on_stop(self) -> None:
        for socket in self.sockets or ():
            socket.close()
