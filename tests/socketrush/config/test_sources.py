"""The environment, the .env file and the JSON config file as sources of settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.config import CREDS, error_of, load, write_json


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=7300\nAPP_ID=1\nAPP_KEY=k\nAPP_SECRET='s#x'\n")
    settings = load()
    assert settings.port == 7300
    assert settings.apps[0].secret == "s#x"


def test_real_env_beats_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=7300\n")
    assert load(*CREDS, env={"PORT": "7400"}).port == 7400


def test_explicit_env_file_path(tmp_path: Path) -> None:
    (tmp_path / "prod.env").write_text("LOG_LEVEL=error\n")
    assert load(*CREDS, "--env-file", str(tmp_path / "prod.env")).log_level == "error"


def test_env_file_named_in_config_file(tmp_path: Path) -> None:
    (tmp_path / "other.env").write_text("LOG_LEVEL=debug\n")
    path = write_json(tmp_path / "c.json", {"server": {"env_file": str(tmp_path / "other.env")}})
    assert load(*CREDS, "--config", path).log_level == "debug"


def test_missing_default_env_file_is_fine() -> None:
    assert load(*CREDS).port == 6001


def test_missing_explicit_env_file_is_an_error() -> None:
    assert error_of(*CREDS, "--env-file", "nope.env") == (
        "env file 'nope.env' from flag --env-file does not exist"
    )


def test_empty_env_var_counts_as_unset() -> None:
    assert load(*CREDS, env={"PORT": ""}).port == 6001


@pytest.mark.parametrize(
    ("variable", "attribute", "expected"),
    [
        ("APP_MAX_PRESENCE_USERS", "max_presence_members_per_channel", 7),
        ("APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL", "max_presence_members_per_channel", 7),
        ("APP_REQUIRE_AUTHORIZATION", "require_channel_authorization", True),
        ("APP_REQUIRE_CHANNEL_AUTHORIZATION", "require_channel_authorization", True),
        ("APP_WEBHOOK_ENABLED", "webhooks_enabled", True),
        ("APP_WEBHOOKS_ENABLED", "webhooks_enabled", True),
    ],
)
def test_env_aliases(variable, attribute, expected) -> None:
    value = "7" if isinstance(expected, int) and not isinstance(expected, bool) else "true"
    assert getattr(load(*CREDS, env={variable: value}).apps[0], attribute) == expected


@pytest.mark.parametrize(
    ("server_key", "app_key"),
    [
        ("redis_cluster_mode", "app_webhook_enabled"),
        ("redis_cluster", "app_webhooks_enabled"),
    ],
)
def test_json_aliases(tmp_path: Path, server_key: str, app_key: str) -> None:
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", app_key: True}
    path = write_json(tmp_path / "c.json", {"server": {server_key: True}, "applications": [app]})
    settings = load("--config", path)
    assert settings.redis_cluster is True
    assert settings.apps[0].webhooks_enabled is True


def test_json_max_presence_users_alias(tmp_path: Path) -> None:
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", "app_max_presence_users": 3}
    path = write_json(tmp_path / "c.json", {"applications": [app]})
    assert load("--config", path).apps[0].max_presence_members_per_channel == 3


def test_conflicting_env_aliases_are_an_error() -> None:
    env = {"APP_MAX_PRESENCE_USERS": "5", "APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL": "7"}
    assert error_of(*CREDS, env=env) == (
        "conflicting values for app_max_presence_members_per_channel: '7' from env "
        "APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL and '5' from env APP_MAX_PRESENCE_USERS; keep one"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True),
        ("false", False), ("False", False), ("0", False), ("no", False), ("OFF", False),
    ],
)  # fmt: skip
def test_env_boolean_forms(text: str, expected: bool) -> None:
    assert load(*CREDS, env={"REDIS_TLS": text}).redis_tls is expected


def test_bad_env_boolean() -> None:
    assert error_of(*CREDS, env={"REDIS_TLS": "maybe"}) == (
        "invalid value 'maybe' for redis_tls from env REDIS_TLS: "
        "expected true or false (or 1/0, yes/no, on/off)"
    )


def test_list_env_vars_are_comma_separated() -> None:
    env = {"APP_WEBHOOK_URL": "http://a/1, http://b/2", "APP_ALLOWED_ORIGINS": "https://x.io,"}
    app = load(*CREDS, env=env).apps[0]
    assert app.webhook_urls == ("http://a/1", "http://b/2")
    assert app.allowed_origins == ("https://x.io",)


def test_port_out_of_range_from_env() -> None:
    assert error_of(*CREDS, env={"PORT": "70000"}) == (
        "invalid value '70000' for port from env PORT: expected an integer from 1 to 65535"
    )


def test_unknown_driver_in_config_file(tmp_path: Path) -> None:
    path = write_json(tmp_path / "c.json", {"server": {"adapter_driver": "kafka"}})
    assert error_of(*CREDS, "--config", path) == (
        f"invalid value 'kafka' for adapter_driver from config file '{path}' key "
        "server.adapter_driver: expected one of: local, redis, nats"
    )


def test_unknown_app_manager_from_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_MANAGER=mongodb\n")
    assert error_of(*CREDS) == (
        "invalid value 'mongodb' for app_manager from APP_MANAGER in env file .env: "
        "expected one of: array, postgres, mysql, dynamodb"
    )


def test_negative_limit_in_json_app(tmp_path: Path) -> None:
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", "app_max_event_batch_size": -1}
    path = write_json(tmp_path / "c.json", {"applications": [app]})
    assert error_of("--config", path) == (
        f"invalid value -1 for app_max_event_batch_size from config file '{path}' key "
        "applications[0].app_max_event_batch_size: expected an integer >= 0"
    )


def test_choices_are_case_insensitive() -> None:
    assert load(*CREDS, env={"LOG_LEVEL": "DEBUG"}).log_level == "debug"


def test_unknown_json_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write_json(tmp_path / "c.json", {"server": {"prot": 1}})
    assert error_of(*CREDS, "--config", path) == (
        f"unknown key 'prot' in server of config file '{path}'; did you mean 'port'?"
    )


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"server": {"port": 1,}}')
    assert error_of(*CREDS, "--config", str(path)) == (
        f"config file '{path}' is not valid JSON at line 1 column 23: "
        "Expecting property name enclosed in double quotes: line 1 column 23 (char 22)"
    )


def test_missing_config_file() -> None:
    assert error_of(*CREDS, "--config", "absent.json") == (
        "cannot read config file 'absent.json' from flag --config: No such file or directory"
    )
