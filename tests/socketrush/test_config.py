"""Settings layering, aliases, validation messages and the options table."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from socketrush.config import (
    DEFAULTS_FILE,
    AppSettings,
    ConfigError,
    Given,
    ServerSettings,
    load_settings,
    parse_value,
)
from socketrush.options import BY_NAME, OPTIONS, Kind, Option, Scope

CREDS = ["--app-id", "1", "--app-key", "k", "--app-secret", "s"]
CREDS_ENV = {"APP_ID": "1", "APP_KEY": "k", "APP_SECRET": "s"}

# Every row of the seed README's configuration table: flag, env var, JSON path, default.
SEED_ROWS = [
    ("--port", "PORT", "server.port", 6001),
    ("--bind-address", "BIND_ADDRESS", "server.bind_address", "0.0.0.0"),
    ("--env-file", None, None, "./.env"),
    ("--config-file", None, None, None),
    ("--cache-driver", "CACHE_DRIVER", "server.cache_driver", "local"),
    ("--queue-driver", "QUEUE_DRIVER", "server.queue_driver", "local"),
    ("--adapter-driver", "ADAPTER_DRIVER", "server.adapter_driver", "local"),
    ("--app-manager", "APP_MANAGER", "server.app_manager", "array"),
    ("--app-env", "APP_ENV", "server.app_env", "production"),
    ("--redis-prefix", "REDIS_PREFIX", "server.redis_prefix", "pusher"),
    ("--redis-url", "REDIS_URL", "server.redis_url", "localhost:6379"),
    ("--redis-tls", "REDIS_TLS", "server.redis_tls", False),
    ("--redis-cluster", "REDIS_CLUSTER", "server.redis_cluster", False),
    ("--log-level", "LOG_LEVEL", "server.log_level", "info"),
    (
        "--ignore-logger-middleware",
        "IGNORE_LOGGER_MIDDLEWARE",
        "server.ignore_logger_middleware",
        False,
    ),
    ("--app-id", "APP_ID", "applications[].app_id", None),
    ("--app-key", "APP_KEY", "applications[].app_key", None),
    ("--app-secret", "APP_SECRET", "applications[].app_secret", None),
    ("--app-activity-timeout", "APP_ACTIVITY_TIMEOUT", "applications[].app_activity_timeout", 60),
    (
        "--app-max-presence-users",
        "APP_MAX_PRESENCE_USERS",
        "applications[].app_max_presence_users",
        100,
    ),
    (
        "--app-require-authorization",
        "APP_REQUIRE_AUTHORIZATION",
        "applications[].app_require_channel_authorization",
        False,
    ),
    (
        "--app-webhook-enabled",
        "APP_WEBHOOK_ENABLED",
        "applications[].app_webhooks_enabled",
        False,
    ),
    (
        "--app-enable-client-messages",
        "APP_ENABLE_CLIENT_MESSAGES",
        "applications[].app_enable_client_messages",
        False,
    ),
    (
        "--app-authorization-timeout-seconds",
        "APP_AUTHORIZATION_TIMEOUT_SECONDS",
        "applications[].app_authorization_timeout_seconds",
        5,
    ),
    ("--app-max-connections", "APP_MAX_CONNECTIONS", "applications[].app_max_connections", 0),
    (
        "--app-max-backend-events-per-second",
        "APP_MAX_BACKEND_EVENTS_PER_SECOND",
        "applications[].app_max_backend_events_per_second",
        0,
    ),
    (
        "--app-max-client-events-per-second",
        "APP_MAX_CLIENT_EVENTS_PER_SECOND",
        "applications[].app_max_client_events_per_second",
        0,
    ),
    (
        "--app-max-read-requests-per-second",
        "APP_MAX_READ_REQUESTS_PER_SECOND",
        "applications[].app_max_read_requests_per_second",
        0,
    ),
    (
        "--app-max-presence-members-per-channel",
        "APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL",
        "applications[].app_max_presence_members_per_channel",
        100,
    ),
    (
        "--app-max-presence-member-size-in-kb",
        "APP_MAX_PRESENCE_MEMBER_SIZE_IN_KB",
        "applications[].app_max_presence_member_size_in_kb",
        10,
    ),
    (
        "--app-max-channel-name-length",
        "APP_MAX_CHANNEL_NAME_LENGTH",
        "applications[].app_max_channel_name_length",
        200,
    ),
    (
        "--app-max-event-channels-at-once",
        "APP_MAX_EVENT_CHANNELS_AT_ONCE",
        "applications[].app_max_event_channels_at_once",
        10,
    ),
    (
        "--app-max-event-name-length",
        "APP_MAX_EVENT_NAME_LENGTH",
        "applications[].app_max_event_name_length",
        200,
    ),
    (
        "--app-max-event-payload-in-kb",
        "APP_MAX_EVENT_PAYLOAD_IN_KB",
        "applications[].app_max_event_payload_in_kb",
        10,
    ),
    (
        "--app-max-event-batch-size",
        "APP_MAX_EVENT_BATCH_SIZE",
        "applications[].app_max_event_batch_size",
        10,
    ),
    (
        "--app-require-channel-authorization",
        "APP_REQUIRE_CHANNEL_AUTHORIZATION",
        "applications[].app_require_channel_authorization",
        False,
    ),
    (
        "--app-has-client-event-webhooks",
        "APP_HAS_CLIENT_EVENT_WEBHOOKS",
        "applications[].app_has_client_event_webhooks",
        False,
    ),
    (
        "--app-has-channel-occupied-webhooks",
        "APP_HAS_CHANNEL_OCCUPIED_WEBHOOKS",
        "applications[].app_has_channel_occupied_webhooks",
        False,
    ),
    (
        "--app-has-channel-vacated-webhooks",
        "APP_HAS_CHANNEL_VACATED_WEBHOOKS",
        "applications[].app_has_channel_vacated_webhooks",
        False,
    ),
    (
        "--app-has-member-added-webhooks",
        "APP_HAS_MEMBER_ADDED_WEBHOOKS",
        "applications[].app_has_member_added_webhooks",
        False,
    ),
    (
        "--app-has-member-removed-webhooks",
        "APP_HAS_MEMBER_REMOVED_WEBHOOKS",
        "applications[].app_has_member_removed_webhooks",
        False,
    ),
    (
        "--app-has-cache-miss-webhooks",
        "APP_HAS_CACHE_MISS_WEBHOOKS",
        "applications[].app_has_cache_miss_webhooks",
        False,
    ),
    (
        "--app-has-webhook-batching-enabled",
        "APP_HAS_WEBHOOK_BATCHING_ENABLED",
        "applications[].app_has_webhook_batching_enabled",
        False,
    ),
    (
        "--app-webhooks-enabled",
        "APP_WEBHOOKS_ENABLED",
        "applications[].app_webhooks_enabled",
        False,
    ),
]
# Keys used in the seed README's JSON example.
SEED_JSON_SERVER_KEYS = [
    "adapter_driver", "queue_driver", "cache_driver", "app_manager", "port", "bind_address",
    "log_level", "app_env", "env_file", "redis_url", "redis_prefix", "redis_tls",
    "redis_cluster_mode",
]  # fmt: skip
SEED_JSON_APP_KEYS = [
    "app_id", "app_key", "app_secret", "app_activity_timeout",
    "app_max_presence_members_per_channel", "app_max_presence_member_size_in_kb",
    "app_require_channel_authorization", "app_enable_client_messages", "app_webhooks_enabled",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory so a developer's ./.env never leaks into a test."""
    monkeypatch.chdir(tmp_path)


