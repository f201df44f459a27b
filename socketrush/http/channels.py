"""Reading channels: ``GET /apps/{id}/channels``, ``/channels/{channel}`` and
``/channels/{channel}/users``.

Each is one ask of the app actor (which asks the cluster state when nodes share Redis); the
query parameters are checked first by `protocol/http_api.py`.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from socketrush.app import AppActor, ListChannels, QueryChannel, QueryUsers
from socketrush.cache.access import CACHE_TTL_SECONDS, cache_key, read_entry
from socketrush.http.checks import ASK_TIMEOUT, RequestChecks
from socketrush.http.responses import json_response
from socketrush.protocol.channels import classify
from socketrush.protocol.http_api import (
    cached_event_info,
    check_users_channel,
    parse_channel_query,
    parse_channels_query,
)

log = logging.getLogger(__name__)


def _cached_event(checks: RequestChecks, app: AppActor, channel: str) -> dict | None:
    """The cache channel's last event and its remaining TTL, read in this greenlet (a Redis
    cache is a round trip for this request only; an outage reads as a miss)."""
    cache = checks.node.cache
    key = cache_key(app.settings.id, channel)
    (_, cached), ttl = read_entry(cache.get(key)), cache.ttl(key)
    if cached is None or ttl is None:
        return None
    info = cached_event_info(cached, ttl, CACHE_TTL_SECONDS)
    if info is None:
        log.warning("ignored an unreadable cached event for %s of app %s", channel, app.settings.id)
    return info


def channels_blueprint(checks: RequestChecks) -> Blueprint:
    views = Blueprint("channels", __name__)

    @views.get("/apps/<app_id>/channels")
    @checks.signed("read_requests")
    def channels(app: AppActor) -> Response:
        listing = parse_channels_query(request.args)
        answer = app.ask(ListChannels(listing.prefix, listing.with_user_count), ASK_TIMEOUT)
        return json_response(
            {
                "channels": {
                    name: ({"user_count": stats.user_count} if listing.with_user_count else {})
                    for name, stats in answer.items()
                }
            }
        )

    @views.get("/apps/<app_id>/channels/<channel>")
    @checks.signed("read_requests")
    def channel(app: AppActor, channel: str) -> Response:
        info = parse_channel_query(channel, request.args, app.settings)
        stats = app.ask(QueryChannel(channel), ASK_TIMEOUT)
        body: dict[str, object] = {"occupied": stats is not None}
        if "subscription_count" in info:
            body["subscription_count"] = stats.subscription_count if stats else 0
        if "user_count" in info:
            body["user_count"] = (stats.user_count or 0) if stats else 0
        if "cache" in info and classify(channel).is_cache:
            cached = _cached_event(checks, app, channel)
            if cached is not None:
                body["cache"] = cached
        return json_response(body)

    @views.get("/apps/<app_id>/channels/<channel>/users")
    @checks.signed("read_requests")
    def users(app: AppActor, channel: str) -> Response:
        check_users_channel(channel, app.settings)
        user_ids = app.ask(QueryUsers(channel), ASK_TIMEOUT)
        return json_response({"users": [{"id": user_id} for user_id in user_ids]})

    return views
