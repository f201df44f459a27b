"""The SQL app manager against real PostgreSQL and MariaDB servers (see tests/support)."""

from __future__ import annotations

import logging

import pytest

from socketrush.app_managers.base import AppManagerError
from socketrush.app_managers.cached import CachedAppManager
from socketrush.app_managers.sql import SqlAppManager, init_db, parse_database_url
from socketrush.app_managers.sql_rows import COLUMNS
from socketrush.cli import main
from socketrush.settings import AppSettings, WebhookTarget
from tests.support.databases import DB_NAME, DatabaseServer, insert


def table_columns(database: DatabaseServer, table: str) -> list[str]:
    schema = "current_schema()" if database.dialect == "postgres" else "DATABASE()"
    rows = database.execute(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = {schema} AND table_name = %s",
        [table],
    )
    return sorted(str(name) for (name,) in rows)


@pytest.fixture
def manager(database: DatabaseServer, table: str):
    init_db(database.dialect, database.url, table)
    sql = SqlAppManager(database.dialect, database.url, table)
    yield sql
    sql.close()


def test_init_db_creates_the_table_with_every_column_and_can_run_again(
    database: DatabaseServer, table: str
) -> None:
    init_db(database.dialect, database.url, table)
    init_db(database.dialect, database.url, table)
    assert table_columns(database, table) == sorted(column.name for column in COLUMNS)


def test_init_db_adds_missing_columns_to_an_older_table(
    database: DatabaseServer, table: str
) -> None:
    q = database.quote
    database.execute(
        f"CREATE TABLE {q(table)} ({q('id')} VARCHAR(255) PRIMARY KEY, "
        f"{q('key')} VARCHAR(255), {q('secret')} VARCHAR(255))"
    )
    insert(database, table, id="1", key="old-key", secret="s")
    init_db(database.dialect, database.url, table)
    assert table_columns(database, table) == sorted(column.name for column in COLUMNS)
    manager = SqlAppManager(database.dialect, database.url, table)
    assert manager.find_by_key("old-key") == AppSettings(id="1", key="old-key", secret="s")
    manager.close()


def test_find_by_key_and_by_id_return_the_exact_settings(
    database: DatabaseServer, table: str, manager: SqlAppManager
) -> None:
    insert(
        database,
        table,
        id="app-1",
        key="key-1",
        secret="secret-1",
        activity_timeout=30,
        enable_client_messages=True,
        max_connections=100,
        max_presence_members_per_channel=50,
        webhooks_enabled=True,
        webhook_urls='["https://hooks.example/a", "https://hooks.example/b"]',
        webhooks='[{"url": "https://hooks.example/c", "event_types": ["member_added"]}]',
        allowed_origins='["https://app.example"]',
    )
    expected = AppSettings(
        id="app-1",
        key="key-1",
        secret="secret-1",
        activity_timeout=30,
        enable_client_messages=True,
        max_connections=100,
        max_presence_members_per_channel=50,
        webhooks_enabled=True,
        webhook_urls=("https://hooks.example/a", "https://hooks.example/b"),
        webhooks=(WebhookTarget("https://hooks.example/c", frozenset({"member_added"})),),
        allowed_origins=("https://app.example",),
    )
    assert manager.find_by_key("key-1") == expected
    assert manager.find_by_id("app-1") == expected


def test_null_columns_take_the_defaults(
    database: DatabaseServer, table: str, manager: SqlAppManager
) -> None:
    insert(database, table, id="2", key="key-2", secret="s2")
    assert manager.find_by_id("2") == AppSettings(id="2", key="key-2", secret="s2")


def test_a_disabled_app_is_found_disabled(
    database: DatabaseServer, table: str, manager: SqlAppManager
) -> None:
    insert(database, table, id="3", key="key-3", secret="s3", enabled=False)
    assert manager.find_by_key("key-3") == AppSettings(
        id="3", key="key-3", secret="s3", enabled=False
    )


def test_unknown_apps_and_near_misses_are_none(
    database: DatabaseServer, table: str, manager: SqlAppManager
) -> None:
    insert(database, table, id="4", key="Key-4", secret="s4")
    assert manager.find_by_key("Key-4") is not None
    for near in ("key-4", "KEY-4", "Key-4 ", "Key-", "nope"):
        assert manager.find_by_key(near) is None, near
    assert manager.find_by_id("Key-4") is None


