"""Publishing: ``POST /apps/{id}/events`` and ``/batch_events``.

The hot path of the HTTP API (benchmarked): one signature check, one body parse, one frame
encoded per channel and told to the app actor, which fans it out.

With other nodes (a bus adapter, `Adapter.ordered`), the request publishes its events on the
bus itself and is answered once the bus took them; the bus brings them back to this node's
subscribers like to any node's. So an acknowledged event reaches every subscriber, on every
node, before any event on its channel triggered after the acknowledgment, through any node
(docs/deployment.md). The request's greenlet waits for the bus, never an actor. A bus that
is away does not take them: they are delivered here at once and queued for the others, as
without that guarantee, and counted (`socketrush_adapter_unordered_total`).
"""

from __future__ import annotations

from flask import Blueprint, Response

from socketrush import metrics
from socketrush.adapters.messages import RemoteBroadcast
from socketrush.app import AppActor, Publish, QueryChannel
from socketrush.cache.access import CACHE_TTL_SECONDS, cache_entry, cache_key, new_event_id
from socketrush.http.checks import ASK_TIMEOUT, RequestChecks, take
from socketrush.http.responses import json_response
from socketrush.node import Node
from socketrush.protocol import frames
from socketrush.protocol.channels import classify
from socketrush.protocol.errors import Err
from socketrush.protocol.http_api import ApiError, TriggerEvent, parse_batch, parse_trigger


def publish(node: Node, app: AppActor, events: list[TriggerEvent]) -> None:
    """Tell the app every event, one Publish per channel, once the rate limit took them all.

    All or none: a full app mailbox refuses the whole request (`MailboxFull`, answered 429 by
    http/errors.py), so a refused request reached no one and may be sent again as it is. A
    stopping app would drop them: 503."""
    take(node, app, "backend_events", sum(len(event.channels) for event in events))
    if not app.is_alive:
        raise ApiError(Err.API_UNAVAILABLE)
    publishes = [
        Publish(
            channel,
            frames.event_frame(event.name, channel, event.data),
            event.socket_id,
            event_id=new_event_id() if classify(channel).is_cache else None,
        )
        for event in events
        for channel in event.channels
    ]
    if node.adapter.ordered:
        _publish_everywhere(node, app, publishes)
    else:
        app.tell_all(publishes)
    for event in events:  # only once published: a refused request never reached anyone
        node.dashboard.feed.api_event(app.settings.id, event)


def _publish_everywhere(node: Node, app: AppActor, publishes: list[Publish]) -> None:
    """Through the bus, this node included; an overloaded app still refuses them (429)."""
    app.check_room()
    app_id = app.settings.id
    broadcasts = [
        RemoteBroadcast(app_id, p.channel, p.payload, p.except_socket_id, True, p.event_id)
        for p in publishes
    ]
    if not node.adapter.publish_everywhere(broadcasts):
        metrics.ADAPTER_UNORDERED.labels(app_id).inc(len(publishes))
        app.tell_all(publishes)
        return
    for publish in publishes:  # the bus brings them back like another node's, which are not cached
        if publish.event_id is not None:  # a cache channel's
            key = cache_key(app_id, publish.channel)
            entry = cache_entry(publish.event_id, publish.payload)
            node.cache_access.store(key, entry, CACHE_TTL_SECONDS)


def _channel_info(app: AppActor, channel: str, info: frozenset[str]) -> dict[str, int]:
    stats = app.ask(QueryChannel(channel), ASK_TIMEOUT)
    result: dict[str, int] = {}
    if "subscription_count" in info:
        result["subscription_count"] = stats.subscription_count if stats else 0
    if "user_count" in info and classify(channel).is_presence:
        result["user_count"] = (stats.user_count or 0) if stats else 0
    return result


def events_blueprint(checks: RequestChecks) -> Blueprint:
    views = Blueprint("events", __name__)

    @views.post("/apps/<app_id>/events")
    @checks.signed("backend_events")
    def trigger(app: AppActor) -> Response:
        event = parse_trigger(checks.json_body(), app.settings)
        publish(checks.node, app, [event])
        if not event.info:
            return json_response({})
        channels = {channel: _channel_info(app, channel, event.info) for channel in event.channels}
        return json_response({"channels": channels})

    @views.post("/apps/<app_id>/batch_events")
    @checks.signed("backend_events")
    def trigger_batch(app: AppActor) -> Response:
        events = parse_batch(checks.json_body(), app.settings)
        publish(checks.node, app, events)
        if not any(event.info for event in events):
            return json_response({})
        return json_response(
            {"batch": [_channel_info(app, event.channels[0], event.info) for event in events]}
        )

    return views
