"""The SQL app manager's pure parts: URLs, table names, schema and row decoding."""

from __future__ import annotations

import ssl

import pytest

from socketrush.app_managers.sql import (
    COLUMNS,
    SqlAppManager,
    check_table_name,
    create_table_sql,
    decode_row,
    parse_database_url,
)
from socketrush.config import ConfigError
from socketrush.settings import AppSettings, WebhookTarget


def test_postgres_url_with_encoded_password_and_default_port() -> None:
    target = parse_database_url("postgres", "postgresql://app%40x:p%40ss%3Aw%2Frd@db.local/apps")
    assert (target.host, target.port, target.user, target.password, target.database) == (
        "db.local",
        5432,
        "app@x",
        "p@ss:w/rd",
        "apps",
    )
    assert target.ssl_context is None
    assert str(target) == "postgres://app@x@db.local:5432/apps"
    assert "p@ss" not in repr(target)


def test_mysql_url_with_port_and_sslmodes() -> None:
    target = parse_database_url("mysql", "mariadb://u:pw@10.0.0.5:3307/apps?sslmode=require")
    assert (target.host, target.port, target.database) == ("10.0.0.5", 3307, "apps")
    assert target.ssl_context.verify_mode == ssl.CERT_NONE
    verified = parse_database_url("mysql", "mysql://u@h/apps?sslmode=verify-full")
    assert verified.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert verified.ssl_context.check_hostname is True
    assert verified.password == ""


EXPECTED_PG = (
    "; expected postgres://user:password@host:5432/database "
    "(optionally ?sslmode=disable|require|verify-full)"
)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://u:pw@h/db", "the scheme must be postgres or postgresql"),
        ("localhost:5432", "the scheme must be postgres or postgresql"),
        ("postgres://u:pw@h:99999/db", "the port must be a number from 0 to 65535"),
        ("postgres://u:pw@:5432/db", "it names no host"),
        ("postgres://h/db", "it names no user"),
        ("postgres://u:pw@h", "it names no database"),
        ("postgres://u:pw@h/db?timeout=3", "unknown parameter 'timeout'"),
        ("postgres://u:pw@h/db?sslmode=prefer", "unknown sslmode 'prefer'"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        SqlAppManager("postgres", url)
    shown = url.replace(":pw@", ":***@")
    assert str(raised.value) == (
        f"invalid database_url {shown!r} for app_manager postgres: {problem}{EXPECTED_PG}"
    )


def test_unknown_dialect() -> None:
    with pytest.raises(ConfigError, match="^unknown database dialect 'sqlite': expected one of"):
        SqlAppManager("sqlite", "sqlite://u@h/db")  # type: ignore[arg-type]


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


def test_create_table_quotes_identifiers_per_dialect() -> None:
    postgres = create_table_sql("postgres", "my_apps")
    mysql = create_table_sql("mysql", "my_apps")
    assert postgres.startswith(
        'CREATE TABLE IF NOT EXISTS "my_apps" (\n'
        '    "id" VARCHAR(255) NOT NULL PRIMARY KEY,\n'
        '    "key" VARCHAR(255) NOT NULL UNIQUE,\n'
        '    "secret" VARCHAR(255) NOT NULL,\n'
        '    "enabled" BOOLEAN NULL,\n'
    )
    assert postgres.endswith('"has_webhook_batching_enabled" BOOLEAN NULL\n)')
    assert mysql.startswith("CREATE TABLE IF NOT EXISTS `my_apps` (\n    `id` VARCHAR(255)")
    assert mysql.endswith(") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")


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