def test_new_and_disabled_rows_take_effect_after_the_ttl_without_restart(
    database: DatabaseServer, table: str, manager: SqlAppManager
) -> None:
    now = [0.0]
    cached = CachedAppManager(manager, 10, clock=lambda: now[0])
    assert cached.find_by_key("key-5") is None
    insert(database, table, id="5", key="key-5", secret="s5")
    now[0] = 9.0
    assert cached.find_by_key("key-5") is None  # the miss is still cached
    now[0] = 10.0
    assert cached.find_by_key("key-5") == AppSettings(id="5", key="key-5", secret="s5")
    database.execute(
        f"UPDATE {database.quote(table)} SET {database.quote('enabled')} = %s "
        f"WHERE {database.quote('id')} = %s",
        [False, "5"],
    )
    now[0] = 15.0
    assert cached.find_by_id("5").enabled is True  # cached by id when found by key
    now[0] = 20.0
    assert cached.find_by_id("5").enabled is False
    assert (cached.hits, cached.misses) == (2, 3)


def test_a_row_with_a_bad_value_is_refused_and_logged(
    database: DatabaseServer, table: str, manager: SqlAppManager, caplog: pytest.LogCaptureFixture
) -> None:
    insert(database, table, id="6", key="key-6", secret="s6", max_connections=-5)
    with caplog.at_level(logging.ERROR, logger="socketrush.app_managers.sql"):
        assert manager.find_by_key("key-6") is None
    assert caplog.messages == [
        "app manager: app refused until its row is fixed: invalid value -5 for "
        f"app_max_connections from column max_connections of app '6' in table {table}: "
        "expected an integer >= 0 (0 or -1 for unlimited)"
    ]


def test_a_row_with_bad_webhooks_is_refused_with_one_line_and_others_keep_working(
    database: DatabaseServer, table: str, manager: SqlAppManager, caplog: pytest.LogCaptureFixture
) -> None:
    insert(database, table, id="8", key="key-8", secret="s8", webhooks='[{"url": "mailto:x"}]')
    insert(database, table, id="9", key="key-9", secret="s9", webhook_urls='["https://h.example"]')
    with caplog.at_level(logging.INFO, logger="socketrush"):
        assert manager.find_by_key("key-8") is None
        assert manager.find_by_id("9") == AppSettings(
            id="9", key="key-9", secret="s9", webhook_urls=("https://h.example",)
        )
    assert [(r.levelno, r.exc_info, r.getMessage()) for r in caplog.records] == [
        (
            logging.ERROR,
            None,
            "app manager: app refused until its row is fixed: invalid app_webhooks from column "
            f"webhooks of app '8' in table {table}: webhook url 'mailto:x' is not an http:// or "
            "https:// URL with a host",
        )
    ]


def test_a_missing_table_says_to_run_init_db(database: DatabaseServer, table: str) -> None:
    manager = SqlAppManager(database.dialect, database.url, table)
    target = parse_database_url(database.dialect, database.url)
    with pytest.raises(AppManagerError) as raised:
        manager.find_by_key("k")
    assert str(raised.value) == (
        f"table {table} does not exist in {target}; create it with `socketrush apps init-db`"
    )


def test_a_wrong_password_is_reported_without_the_password(database: DatabaseServer) -> None:
    url = database.url.replace("p%40ss", "wrong")
    manager = SqlAppManager(database.dialect, url)
    with pytest.raises(AppManagerError) as raised:
        manager.find_by_id("1")
    reason = {
        "postgres": 'password authentication failed for user "socketrush"',
        "mysql": "Access denied for user 'socketrush'@'localhost' (using password: YES)",
    }[database.dialect]
    assert str(raised.value) == (
        f"app lookup in {database.dialect}://socketrush@127.0.0.1:{database.port}/{DB_NAME} "
        f"failed: {reason}"
    )


def test_a_pooled_connection_cut_by_the_server_is_replaced(
    database: DatabaseServer, table: str, manager: SqlAppManager
) -> None:
    insert(database, table, id="7", key="key-7", secret="s7")
    assert manager.find_by_id("7") is not None
    if database.dialect == "postgres":
        killed = database.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [DB_NAME],
        )
    else:
        sessions = database.execute(
            "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
            [DB_NAME],
        )
        killed = [database.execute(f"KILL {session_id}") for (session_id,) in sessions]
    assert len(killed) == 1
    assert manager.find_by_id("7") == AppSettings(id="7", key="key-7", secret="s7")


def test_cli_init_db_creates_the_default_table(
    database: DatabaseServer, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        args = ["--app-manager", database.dialect, "--database-url", database.url]
        assert main(["apps", "init-db", *args, "--env-file", "/dev/null"]) == 0
        shown = database.url.replace("p%40ss%3Aw%2Frd", "***")
        assert capsys.readouterr().out == f"apps table is ready in {shown}\n"
        assert table_columns(database, "socketrush_apps") == sorted(c.name for c in COLUMNS)
    finally:
        database.execute(f"DROP TABLE IF EXISTS {database.quote('socketrush_apps')}")
