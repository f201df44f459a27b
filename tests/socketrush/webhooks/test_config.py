"""Webhook settings as the config loader sees them: defaults, flags, and malformed objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socketrush.config import ConfigError, load_settings

CREDENTIALS = ["--app-id", "1", "--app-key", "k", "--app-secret", "s", "--env-file", "/dev/null"]


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


def test_malformed_webhook_objects_stop_start_up(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    app = {"app_id": "1", "app_key": "k", "app_secret": "s"}
    app["app_webhooks"] = [{"url": "http://a", "event_types": ["channel_ocupied"]}]
    config.write_text(json.dumps({"applications": [app]}))
    with pytest.raises(ConfigError) as refused:
        load_settings(["--config-file", str(config), "--env-file", "/dev/null"], environ={})
    assert str(refused.value).startswith(
        f"applications[0] in config file '{config}': invalid app_webhooks: webhook http://a: "
        "unknown event types ['channel_ocupied']"
    )


@pytest.mark.parametrize("url", ["ftp://a/hook", "http://", "localhost:8000/hook", "http://a b"])
def test_webhook_urls_that_cannot_be_posted_to_stop_start_up(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(CREDENTIALS + ["--app-webhook-url", url], environ={})
    assert f"webhook url {url!r} is not an http:// or https:// URL with a host" in str(
        refused.value
    )
