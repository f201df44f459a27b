"""What nodes tell each other, as typed values, and their one wire form for every adapter.

A broadcast carries an already encoded event for a channel's subscribers. A command asks the
other nodes to do something for one app: close a user's sockets, or pass a channel's
cluster-wide subscription count to its subscribers; the dashboard's commands share its debug
console and figures between nodes. Each travels as one JSON object whose `k` field names its
kind, so no channel name is ever read as an instruction, on the topic `topics.topic_of` names.
Mixed-version nodes are out of scope: every node of a deployment speaks this form.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class RemoteBroadcast:
    """One broadcast as it travels between nodes: already encoded, never re-encoded."""

    app_id: str
    channel: str
    payload: bytes
    except_socket_id: str | None
    loopback: bool = False  # also for the publishing node: see `Adapter.publish`
    event_id: str | None = None  # an API event's on a cache channel (`cache.access`)


@dataclass(frozen=True, slots=True)
class TerminateUserConnections:
    """Every node closes the sockets it holds for `user_id` (the HTTP API's terminate)."""

    app_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionTotal:
    """A channel's cluster-wide subscription count, for every node's subscribers; `version`
    orders one channel's totals (a node drops one older than the newest it sent)."""

    app_id: str
    channel: str
    total: int
    version: int


@dataclass(frozen=True, slots=True)
class ConsoleWatched:
    """A dashboard page on the sender watches `app_id`'s debug console: the receiver builds
    records for it too, for a while (the sender renews this while the page is open)."""

    app_id: str


@dataclass(frozen=True, slots=True)
class ConsoleRecord:
    """One debug-console record of `app_id`, already a Pusher event frame (JSON text), for
    the receiver's pages."""

    app_id: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """One node's latest dashboard figures: app id -> (connections, messages per second)."""

    node_id: str
    apps: dict[str, tuple[int, float]]
    app_id: str = ""  # node-wide


Command = (
    TerminateUserConnections | SubscriptionTotal | ConsoleWatched | ConsoleRecord | NodeFigures
)
DashboardMessage = ConsoleWatched | ConsoleRecord | NodeFigures
NodeMessage = RemoteBroadcast | Command


class MalformedMessage(ValueError):
    """Bytes on the bus that are not a message of ours (another program, or corruption)."""


_BROADCAST, _TERMINATE, _TOTAL = "b", "t", "c"
_WATCHED, _RECORD, _FIGURES = "w", "r", "f"


def encode(origin: str, message: NodeMessage) -> bytes:
    """The wire form of `message` sent by node `origin`."""
    if isinstance(message, RemoteBroadcast):
        fields: dict[str, object] = {
            "k": _BROADCAST,
            "n": origin,
            "a": message.app_id,
            "c": message.channel,
            "p": message.payload.decode(),
            "x": message.except_socket_id,
        }
        if message.loopback:
            fields["l"] = True
        if message.event_id is not None:
            fields["i"] = message.event_id
    elif isinstance(message, TerminateUserConnections):
        fields = {"k": _TERMINATE, "n": origin, "a": message.app_id, "u": message.user_id}
    elif isinstance(message, ConsoleWatched):
        fields = {"k": _WATCHED, "n": origin, "a": message.app_id}
    elif isinstance(message, ConsoleRecord):
        fields = {"k": _RECORD, "n": origin, "a": message.app_id, "p": message.frame.decode()}
    elif isinstance(message, NodeFigures):
        figures = {app_id: list(values) for app_id, values in message.apps.items()}
        fields = {"k": _FIGURES, "n": origin, "a": "", "i": message.node_id, "f": figures}
    else:
        fields = {
            "k": _TOTAL,
            "n": origin,
            "a": message.app_id,
            "c": message.channel,
            "t": message.total,
            "v": message.version,
        }
    return orjson.dumps(fields)


def decode(raw: bytes) -> tuple[str, NodeMessage]:
    """(origin node, message); raises MalformedMessage for anything else."""
    try:
        fields = orjson.loads(raw)
        kind, origin, app_id = fields["k"], _text(fields["n"]), _text(fields["a"])
        if kind == _BROADCAST:
            except_socket_id = fields["x"]
            if except_socket_id is not None:
                except_socket_id = _text(except_socket_id)
            event_id = fields.get("i")
            message: NodeMessage = RemoteBroadcast(
                app_id,
                _text(fields["c"]),
                _text(fields["p"]).encode(),
                except_socket_id,
                fields.get("l") is True,
                None if event_id is None else _text(event_id),
            )
        elif kind == _TERMINATE:
            message = TerminateUserConnections(app_id, _text(fields["u"]))
        elif kind == _TOTAL:
            message = SubscriptionTotal(
                app_id, _text(fields["c"]), _count(fields["t"]), _count(fields["v"])
            )
        elif kind == _WATCHED:
            message = ConsoleWatched(app_id)
        elif kind == _RECORD:
            message = ConsoleRecord(app_id, _text(fields["p"]).encode())
        elif kind == _FIGURES:
            message = NodeFigures(_text(fields["i"]), _figures(fields["f"]))
        else:
            raise MalformedMessage(f"unknown kind {kind!r}")
    except (KeyError, TypeError, ValueError) as error:  # orjson's JSONDecodeError: a ValueError
        raise MalformedMessage(str(error)) from None
    return origin, message


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _figures(value: object) -> dict[str, tuple[int, float]]:
    if not isinstance(value, dict):
        raise TypeError("figures must be an object")
    figures = {}
    for app_id, (connections, rate) in value.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise TypeError("a rate must be a number")
        figures[_text(app_id)] = (_count(connections), float(rate))
    return figures


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value
