"""Broadcast fan-out: subscribers on a few public channels, one publisher on the HTTP API.

Run (server started separately): `.venv/bin/locust --config loadtests/fanout.conf`.
The publisher (the official `pusher` SDK) puts its wall-clock time in every payload; each
subscriber reports `WS deliver` with the delivery latency, so Locust's percentiles are the
fan-out latency. `HTTP trigger` is the publish request itself.
"""

from __future__ import annotations

import itertools

from locust import User, constant, events, task
from pusher_ws import PusherSocket
from scenario_support import measure, now_ms, pusher_client, record, ws_url

EVENT = "fanout-tick"
_subscriber_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--fanout-channels", type=int, default=1, help="channels (1-10)")
    parser.add_argument("--publish-rate", type=float, default=10.0, help="events per second")


def _channels(environment) -> list[str]:
    return [f"fanout-{n}" for n in range(environment.parsed_options.fanout_channels)]


class Subscriber(User):
    """Holds one subscription and reports each delivery's latency."""

    weight = 1
    wait_time = constant(0)
    socket: PusherSocket | None = None

    def on_start(self) -> None:
        channels = _channels(self.environment)
        channel = channels[next(_subscriber_numbers) % len(channels)]
        with measure(self.environment, "connect"):
            self.socket = PusherSocket(ws_url(self.environment))
        with measure(self.environment, "subscribe"):
            self.socket.subscribe(channel)
            self.socket.expect_subscribed(channel)

    @task
    def receive(self) -> None:
        frame = self.socket.recv(timeout=1.0)
        if frame is not None and frame.get("event") == EVENT:
            data = frame["data"]
            record(self.environment, "deliver", now_ms() - data["t"], len(data["p"]))

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()


class Publisher(User):
    """Exactly one publisher, pacing itself to `--publish-rate` events per second."""

    fixed_count = 1
    sequence = itertools.count()

    def wait_time(self) -> float:
        return 1.0 / self.environment.parsed_options.publish_rate

    def on_start(self) -> None:
        self.client = pusher_client(self.environment)

    @task
    def publish(self) -> None:
        payload = {"s": next(self.sequence), "t": now_ms(), "p": "x" * 80}
        with measure(self.environment, "trigger", request_type="HTTP"):
            self.client.trigger(_channels(self.environment), EVENT, payload)
