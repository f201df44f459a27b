"""Pure webhook logic: event shapes, which destinations (URLs, SNS topics) want which event,
request body and signature.

Nothing here does I/O or keeps state, so the notifier and the sender stay thin and every rule
the Pusher docs define (event fields, `time_ms`, HMAC-SHA256 of the body) is tested directly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

import orjson

from socketrush.settings import AppSettings, WebhookTarget

Event = dict[str, object]

CHANNEL_OCCUPIED = "channel_occupied"
CHANNEL_VACATED = "channel_vacated"
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
CLIENT_EVENT = "client_event"
CACHE_MISS = "cache_miss"
SUBSCRIPTION_COUNT = "subscription_count"
MEMBER_EVENTS = frozenset({MEMBER_ADDED, MEMBER_REMOVED})

# Event type -> the AppSettings switch that turns it on.
SWITCHES: Mapping[str, str] = {
    CHANNEL_OCCUPIED: "has_channel_occupied_webhooks",
    CHANNEL_VACATED: "has_channel_vacated_webhooks",
    MEMBER_ADDED: "has_member_added_webhooks",
    MEMBER_REMOVED: "has_member_removed_webhooks",
    CLIENT_EVENT: "has_client_event_webhooks",
    CACHE_MISS: "has_cache_miss_webhooks",
    # No switch of its own: sent whenever the app announces counts to clients.
    SUBSCRIPTION_COUNT: "subscription_count_enabled",
}


# -- event builders (field names as in the Pusher webhook docs) --


def channel_occupied(channel: str) -> Event:
    return {"name": CHANNEL_OCCUPIED, "channel": channel}


def channel_vacated(channel: str) -> Event:
    return {"name": CHANNEL_VACATED, "channel": channel}


def member_added(channel: str, user_id: str) -> Event:
    return {"name": MEMBER_ADDED, "channel": channel, "user_id": user_id}


def member_removed(channel: str, user_id: str) -> Event:
    return {"name": MEMBER_REMOVED, "channel": channel, "user_id": user_id}


def client_event(
    channel: str, event: str, data: object, socket_id: str, user_id: str | None = None
) -> Event:
    """`data` is a string in the webhook, as clients receive it; objects are JSON-encoded."""
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    built: Event = {
        "name": CLIENT_EVENT,
        "channel": channel,
        "event": event,
        "data": text,
        "socket_id": socket_id,
    }
    if user_id is not None:
        built["user_id"] = user_id
    return built


def cache_miss(channel: str) -> Event:
    return {"name": CACHE_MISS, "channel": channel}


def subscription_count(channel: str, count: int) -> Event:
    return {"name": SUBSCRIPTION_COUNT, "channel": channel, "subscription_count": count}


def member_key(app_id: str, channel: str, user_id: str) -> str:
    """What a held member_removed and the member_added that calls it off have in common:
    JSON, so no part can run into the next."""
    return orjson.dumps([app_id, channel, user_id]).decode()


# -- who gets what --


def enabled_types(settings: AppSettings) -> frozenset[str]:
    """Event types the app's switches allow; none at all while webhooks are disabled."""
    if not settings.webhooks_enabled:
        return frozenset()
    return frozenset(name for name, switch in SWITCHES.items() if getattr(settings, switch))


def is_sns_topic(destination: str) -> bool:
    """Destinations are URLs or SNS topic ARNs, which no http(s) URL can be mistaken for."""
    return destination.startswith("arn:")


def routes(event: Event, candidates: Iterable[WebhookTarget]) -> list[str]:
    """Destinations (URLs, SNS topic ARNs) that want `event`, each once, in configuration
    order."""
    name, channel = str(event["name"]), str(event.get("channel", ""))
    found: list[str] = []
    for target in candidates:
        if target.accepts(name, channel) and target.destination not in found:
            found.append(target.destination)
    return found


# -- request --


def body(events: Sequence[Event], time_ms: int) -> bytes:
    return orjson.dumps({"time_ms": time_ms, "events": list(events)})


def signature(secret: str, payload: bytes) -> str:
    """X-Pusher-Signature: hex HMAC-SHA256 of the exact body bytes with the app secret."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def headers(key: str, secret: str, payload: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Pusher-Key": key,
        "X-Pusher-Signature": signature(secret, payload),
    }