def load(*argv: str, env: dict[str, str] | None = None) -> ServerSettings:
    return load_settings(list(argv), env or {})


def error_of(*argv: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(*argv, env=env)
    return str(caught.value)


def write_json(path: Path, document: dict) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def option_for_flag(flag: str) -> Option:
    return next(option for option in OPTIONS if flag in option.flags)


# --- the options table ----------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "env", "json_path", "default"), SEED_ROWS)
def test_every_seed_row_is_an_option(flag, env, json_path, default) -> None:
    option = option_for_flag(flag)
    assert (env in option.env) if env else option.env == ()
    if json_path:  # `--env-file` has no JSON key in the table, but the JSON example uses one
        assert json_path in option.json_paths
    assert option.default == default


def test_seed_json_example_keys_are_known() -> None:
    server_keys = {k for o in OPTIONS if o.scope is Scope.SERVER for k in o.json_keys}
    app_keys = {k for o in OPTIONS if o.scope is Scope.APP for k in o.json_keys}
    assert set(SEED_JSON_SERVER_KEYS) <= server_keys
    assert set(SEED_JSON_APP_KEYS) <= app_keys


def test_spellings_are_unique_across_options() -> None:
    for attribute in ("flags", "env"):
        spellings = [s for option in OPTIONS for s in getattr(option, attribute)]
        assert len(spellings) == len(set(spellings)), attribute
    json_paths = [path for option in OPTIONS for path in option.json_paths]
    assert len(json_paths) == len(set(json_paths))


def test_settings_toml_holds_exactly_the_option_defaults() -> None:
    shipped = tomllib.loads(DEFAULTS_FILE.read_text())
    expected = {
        o.name: list(o.default) if isinstance(o.default, tuple) else o.default
        for o in OPTIONS
        if not o.bootstrap and o.default is not None
    }
    assert shipped == expected


def test_settings_classes_have_one_field_per_option() -> None:
    server = {o.field for o in OPTIONS if o.scope is Scope.SERVER and not o.bootstrap}
    assert {f.name for f in fields(ServerSettings)} == server | {"apps"}
    assert {f.name for f in fields(AppSettings)} == {
        o.field for o in OPTIONS if o.scope is Scope.APP
    }


def test_app_settings_defaults_match_the_table() -> None:
    app = AppSettings(id="1", key="k", secret="s")
    for option in OPTIONS:
        if option.scope is Scope.APP and option.default is not None:
            assert getattr(app, option.field) == option.default, option.name


def test_defaults_when_only_credentials_are_given() -> None:
    settings = load(*CREDS)
    assert settings.port == 6001
    assert settings.bind_address == "0.0.0.0"
    assert settings.log_format == "human"
    assert settings.socket_backlog_limit_kb == 1024
    assert settings.shutdown_grace_period == 10
    assert settings.apps == (AppSettings(id="1", key="k", secret="s"),)


# --- precedence -------------------------------------------------------------------------------


@pytest.fixture
def port_file(tmp_path: Path) -> str:
    return write_json(tmp_path / "c.json", {"server": {"port": 7000}})


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


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=7300\nAPP_ID=1\nAPP_KEY=k\nAPP_SECRET='s#x'\n")
    settings = load()
    assert settings.port == 7300
    assert settings.apps[0].secret == "s#x"


def test_real_env_beats_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=7300\n")
    assert load(*CREDS, env={"PORT": "7400"}).port == 7400


def test_env_file_beats_config_file(tmp_path: Path, port_file: str) -> None:
    (tmp_path / ".env").write_text("PORT=7300\n")
    assert load(*CREDS, "--config", port_file).port == 7300


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


# --- aliases ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "primary", "value", "attribute", "expected"),
    [
        ("--adapter-manager", "--adapter-driver", "redis", "adapter_driver", "redis"),
        ("--default-app-id", "--app-id", "9", "id", "9"),
        ("--default-app-key", "--app-key", "kk", "key", "kk"),
        ("--default-app-secret", "--app-secret", "ss", "secret", "ss"),
        ("--app-webhook-enabled", "--app-webhooks-enabled", "true", "webhooks_enabled", True),
        (
            "--app-require-authorization",
            "--app-require-channel-authorization",
            "true",
            "require_channel_authorization",
            True,
        ),
        (
            "--app-max-presence-users",
            "--app-max-presence-members-per-channel",
            "7",
            "max_presence_members_per_channel",
            7,
        ),
    ],
)
def test_flag_aliases(alias, primary, value, attribute, expected) -> None:
    for flag in (alias, primary):
        settings = load(*CREDS, flag, value)
        target = settings if hasattr(settings, attribute) else settings.apps[0]
        assert getattr(target, attribute) == expected, flag


