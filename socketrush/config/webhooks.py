"""Webhook settings from their JSON form to `WebhookTarget`s and back, checked once at load.

The server then only ever sees typed targets: a malformed object, a URL no request could be
POSTed to or a topic that is no SNS topic ARN stops start-up (or refuses a stored app) instead
of silently losing webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from socketrush.config.errors import Unacceptable
from socketrush.settings import WEBHOOK_DESTINATIONS, WebhookTarget
from socketrush.webhooks.events import SWITCHES

FILTER_KEYS = ("channel_name_starts_with", "channel_name_ends_with")
OBJECT_KEYS = (*WEBHOOK_DESTINATIONS, "event_types", "filter")
WEBHOOK_SCHEMES = ("http", "https")
_SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


def check_url(url: str) -> str:
    """`url` if a webhook could be POSTed to it, else Unacceptable."""
    if not _postable(url):
        raise Unacceptable(f"webhook url {url!r} is not an http:// or https:// URL with a host")
    return url


def _postable(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return (
        parts.scheme in WEBHOOK_SCHEMES
        and bool(parts.hostname)
        and not any(char.isspace() for char in url)
    )


def check_topic(arn: str) -> str:
    """`arn` if it names an SNS topic, else Unacceptable."""
    if not _SNS_TOPIC_ARN.fullmatch(arn):
        raise Unacceptable(
            f"webhook sns_topic_arn {arn!r} is not an SNS topic ARN "
            "(arn:aws:sns:REGION:ACCOUNT:TOPIC)"
        )
    return arn


_CHECKS = {"url": check_url, "sns_topic_arn": check_topic}


def parse_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    for url in urls:
        check_url(url)
    return urls


def parse_webhooks(value: object) -> tuple[WebhookTarget, ...]:
    """A JSON list of `{"url" or "sns_topic_arn", "event_types", "filter"}` objects as
    targets, in order."""
    if not isinstance(value, list | tuple) or not all(isinstance(item, dict) for item in value):
        raise ValueError("a list of JSON objects")
    return tuple(_target(raw) for raw in value)


def _target(raw: Mapping[str, object]) -> WebhookTarget:
    given = [key for key in WEBHOOK_DESTINATIONS if raw.get(key) is not None]
    destination = raw[given[0]] if len(given) == 1 else None
    if not isinstance(destination, str) or not destination:
        raise Unacceptable(f"webhook {raw!r} needs a url or an sns_topic_arn (one of them)")
    _CHECKS[given[0]](destination)
    unknown = sorted(set(raw) - set(OBJECT_KEYS))
    if unknown:
        raise Unacceptable(
            f"webhook {destination}: unknown key {unknown[0]!r}; known: {', '.join(OBJECT_KEYS)}"
        )
    types = raw.get("event_types") or []
    if not isinstance(types, list) or not all(isinstance(name, str) for name in types):
        raise Unacceptable(f"webhook {destination}: event_types must be a list of names")
    unknown = sorted(set(types) - SWITCHES.keys())
    if unknown:
        raise Unacceptable(
            f"webhook {destination}: unknown event types {unknown}; known: {', '.join(SWITCHES)}"
        )
    channel_filter = raw.get("filter") or {}
    if (
        not isinstance(channel_filter, dict)
        or set(channel_filter) - set(FILTER_KEYS)
        or not all(isinstance(text, str) for text in channel_filter.values())
    ):
        raise Unacceptable(
            f"webhook {destination}: filter may only hold {', '.join(FILTER_KEYS)}, each a string"
        )
    return WebhookTarget(
        event_types=frozenset(types) if types else None,
        channel_name_starts_with=channel_filter.get(FILTER_KEYS[0], ""),
        channel_name_ends_with=channel_filter.get(FILTER_KEYS[1], ""),
        **{given[0]: destination},
    )


def webhook_json(target: WebhookTarget) -> dict[str, object]:
    """The JSON object `parse_webhooks` reads back as `target`."""
    written: dict[str, object] = {
        key: getattr(target, key) for key in WEBHOOK_DESTINATIONS if getattr(target, key)
    }
    if target.event_types is not None:
        written["event_types"] = sorted(target.event_types)
    channel_filter = {
        key: value
        for key, value in zip(
            FILTER_KEYS,
            (target.channel_name_starts_with, target.channel_name_ends_with),
            strict=True,
        )
        if value
    }
    if channel_filter:
        written["filter"] = channel_filter
    return written
