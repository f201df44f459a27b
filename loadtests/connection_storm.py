"""Connection storm: every user connects, subscribes to a public channel, holds, and repeats.

Run (server started separately): `.venv/bin/locust --config loadtests/connection_storm.conf`.
Reported: `WS connect` (handshake to connection_established), `WS subscribe` (to
subscription_succeeded) and `WS hold` (a failure means the server dropped an idle socket).
"""

from __future__ import annotations

import itertools

from locust import User, constant, events, task
from pusher_ws import PusherSocket
from scenario_support import measure, ws_url

_channel_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--storm-channels", type=int, default=100, help="public channels used")
    parser.add_argument("--hold-seconds", type=float, default=10.0, help="idle time per socket")


class StormUser(User):
    """One connection at a time; users x spawn rate shape the storm."""

    wait_time = constant(0)
    socket: PusherSocket | None = None

    @task
    def connect_subscribe_hold(self) -> None:
        opts = self.environment.parsed_options
        channel = f"storm-{next(_channel_numbers) % opts.storm_channels}"
        with measure(self.environment, "connect"):
            self.socket = PusherSocket(ws_url(self.environment))
        with measure(self.environment, "subscribe"):
            self.socket.subscribe(channel)
            self.socket.expect_subscribed(channel)
        with measure(self.environment, "hold"):
            self.socket.hold(opts.hold_seconds)
        self._close()

    def on_stop(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
