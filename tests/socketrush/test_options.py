"""The options table: every row of the seed README's configuration table, unique spellings, and
settings.toml holding exactly the table's defaults."""

from __future__ import annotations

import tomllib

import pytest

from socketrush.config import DEFAULTS_FILE
from socketrush.options import BY_NAME, OPTIONS, Option, Scope

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


def option_for_flag(flag: str) -> Option:
    return next(option for option in OPTIONS if flag in option.flags)


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


def test_by_name_covers_every_option() -> None:
    assert list(BY_NAME) == [option.name for option in OPTIONS]
