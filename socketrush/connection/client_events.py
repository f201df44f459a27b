"""Client events (`client-*`): checked, rate limited and relayed to the channel's other
subscribers. The hottest path of a connection (~50k events/s in the benchmark): no
allocation or call here that the relay does not need."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from socketrush import metrics
from socketrush.app import Publish
from socketrush.channels import Broadcast, not_subscribed
from socketrush.protocol import frames
from socketrush.protocol.channels import classify
from socketrush.protocol.client_messages import ClientEvent
from socketrush.protocol.errors import Err
from socketrush.protocol.websocket import text_frame
from socketrush.webhooks import events

if TYPE_CHECKING:
    from socketrush.connection.actor import SocketActor

_NOT_SUBSCRIBED = object()  # conn.channels maps a subscribed name to its user id, or None


def relay(conn: SocketActor, request: ClientEvent) -> None:
    app = conn.app
    assert app is not None
    settings = app.settings
    name = request.channel
    if not settings.enable_client_messages:
        conn.fail(Err.CLIENT_EVENTS_DISABLED)
        return
    user_id = conn.channels.get(name, _NOT_SUBSCRIBED)  # (a None name is never subscribed)
    if user_id is _NOT_SUBSCRIBED:
        conn.fail(Err.CLIENT_EVENT_NOT_SUBSCRIBED, not_subscribed(str(name)))
        return
    assert name is not None
    if not classify(name).allows_client_events:
        conn.fail(Err.CLIENT_EVENT_NOT_ALLOWED)
        return
    event = request.event
    if len(event) > settings.max_event_name_length:
        conn.fail(Err.EVENT_NAME_TOO_LONG)
        return
    frame: dict[str, object] = {"event": event, "channel": name, "data": request.data}
    if user_id is not None:
        frame["user_id"] = user_id
    payload = orjson.dumps(frame)
    limit = settings.max_event_payload_in_kb * 1024
    # `data` is part of the payload: only a payload over the limit needs its exact size.
    if len(payload) > limit and frames.encoded_size(request.data) > limit:
        conn.fail(Err.PAYLOAD_TOO_LARGE)
        return
    limiter = conn.client_events
    if limiter is not None and not limiter.take():
        metrics.RATE_LIMITED.labels(conn.app_id, "client_events").inc()
        conn.fail(Err.CLIENT_EVENT_RATE_LIMIT)
        return
    notifier = app.notifier
    webhook = None
    if notifier is not None and notifier.wants(events.CLIENT_EVENT):
        webhook = events.client_event(name, event, request.data, conn.socket_id, user_id)
    feed = conn.node.dashboard.feed
    feed.client_event(conn.app_id, conn.socket_id, name, event, request.data, user_id)
    channel = conn.channel_actors.get(name)
    if channel is not None and channel.tell_inline(
        Broadcast(text_frame(payload), conn.socket_id, conn, webhook, relay=payload)
    ):
        return
    # Not known yet (the app has not handled the subscribe) or stopped: the app routes it.
    app.tell(Publish(name, payload, conn.socket_id, cacheable=False, sender=conn, webhook=webhook))