def test_config_alias_for_config_file(port_file: str) -> None:
    assert load(*CREDS, "--config-file", port_file).port == 7000
    assert load(*CREDS, "--config", port_file).port == 7000


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


# --- booleans ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], False),
        (["--redis-tls"], True),
        (["--redis-tls", "true"], True),
        (["--redis-tls", "false"], False),
        (["--redis-tls=false"], False),
        (["--redis-tls=TRUE"], True),
        (["--redis-tls", "--port", "80"], True),
    ],
)
def test_boolean_flag_forms(argv: list[str], expected: bool) -> None:
    assert load(*CREDS, *argv).redis_tls is expected


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


def test_bad_flag_boolean() -> None:
    assert error_of(*CREDS, "--app-enable-client-messages", "sure") == (
        "invalid value 'sure' for app_enable_client_messages from flag "
        "--app-enable-client-messages: expected true or false (or 1/0, yes/no, on/off)"
    )


# --- applications -----------------------------------------------------------------------------


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
        {"url": "http://h/1", "event_types": ["channel_occupied"],
         "filter": {"channel_name_starts_with": "private-"}},
    )  # fmt: skip
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


def test_duplicate_app_key(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "c.json",
        {"applications": [{"app_id": "1", "app_key": "same", "app_secret": "a"},
                          {"app_id": "2", "app_key": "same", "app_secret": "b"}]},
    )  # fmt: skip
    assert error_of("--config", path) == (
        f"duplicate app key 'same': used by applications[0] in config file '{path}' and "
        f"applications[1] in config file '{path}'"
    )


