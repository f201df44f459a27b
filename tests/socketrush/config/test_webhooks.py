"""Webhook settings: objects parsed once into WebhookTargets, URLs checked, delivery defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socketrush.config import ConfigError, load_settings
from socketrush.config.errors import Unacceptable
from socketrush.config.webhooks import parse_webhooks, webhook_json
from socketrush.settings import WebhookTarget

CREDENTIALS = ["--app-id", "1", "--app-key", "k", "--app-secret", "s", "--env-file", "/dev/null"]
KNOWN_TYPES = (
    "channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, "
    "subscription_count"
)


def test_objects_become_targets_in_order() -> None:
    raw = [
        {
            "url": "http://c",
            "event_types": ["member_added"],
            "filter": {"channel_name_starts_with": "presence-", "channel_name_ends_with": "-x"},
        },
        {"url": "https://d:8443/hook", "event_types": []},
    ]
    assert parse_webhooks(raw) == (
        WebhookTarget("http://c", frozenset({"member_added"}), "presence-", "-x"),
        WebhookTarget("https://d:8443/hook"),
    )


TOPIC = "arn:aws:sns:eu-west-1:123456789012:pusher-hooks"


def test_an_sns_topic_is_a_destination_like_a_url() -> None:
    raw = [
        {"sns_topic_arn": TOPIC, "event_types": ["member_added"]},
        {"url": "http://b", "filter": {"channel_name_starts_with": "presence-"}},
        {"sns_topic_arn": TOPIC + ".fifo"},
    ]
    assert parse_webhooks(raw) == (
        WebhookTarget(sns_topic_arn=TOPIC, event_types=frozenset({"member_added"})),
        WebhookTarget("http://b", channel_name_starts_with="presence-"),
        WebhookTarget(sns_topic_arn=TOPIC + ".fifo"),
    )
    assert [webhook_json(target) for target in parse_webhooks(raw)] == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"url": "http://a", "sns_topic_arn": TOPIC},
            f"webhook {{'url': 'http://a', 'sns_topic_arn': '{TOPIC}'}} needs a url or an "
            "sns_topic_arn (one of them)",
        ),
        (
            {"sns_topic_arn": "pusher-hooks"},
            "webhook sns_topic_arn 'pusher-hooks' is not an SNS topic ARN "
            "(arn:aws:sns:REGION:ACCOUNT:TOPIC)",
        ),
        (
            {"sns_topic_arn": "arn:aws:sqs:eu-west-1:123456789012:a-queue"},
            "webhook sns_topic_arn 'arn:aws:sqs:eu-west-1:123456789012:a-queue' is not an SNS "
            "topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)",
        ),
        (
            {"url": TOPIC},
            f"webhook url '{TOPIC}' is not an http:// or https:// URL with a host",
        ),
    ],
)
def test_bad_sns_destinations_are_refused(raw: dict, message: str) -> None:
    with pytest.raises(Unacceptable) as refused:
        parse_webhooks([raw])
    assert str(refused.value) == message


def test_targets_written_back_parse_to_the_same_targets() -> None:
    targets = (
        WebhookTarget("http://c", frozenset({"member_removed", "member_added"}), "", "-x"),
        WebhookTarget("http://d"),
    )
    written = [webhook_json(target) for target in targets]
    assert written == [
        {
            "url": "http://c",
            "event_types": ["member_added", "member_removed"],
            "filter": {"channel_name_ends_with": "-x"},
        },
        {"url": "http://d"},
    ]
    assert parse_webhooks(json.loads(json.dumps(written))) == targets


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"event_types": []},
            "webhook {'event_types': []} needs a url or an sns_topic_arn (one of them)",
        ),
        ({"url": "http://a", "event_types": "member_added"}, "must be a list of names"),
        (
            {"url": "http://a", "event_types": ["nope"]},
            f"webhook http://a: unknown event types ['nope']; known: {KNOWN_TYPES}",
        ),
        (
            {"url": "http://a", "filter": {"channel": "x"}},
            "webhook http://a: filter may only hold channel_name_starts_with, "
            "channel_name_ends_with, each a string",
        ),
        ({"url": "http://a", "filter": {"channel_name_ends_with": 1}}, "each a string"),
        (
            {"url": "http://a", "headers": {"X": "1"}},
            "webhook http://a: unknown key 'headers'; known: url, sns_topic_arn, event_types, "
            "filter",
        ),
        (
            {"url": "ftp://a"},
            "webhook url 'ftp://a' is not an http:// or https:// URL with a host",
        ),
    ],
)
def test_bad_webhook_objects_are_refused_with_the_reason(raw: dict, message: str) -> None:
    with pytest.raises(Unacceptable) as refused:
        parse_webhooks([raw])
    assert message in str(refused.value)


def test_delivery_defaults_follow_pusher() -> None:
    settings = load_settings(CREDENTIALS, environ={})
    assert settings.webhook_member_removed_delay_ms == 3000
    assert settings.webhook_batch_window_ms == 250
    assert settings.webhook_batch_max_events == 20
    assert settings.webhook_timeout_ms == 4000
    assert settings.webhook_max_attempts == 10
    assert settings.webhook_retry_base_ms == 1000
    assert settings.webhook_retry_max_ms == 60000
    assert settings.queue_workers == 8
    assert settings.queue_redis_lease_ms == 15000


def test_repeated_url_flag_and_comma_separated_env() -> None:
    flags = CREDENTIALS + ["--app-webhook-url", "http://a", "--app-webhook-url", "http://b"]
    assert load_settings(flags, environ={}).apps[0].webhook_urls == ("http://a", "http://b")
    env = {"APP_WEBHOOK_URL": "http://a, http://b"}
    assert load_settings(CREDENTIALS, environ=env).apps[0].webhook_urls == ("http://a", "http://b")


def test_the_loaded_app_has_typed_targets_urls_first(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", "app_webhook_urls": ["http://a"]}
    app["app_webhooks"] = [{"url": "http://b", "event_types": ["cache_miss"]}]
    config.write_text(json.dumps({"applications": [app]}))
    loaded = load_settings(["--config-file", str(config), "--env-file", "/dev/null"], environ={})
    assert loaded.apps[0].webhook_targets == (
        WebhookTarget("http://a"),
        WebhookTarget("http://b", frozenset({"cache_miss"})),
    )


def test_malformed_webhook_objects_stop_start_up(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    app = {"app_id": "1", "app_key": "k", "app_secret": "s"}
    app["app_webhooks"] = [{"url": "http://a", "event_types": ["channel_ocupied"]}]
    config.write_text(json.dumps({"applications": [app]}))
    with pytest.raises(ConfigError) as refused:
        load_settings(["--config-file", str(config), "--env-file", "/dev/null"], environ={})
    assert str(refused.value) == (
        f"invalid app_webhooks from config file '{config}' key applications[0].app_webhooks: "
        f"webhook http://a: unknown event types ['channel_ocupied']; known: {KNOWN_TYPES}"
    )


def test_webhooks_that_are_not_a_list_of_objects(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", "app_webhooks": ["http://a"]}
    config.write_text(json.dumps({"applications": [app]}))
    with pytest.raises(ConfigError) as refused:
        load_settings(["--config-file", str(config), "--env-file", "/dev/null"], environ={})
    assert str(refused.value) == (
        f"invalid value ['http://a'] for app_webhooks from config file '{config}' key "
        "applications[0].app_webhooks: expected a list of JSON objects"
    )


@pytest.mark.parametrize("url", ["ftp://a/hook", "http://", "localhost:8000/hook", "http://a b"])
def test_webhook_urls_that_cannot_be_posted_to_stop_start_up(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(CREDENTIALS + ["--app-webhook-url", url], environ={})
    assert str(refused.value) == (
        "invalid app_webhook_urls from flag --app-webhook-url: "
        f"webhook url {url!r} is not an http:// or https:// URL with a host"
    )
