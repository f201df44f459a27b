"""The SQL app manager's pure parts: URLs, dialects and the schema."""

from __future__ import annotations

import ssl

import pytest

from socketrush.app_managers.sql import SqlAppManager, create_table_sql, parse_database_url
from socketrush.config import ConfigError


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
