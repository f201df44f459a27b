"""The one loop that offers a frame to many subscribers.

It is the hottest loop of the server: a publish to a channel of thousands offers the same
bytes to every outbox. Per recipient it costs one attribute lookup and one call (the outbox's
own `offer`, see `SocketActor.send_frame`); the metrics are counted once per fan-out.
"""

from __future__ import annotations

from collections.abc import Mapping

from socketrush import metrics
from socketrush.channels.messages import Subscriber


def fan_out(
    app_id: str,
    subscribers: Mapping[str, Subscriber],
    frame: bytes,
    except_socket_id: str | None = None,
    frames: int = 1,
) -> None:
    """Offer `frame` to every subscriber but `except_socket_id`; `frame` may hold several
    WebSocket frames (`frames`), counted as that many messages per recipient."""
    if except_socket_id is None:
        for subscriber in subscribers.values():
            subscriber.send_frame(frame)
        sent = len(subscribers)
    else:
        for socket_id, subscriber in subscribers.items():
            if socket_id != except_socket_id:
                subscriber.send_frame(frame)
        sent = len(subscribers) - (except_socket_id in subscribers)
    metrics.count_broadcast(app_id, sent, len(frame), frames)


def send_one(app_id: str, subscriber: Subscriber, frame: bytes) -> None:
    """A frame for one subscriber (subscription_succeeded, an error), counted like a fan-out."""
    subscriber.send_frame(frame)
    metrics.count_broadcast(app_id, 1, len(frame))
