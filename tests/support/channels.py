"""Stand-ins for what a channel actor talks to, for tests that drive one directly: sockets
that record every write (errors and refusals as the frames a connection sends) and close, a
cluster state actor and a webhook notifier that record what they are told."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from socketrush.cache.access import DirectCache
from socketrush.cache.local import LocalCache
from socketrush.channels import ChannelSettings
from socketrush.cluster.messages import ClusterLink
from socketrush.protocol import frames
from socketrush.protocol.errors import ErrorSpec, SubscriptionRefusal, error_frame
from socketrush.protocol.websocket import text_frame


@dataclass
class Socket:
    """A subscriber that records each write as the JSON frames it carried, and its closes.
    `fail_on`: an event name whose frame makes `send_frame` raise (a crash mid-handling)."""

    socket_id: str
    writes: list[list[dict]] = field(default_factory=list)
    closes: list[ErrorSpec] = field(default_factory=list)
    fail_on: str | None = None

    def send_frame(self, frame: bytes) -> None:
        carried = []
        while frame:  # unmasked server frames, payloads under 64 KiB
            length, start = frame[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(frame[2:4], "big"), 4
            carried.append(orjson.loads(frame[start : start + length]))
            frame = frame[start + length :]
        if self.fail_on is not None and any(f["event"] == self.fail_on for f in carried):
            raise RuntimeError(f"{self.socket_id}: injected failure on {self.fail_on}")
        self.writes.append(carried)

    def close_with(self, spec: ErrorSpec, message: str | None = None) -> None:
        self.closes.append(spec)

    def fail(self, spec: ErrorSpec, message: str | None = None) -> None:
        self.send_frame(text_frame(error_frame(spec, message)))

    def refuse(
        self, channel: str, refusal: SubscriptionRefusal, message: str | None = None
    ) -> None:
        self.send_frame(text_frame(frames.subscription_refused(channel, refusal, message)))

    @property
    def frames(self) -> list[dict]:
        return [frame for write in self.writes for frame in write]

    def events_per_write(self) -> list[list[str]]:
        return [[f["event"] for f in write] for write in self.writes]

    def events(self) -> list[tuple[str, str]]:
        """(event, user id) of the member events received, in order."""
        return [
            (f["event"].rpartition(":")[2], orjson.loads(f["data"])["user_id"])
            for f in self.frames
            if f["event"].startswith("pusher_internal:member_")
        ]


@dataclass
class Cluster:
    """Stands in for the cluster state actor: records what the channel tells it."""

    told: list[object] = field(default_factory=list)

    def tell(self, message: object) -> bool:
        self.told.append(message)
        return True

    def ask(self, message: object, timeout: float = 5.0) -> object:
        raise AssertionError("a channel never asks the cluster")


@dataclass
class Notifier:
    """Stands in for the app's webhook notifier: records the events, in order."""

    events: list[dict] = field(default_factory=list)

    def notify(self, event: dict) -> None:
        self.events.append(dict(event))

    def names(self) -> list[tuple[str, ...]]:
        """(name, user id) or (name,) per event."""
        return [(e["name"], e["user_id"]) if "user_id" in e else (e["name"],) for e in self.events]


def channel_settings(
    *,
    app_id: str = "app",
    cluster: Cluster | None = None,
    notifier: Notifier | None = None,
    counted: bool = False,
    max_members: int = 100,
) -> ChannelSettings:
    return ChannelSettings(
        app_id=app_id,
        max_presence_members=max_members,
        subscription_count_enabled=counted,
        cache=DirectCache(LocalCache()),
        notifier=notifier,  # type: ignore[arg-type]  (records what a notifier is told)
        cluster=ClusterLink(app_id, cluster) if cluster is not None else None,
    )
