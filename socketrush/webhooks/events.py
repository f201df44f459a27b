"""Pure webhook logic: event shapes, which destinations (URLs, SNS topics) want which event,
request body and signature.

Nothing here does I/O or keeps state, so the notifier and the sender stay thin and every rule
the Pusher docs define (event fields, `time_ms`, HMAC-SHA256 of the body) is tested directly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from socketrush.config import AppSettings

Event = dict[str, object]

CHANNEL_OCCUPIED = "channel_occupied"
CHANNEL_VACATED = "channel_vacated"
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
CLIENT_EVENT = "client_event"
CACHE_MISS = "cache_miss"
SUBSCRIPTION_COUNT = "subscription_count"

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


FILTER_KEYS = ("channel_name_starts_with", "channel_name_ends_with")
WEBHOOK_SCHEMES = ("http", "https")
# A webhook object names exactly one destination: a URL to POST to or an SNS topic to publish to.
DESTINATION_KEYS = ("url", "sns_topic_arn")
_SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


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


# -- who gets what --


def enabled_types(settings: AppSettings) -> frozenset[str]:
    """Event types the app's switches allow; none at all while webhooks are disabled."""
    if not settings.webhooks_enabled:
        return frozenset()
    return frozenset(name for name, switch in SWITCHES.items() if getattr(settings, switch))


def is_sns_topic(destination: str) -> bool:
    """Destinations are URLs or SNS topic ARNs, which no http(s) URL can be mistaken for."""
    return destination.startswith("arn:")


@dataclass(frozen=True, slots=True)
class Target:
    """One webhook destination (an http(s) URL or an SNS topic ARN) and what it subscribed to
    (None: every type the switches allow)."""

    destination: str
    event_types: frozenset[str] | None = None
    starts_with: str = ""
    ends_with: str = ""

    def accepts(self, event: Event) -> bool:
        channel = str(event.get("channel", ""))
        return (
            (self.event_types is None or event["name"] in self.event_types)
            and channel.startswith(self.starts_with)
            and channel.endswith(self.ends_with)
        )


def targets(settings: AppSettings) -> tuple[Target, ...]:
    """The app's webhook destinations: plain `webhook_urls` first, then the JSON `webhooks`
    objects, each with a `url` or an `sns_topic_arn`.

    Raises ValueError for a malformed object, a URL no webhook could be POSTed to or a topic
    that is no SNS topic ARN: the config loader turns that into a start-up error and a stored
    app manager refuses that app, so a typo never silently turns a webhook off.
    """
    for url in settings.webhook_urls:
        _check_url(url)
    found = [Target(url) for url in settings.webhook_urls]
    for raw in settings.webhooks:
        given = [key for key in DESTINATION_KEYS if raw.get(key) is not None]
        url = raw[given[0]] if len(given) == 1 else None
        types = raw.get("event_types") or []
        flt = raw.get("filter") or {}
        if not isinstance(url, str) or not url:
            raise ValueError(f"webhook {raw!r} needs a url or an sns_topic_arn (one of them)")
        (_check_topic if given == ["sns_topic_arn"] else _check_url)(url)
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ValueError(f"webhook {url}: event_types must be a list of names")
        unknown = set(types) - SWITCHES.keys()
        if unknown:
            raise ValueError(
                f"webhook {url}: unknown event types {sorted(unknown)}; known: "
                + ", ".join(SWITCHES)
            )
        if not isinstance(flt, dict) or set(flt) - set(FILTER_KEYS):
            raise ValueError(f"webhook {url}: filter may only hold {', '.join(FILTER_KEYS)}")
        found.append(
            Target(
                url,
                frozenset(types) if types else None,
                str(flt.get(FILTER_KEYS[0]) or ""),
                str(flt.get(FILTER_KEYS[1]) or ""),
            )
        )
    return tuple(found)


def _check_topic(arn: str) -> None:
    if not _SNS_TOPIC_ARN.fullmatch(arn):
        raise ValueError(
            f"webhook sns_topic_arn {arn!r} is not an SNS topic ARN "
            "(arn:aws:sns:REGION:ACCOUNT:TOPIC)"
        )


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in WEBHOOK_SCHEMES
        or not parts.hostname
        or any(char.isspace() for char in url)
    ):
        raise ValueError(f"webhook url {url!r} is not an http:// or https:// URL with a host")


def routes(event: Event, candidates: Iterable[Target]) -> list[str]:
    """Destinations (URLs, SNS topic ARNs) that want `event`, each once, in configuration
    order."""
    found: list[str] = []
    for target in candidates:
        if target.accepts(event) and target.destination not in found:
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