def test_duplicate_app_id(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "c.json",
        {"applications": [{"app_id": "1", "app_key": "a", "app_secret": "a"},
                          {"app_id": 1, "app_key": "b", "app_secret": "b"}]},
    )  # fmt: skip
    assert error_of("--config", path) == (
        f"duplicate app id '1': used by applications[0] in config file '{path}' and "
        f"applications[1] in config file '{path}'"
    )


# --- lists ------------------------------------------------------------------------------------


def test_webhook_url_flag_is_repeatable_and_splits_commas() -> None:
    argv = ("--app-webhook-url", "http://a/1", "--app-webhook-url", "http://b/2,http://c/3")
    assert load(*CREDS, *argv).apps[0].webhook_urls == ("http://a/1", "http://b/2", "http://c/3")


def test_list_env_vars_are_comma_separated() -> None:
    env = {"APP_WEBHOOK_URL": "http://a/1, http://b/2", "APP_ALLOWED_ORIGINS": "https://x.io,"}
    app = load(*CREDS, env=env).apps[0]
    assert app.webhook_urls == ("http://a/1", "http://b/2")
    assert app.allowed_origins == ("https://x.io",)


def test_new_app_settings_from_flags() -> None:
    argv = ("--app-enabled", "false", "--app-subscription-count-enabled", "--app-allowed-origins",
            "https://a.io")  # fmt: skip
    app = load(*CREDS, *argv).apps[0]
    assert (app.enabled, app.subscription_count_enabled) == (False, True)
    assert app.allowed_origins == ("https://a.io",)


# --- validation messages ----------------------------------------------------------------------


def test_port_not_a_number() -> None:
    assert error_of(*CREDS, "--port", "abc") == (
        "invalid value 'abc' for port from flag --port: expected an integer from 1 to 65535"
    )


def test_port_out_of_range_from_env() -> None:
    assert error_of(*CREDS, env={"PORT": "70000"}) == (
        "invalid value '70000' for port from env PORT: expected an integer from 1 to 65535"
    )


def test_unknown_log_level() -> None:
    assert error_of(*CREDS, "--log-level", "loud") == (
        "invalid value 'loud' for log_level from flag --log-level: "
        "expected one of: trace, debug, info, warn, error"
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
    app = {"app_id": "1", "app_key": "k", "app_secret": "s", "app_max_connections": -1}
    path = write_json(tmp_path / "c.json", {"applications": [app]})
    assert error_of("--config", path) == (
        f"invalid value -1 for app_max_connections from config file '{path}' key "
        "applications[0].app_max_connections: expected an integer >= 0"
    )


def test_choices_are_case_insensitive() -> None:
    assert load(*CREDS, env={"LOG_LEVEL": "DEBUG"}).log_level == "debug"


def test_unknown_flag() -> None:
    assert error_of(*CREDS, "--prot", "1") == (
        "unrecognized arguments: --prot 1 (see `socketrush serve --help`)"
    )


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


def test_float_kind_parses_numbers_and_names_the_source() -> None:
    option = Option("ratio", Kind.FLOAT, 0.5, (), (), (), Scope.SERVER, "Server", "test")
    assert parse_value(option, Given("0.25", "env RATIO")) == 0.25
    with pytest.raises(ConfigError, match=r"^invalid value 'x' for ratio from env RATIO: "):
        parse_value(option, Given("x", "env RATIO"))


# --- printing ---------------------------------------------------------------------------------


def test_masked_hides_secrets_and_redis_password() -> None:
    settings = load(*CREDS, "--redis-url", "redis://user:hunter2@cache:6379/0")
    masked = settings.masked()
    assert masked["redis_url"] == "redis://user:***@cache:6379/0"
    assert masked["apps"][0]["secret"] == "***"
    assert masked["apps"][0]["key"] == "k"
    assert "hunter2" not in json.dumps(masked)
    assert settings.apps[0].secret == "s"


def test_by_name_covers_every_option() -> None:
    assert list(BY_NAME) == [option.name for option in OPTIONS]
