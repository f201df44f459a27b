"""Presence churn: users join and leave presence channels while one observer watches them.

Run (server started separately): `.venv/bin/locust --config loadtests/presence_churn.conf`.
Each churner signs its join with the official `pusher` SDK and carries its send time in
`user_info`, so the observer can report `WS member_added` latency with no shared state between
users (it also works with `--processes`). `WS join` is subscribe to subscription_succeeded.
"""

from __future__ import annotations

import itertools
import uuid

from locust import User, constant, events, task
from pusher_ws import PusherSocket
from scenario_support import measure, now_ms, pusher_client, record, ws_url


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--presence-channels", type=int, default=5, help="presence channels")


def _channels(environment) -> list[str]:
    return [f"presence-churn-{n}" for n in range(environment.parsed_options.presence_channels)]


def _join(socket: PusherSocket, client, channel: str, user_id: str, user_info: dict) -> None:
    auth = client.authenticate(
        channel, socket.socket_id, {"user_id": user_id, "user_info": user_info}
    )
    socket.subscribe(channel, auth["auth"], auth["channel_data"])
    socket.expect_subscribed(channel)


class Observer(User):
    """One member of every churn channel, timing each `pusher_internal:member_added`."""

    fixed_count = 1
    wait_time = constant(0)
    socket: PusherSocket | None = None

    def on_start(self) -> None:
        client = pusher_client(self.environment)
        self.socket = PusherSocket(ws_url(self.environment))
        for channel in _channels(self.environment):
            _join(self.socket, client, channel, f"observer-{uuid.uuid4().hex[:8]}", {})

    @task
    def watch(self) -> None:
        frame = self.socket.recv(timeout=1.0)
        if frame is not None and frame.get("event") == "pusher_internal:member_added":
            sent = frame["data"].get("user_info", {}).get("t")
            if sent is not None:
                record(self.environment, "member_added", now_ms() - sent)

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()


class Churner(User):
    """Joins the next channel as a fresh member, then leaves it at once."""

    weight = 1
    wait_time = constant(0)
    socket: PusherSocket | None = None

    def on_start(self) -> None:
        self.client = pusher_client(self.environment)
        self.channels = itertools.cycle(_channels(self.environment))
        with measure(self.environment, "connect"):
            self.socket = PusherSocket(ws_url(self.environment))

    @task
    def join_and_leave(self) -> None:
        channel = next(self.channels)
        user_id = f"churner-{uuid.uuid4().hex[:12]}"
        with measure(self.environment, "join"):
            _join(self.socket, self.client, channel, user_id, {"t": now_ms()})
        self.socket.send("pusher:unsubscribe", {"channel": channel})

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()
