"""The apps table's columns and row decoding (app_managers/sql_rows.py): pure, no database."""

from __future__ import annotations

import pytest

from socketrush.app_managers.sql_rows import COLUMNS, check_table_name, decode_row
from socketrush.config import ConfigError
from socketrush.settings import AppSettings, WebhookTarget


@pytest.mark.parametrize("name", ["apps; DROP TABLE x", "1apps", "a" * 64, "", 'apps"'])
def test_table_names_that_could_inject_sql_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="^invalid table name"):
        check_table_name(name)


def test_one_column_per_app_setting_named_like_the_fields() -> None:
    assert sorted(column.name for column in COLUMNS) == sorted(AppSettings.__dataclass_fields__)
    types = {column.name: column.sql_type for column in COLUMNS}
    assert types["id"] == types["key"] == types["secret"] == "VARCHAR(255)"
    assert (types["enabled"], types["max_connections"]) == ("BOOLEAN", "INTEGER")
    assert types["webhook_urls"] == types["webhooks"] == types["allowed_origins"] == "TEXT"


def test_decode_row_null_means_default_and_unknown_columns_are_ignored() -> None:
    record = {"id": "7", "key": "k", "secret": "s", "max_connections": None, "note": "x"}
    assert decode_row(record, "t") == AppSettings(id="7", key="k", secret="s")


def test_decode_row_converts_mysql_booleans_and_json_lists() -> None:
    record = {
        "id": "7",
        "key": "k",
        "secret": "s",
        "enabled": 0,
        "enable_client_messages": 1,
        "max_connections": 5,
        "webhook_urls": '["https://a.example/hook"]',
        "webhooks": '[{"url": "https://b.example", "event_types": ["channel_occupied"]}]',
        "allowed_origins": '["https://app.example"]',
    }
    assert decode_row(record, "t") == AppSettings(
        id="7",
        key="k",
        secret="s",
        enabled=False,
        enable_client_messages=True,
        max_connections=5,
        webhook_urls=("https://a.example/hook",),
        webhooks=(WebhookTarget("https://b.example", frozenset({"channel_occupied"})),),
        allowed_origins=("https://app.example",),
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "max_connections",
            -2,
            "invalid value -2 for app_max_connections from column max_connections of app '7' "
            "in table t: expected an integer >= 0 (0 or -1 for unlimited)",
        ),
        (
            "max_presence_members_per_channel",
            -1,
            "invalid value -1 for app_max_presence_members_per_channel from column "
            "max_presence_members_per_channel of app '7' in table t: expected an integer >= 0",
        ),
        (
            "webhook_urls",
            "https://a.example",
            "invalid JSON 'https://a.example' in column webhook_urls of app '7' in table t: "
            "expected a JSON list",
        ),
        (
            "allowed_origins",
            "[1]",
            "invalid value [1] for app_allowed_origins from column allowed_origins of app '7' "
            "in table t: expected a list of strings or one comma-separated string",
        ),
        (
            "secret",
            None,
            "column secret of app '7' in table t is NULL: every app needs an id, key and secret",
        ),
    ],
)
def test_decode_row_names_the_bad_cell(column: str, value: object, message: str) -> None:
    record = {"id": "7", "key": "k", "secret": "s", column: value}
    with pytest.raises(ConfigError) as raised:
        decode_row(record, "t")
    assert str(raised.value) == message


KNOWN_TYPES = (
    "channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss, "
    "subscription_count"
)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        (
            "webhooks",
            '[{"url": "https://hooks.example", "event_types": ["member_joined"]}]',
            "webhook https://hooks.example: unknown event types ['member_joined']; known: "
            + KNOWN_TYPES,
        ),
        (
            "webhooks",
            '[{"event_types": ["cache_miss"]}]',
            "webhook {'event_types': ['cache_miss']} needs a url or an sns_topic_arn (one of them)",
        ),
        (
            "webhooks",
            '[{"url": "ftp://hooks.example/in"}]',
            "webhook url 'ftp://hooks.example/in' is not an http:// or https:// URL with a host",
        ),
        (
            "webhook_urls",
            '["hooks.example/in"]',
            "webhook url 'hooks.example/in' is not an http:// or https:// URL with a host",
        ),
        (
            "webhook_urls",
            '["https://hooks.example:80a/in"]',
            "webhook url 'https://hooks.example:80a/in' is not an http:// or https:// URL with a "
            "host",
        ),
        (
            "webhook_urls",
            '["https:///in"]',
            "webhook url 'https:///in' is not an http:// or https:// URL with a host",
        ),
    ],
)
def test_decode_row_refuses_webhooks_that_could_never_be_sent(
    column: str, value: str, problem: str
) -> None:
    record = {"id": "7", "key": "k", "secret": "s", column: value}
    with pytest.raises(ConfigError) as raised:
        decode_row(record, "t")
    option = f"app_{column}"
    assert str(raised.value) == (
        f"invalid {option} from column {column} of app '7' in table t: {problem}"
    )


def test_decode_row_reads_soketis_unlimited_as_0() -> None:
    record = {"id": "7", "key": "k", "secret": "s", "max_connections": -1}
    assert decode_row(record, "t").max_connections == 0
