"""Event shapes, switches, URL filters, body and signature (checked with the official SDK)."""

from __future__ import annotations

import dataclasses
import time

import orjson
import pusher

from socketrush.settings import AppSettings, WebhookTarget
from socketrush.webhooks import events

APP = AppSettings(id="424242", key="key", secret="secret", webhooks_enabled=True)


def test_builders_follow_the_pusher_field_names() -> None:
    assert events.channel_occupied("c") == {"name": "channel_occupied", "channel": "c"}
    assert events.channel_vacated("c") == {"name": "channel_vacated", "channel": "c"}
    assert events.member_added("presence-c", "u1") == {
        "name": "member_added",
        "channel": "presence-c",
        "user_id": "u1",
    }
    assert events.member_removed("presence-c", "u1") == {
        "name": "member_removed",
        "channel": "presence-c",
        "user_id": "u1",
    }
    assert events.cache_miss("cache-c") == {"name": "cache_miss", "channel": "cache-c"}
    assert events.subscription_count("c", 3) == {
        "name": "subscription_count",
        "channel": "c",
        "subscription_count": 3,
    }


def test_client_event_encodes_object_data_and_adds_user_id_only_when_given() -> None:
    assert events.client_event("private-c", "client-x", {"a": 1}, "1.2") == {
        "name": "client_event",
        "channel": "private-c",
        "event": "client-x",
        "data": '{"a":1}',
        "socket_id": "1.2",
    }
    assert events.client_event("presence-c", "client-x", "raw", "1.2", "u1") == {
        "name": "client_event",
        "channel": "presence-c",
        "event": "client-x",
        "data": "raw",
        "socket_id": "1.2",
        "user_id": "u1",
    }


def test_enabled_types_follow_each_switch_and_the_master_switch() -> None:
    assert events.enabled_types(APP) == frozenset()
    for event_type, switch in events.SWITCHES.items():
        app = dataclasses.replace(APP, **{switch: True})
        assert events.enabled_types(app) == {event_type}
        off = dataclasses.replace(app, webhooks_enabled=False)
        assert events.enabled_types(off) == frozenset()


TOPIC = "arn:aws:sns:eu-west-1:123456789012:pusher-hooks"


def test_an_sns_topic_is_a_destination_beside_urls() -> None:
    app = dataclasses.replace(
        APP,
        webhook_urls=("http://a",),
        webhooks=(
            WebhookTarget(sns_topic_arn=TOPIC, event_types=frozenset({"member_added"})),
            WebhookTarget("http://b", channel_name_starts_with="presence-"),
            WebhookTarget(sns_topic_arn=TOPIC + ".fifo"),
        ),
    )
    destinations = [target.destination for target in app.webhook_targets]
    assert destinations == ["http://a", TOPIC, "http://b", TOPIC + ".fifo"]
    assert [events.is_sns_topic(d) for d in destinations] == [False, True, False, True]
    assert events.routes(events.member_added("presence-x", "u"), app.webhook_targets) == [
        "http://a",
        TOPIC,
        "http://b",
        TOPIC + ".fifo",
    ]
    assert events.routes(events.channel_occupied("other"), app.webhook_targets) == [
        "http://a",
        TOPIC + ".fifo",
    ]


def test_routes_apply_types_and_prefix_suffix_filters_once_per_url() -> None:
    candidates = [
        WebhookTarget("http://all"),
        WebhookTarget("http://members", frozenset({"member_added"})),
        WebhookTarget("http://presence", channel_name_starts_with="presence-"),
        WebhookTarget("http://suffix", channel_name_ends_with="-room"),
        WebhookTarget("http://all"),
    ]
    assert events.routes(events.member_added("presence-a-room", "u"), candidates) == [
        "http://all",
        "http://members",
        "http://presence",
        "http://suffix",
    ]
    assert events.routes(events.channel_occupied("public-room"), candidates) == [
        "http://all",
        "http://suffix",
    ]
    assert events.routes(events.channel_occupied("other"), candidates) == ["http://all"]


def test_body_and_headers_validate_with_the_official_sdk() -> None:
    now_ms = int(time.time() * 1000)
    body = events.body([events.channel_occupied("c"), events.cache_miss("cache-d")], now_ms)
    assert orjson.loads(body) == {
        "time_ms": now_ms,
        "events": [
            {"name": "channel_occupied", "channel": "c"},
            {"name": "cache_miss", "channel": "cache-d"},
        ],
    }
    headers = events.headers("key", "secret", body)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Pusher-Key"] == "key"
    sdk = pusher.Pusher(app_id="424242", key="key", secret="secret")
    assert sdk.validate_webhook(headers["X-Pusher-Key"], headers["X-Pusher-Signature"], body) == (
        orjson.loads(body)
    )
    wrong = pusher.Pusher(app_id="424242", key="key", secret="other")
    assert wrong.validate_webhook("key", headers["X-Pusher-Signature"], body) is None


def test_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    # Reference from `printf '{}' | openssl dgst -sha256 -hmac secret`.
    expected = "77325902caca812dc259733aacd046b73817372c777b8d95b402647474516e13"
    assert events.signature("secret", b"{}") == expected
