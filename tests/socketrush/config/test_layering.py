"""Layering: defaults, precedence between the sources, and which applications exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from socketrush.settings import AppSettings, WebhookTarget
from tests.support.config import CREDS, error_of, load, write_json


def test_defaults_when_only_credentials_are_given() -> None:
    settings = load(*CREDS)
    assert settings.port == 6001
    assert settings.bind_address == "0.0.0.0"
    assert settings.log_format == "human"
    assert settings.socket_backlog_limit_kb == 1024
    assert settings.shutdown_grace_period == 10
    assert settings.apps == (AppSettings(id="1", key="k", secret="s"),)


def test_config_file_beats_defaults(port_file: str) -> None:
    assert load(*CREDS, "--config", port_file).port == 7000


def test_env_beats_config_file(port_file: str) -> None:
    assert load(*CREDS, "--config", port_file, env={"PORT": "7100"}).port == 7100


def test_flag_beats_env_and_config_file(port_file: str) -> None:
    settings = load(*CREDS, "--config", port_file, "--port", "7200", env={"PORT": "7100"})
    assert settings.port == 7200


def test_prefer_config_file_puts_the_file_above_env(port_file: str) -> None:
    settings = load(*CREDS, "--config", port_file, "--prefer-config-file", env={"PORT": "7100"})
    assert settings.port == 7000


def test_prefer_config_file_keeps_flags_highest(port_file: str) -> None:
    argv = (*CREDS, "--config", port_file, "--prefer-config-file", "--port", "7200")
    assert load(*argv, env={"PORT": "7100"}).port == 7200


def test_prefer_config_file_false_keeps_env_above_file(port_file: str) -> None:
    argv = (*CREDS, "--config", port_file, "--prefer-config-file=false")
    assert load(*argv, env={"PORT": "7100"}).port == 7100


def test_prefer_config_file_applies_to_app_values(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "c.json",
        {"applications": [{"app_id": "1", "app_key": "k", "app_secret": "s",
                           "app_max_connections": 3}]},
    )  # fmt: skip
    env = {"APP_MAX_CONNECTIONS": "9"}
    assert load("--config", path, env=env).apps[0].max_connections == 9
    assert load("--config", path, "--prefer-config-file", env=env).apps[0].max_connections == 3


def test_env_file_beats_config_file(tmp_path: Path, port_file: str) -> None:
    (tmp_path / ".env").write_text("PORT=7300\n")
    assert load(*CREDS, "--config", port_file).port == 7300


@pytest.fixture
def two_apps(tmp_path: Path) -> str:
    return write_json(
        tmp_path / "c.json",
        {
            "applications": [
                {"app_id": "123", "app_key": "app1key", "app_secret": "app1secret",
                 "app_max_connections": 5, "app_enable_client_messages": True,
                 "app_webhooks": [{"url": "http://h/1", "event_types": ["channel_occupied"],
                                   "filter": {"channel_name_starts_with": "private-"}}]},
                {"app_id": 456, "app_key": "app2key", "app_secret": "app2secret",
                 "app_max_connections": 9, "app_allowed_origins": ["https://a.example"]},
            ]
        },
    )  # fmt: skip


def test_json_apps_each_keep_their_own_limits(two_apps: str) -> None:
    first, second = load("--config", two_apps).apps
    assert (first.id, first.key, first.secret) == ("123", "app1key", "app1secret")
    assert (first.max_connections, first.enable_client_messages) == (5, True)
    assert first.webhooks == (
        WebhookTarget("http://h/1", frozenset({"channel_occupied"}), "private-"),
    )
    assert (second.id, second.max_connections, second.enable_client_messages) == ("456", 9, False)
    assert second.allowed_origins == ("https://a.example",)


def test_app_flag_without_app_id_applies_to_every_json_app(two_apps: str) -> None:
    apps = load("--config", two_apps, "--app-max-connections", "2", "--app-activity-timeout=30")
    assert [(a.max_connections, a.activity_timeout) for a in apps.apps] == [(2, 30), (2, 30)]


def test_default_app_with_new_id_is_added_to_json_apps(two_apps: str) -> None:
    settings = load("--config", two_apps, *CREDS, "--app-max-connections", "1")
    assert [(a.id, a.max_connections) for a in settings.apps] == [("1", 1), ("123", 5), ("456", 9)]


def test_default_app_with_a_json_id_overrides_that_app_only(two_apps: str) -> None:
    argv = ("--config", two_apps, "--app-id", "456", "--app-max-connections", "1")
    settings = load(*argv, env={"APP_SECRET": "rotated"})
    assert [(a.id, a.secret, a.max_connections) for a in settings.apps] == [
        ("123", "app1secret", 5),
        ("456", "rotated", 1),
    ]


def test_no_app_at_all() -> None:
    assert error_of() == (
        "no application configured: give app id, key and secret with the flags "
        "--app-id/--app-key/--app-secret, the environment variables APP_ID/APP_KEY/APP_SECRET "
        '(or the .env file), or an "applications" list in a --config-file JSON'
    )


def test_default_app_missing_secret() -> None:
    assert error_of("--app-id", "1", env={"APP_KEY": "k"}) == (
        "the default app (flags/environment) has no app_secret: give it with the flag "
        "--app-secret, the environment variable APP_SECRET (or the .env file), or "
        "applications[].app_secret in a --config-file JSON"
    )


def test_json_app_missing_key_and_secret(tmp_path: Path) -> None:
    path = write_json(tmp_path / "c.json", {"applications": [{"app_id": "1"}]})
    assert error_of("--config", path) == (
        f"applications[0] in config file '{path}' has no app_key and app_secret: give them "
        "with the flags --app-key/--app-secret, the environment variables APP_KEY/APP_SECRET "
        "(or the .env file), or applications[].app_key/applications[].app_secret in a "
        "--config-file JSON"
    )


def test_new_app_settings_from_flags() -> None:
    argv = ("--app-enabled", "false", "--app-subscription-count-enabled", "--app-allowed-origins",
            "https://a.io")  # fmt: skip
    app = load(*CREDS, *argv).apps[0]
    assert (app.enabled, app.subscription_count_enabled) == (False, True)
    assert app.allowed_origins == ("https://a.io",)
