"""What dashboards on different nodes tell each other, as broadcasts over the node's adapter.

Three kinds, on reserved `#dashboard:` names no client can subscribe to or publish on:
- `#dashboard:listen` (per app): a page on the sender watches this app's debug console, so
  the receiver builds records for it too (for `LISTEN_TTL_SECONDS`; renewed every tick);
- `#dashboard:log` (per app): one debug record, already a Pusher event frame, for the
  receiver's pages;
- `#dashboard:stats` (node-wide): the sender's latest figures per app, summed by each node
  into cluster-wide figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from socketrush.adapters.base import RemoteBroadcast

PREFIX = "#dashboard:"
LISTEN = PREFIX + "listen"
LOG = PREFIX + "log"
STATS = PREFIX + "stats"
LISTEN_TTL_SECONDS = 30.0  # three ticks: one lost announcement does not stop the records


@dataclass(frozen=True, slots=True)
class RemoteListening:
    app_id: str


@dataclass(frozen=True, slots=True)
class RemoteLog:
    app_id: str
    frame: bytes  # the event frame's JSON text


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """One node's latest figures: app id -> (connections, messages per second)."""

    node_id: str
    apps: dict[str, tuple[int, float]]


def stats_payload(node_id: str, apps: dict[str, tuple[int, float]]) -> bytes:
    return orjson.dumps({"node": node_id, "apps": apps})


def decode(broadcast: RemoteBroadcast) -> RemoteListening | RemoteLog | NodeFigures | None:
    """The message a dashboard broadcast carries, or None if it is malformed (dropped)."""
    channel = broadcast.channel
    if channel == LISTEN:
        return RemoteListening(broadcast.app_id)
    if channel == LOG:
        return RemoteLog(broadcast.app_id, broadcast.payload)
    if channel == STATS:
        try:
            data = orjson.loads(broadcast.payload)
            apps = {
                str(app_id): (int(figures[0]), float(figures[1]))
                for app_id, figures in data["apps"].items()
            }
            return NodeFigures(str(data["node"]), apps)
        except (
            orjson.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
        ):
            return None
    return None
