"""Choosing the app manager from settings, and the settings a database manager needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from socketrush.app_managers import (
    ArrayAppManager,
    CachedAppManager,
    ReportedAppManager,
    SqlAppManager,
    build_app_manager,
)
from socketrush.app_managers.dynamodb import DynamoDbAppManager
from socketrush.app_managers.sql_rows import COLUMNS
from socketrush.config import ConfigError, load_settings, settings_document
from socketrush.settings import AppSettings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "app-managers.md"
URL = "postgres://u:pw@db:5432/apps"


def load(*argv: str):
    return load_settings([*argv, "--env-file", os.devnull], environ={})


def test_array_manager_serves_the_configured_apps() -> None:
    manager = build_app_manager(load("--app-id", "1", "--app-key", "k", "--app-secret", "s"))
    assert isinstance(manager, ArrayAppManager)
    assert manager.find_by_key("k") == AppSettings(id="1", key="k", secret="s")


def test_database_manager_needs_no_app_and_is_cached() -> None:
    settings = load("--app-manager", "postgres", "--database-url", URL)
    assert (settings.apps, settings.database_url, settings.app_manager_cache_ttl) == ((), URL, 10)
    assert settings_document(settings)["server"]["database_url"] == "postgres://u:***@db:5432/apps"
    manager = build_app_manager(settings)
    assert isinstance(manager, CachedAppManager)
    assert isinstance(manager._inner, ReportedAppManager)  # behind the cache: see reported.py
    assert isinstance(manager._inner._inner, SqlAppManager)


def test_a_zero_ttl_asks_the_database_every_time() -> None:
    settings = load(
        "--app-manager",
        "mysql",
        "--database-url",
        "mysql://u@db/apps",
        "--app-manager-cache-ttl",
        "0",
    )
    manager = build_app_manager(settings)
    assert isinstance(manager, ReportedAppManager)
    assert isinstance(manager._inner, SqlAppManager)


def test_database_manager_without_url_stops_start_up() -> None:
    with pytest.raises(ConfigError) as raised:
        load("--app-manager", "mysql")
    assert str(raised.value) == (
        "app_manager mysql from flag --app-manager needs database_url: give it with the flag "
        "--database-url, the environment variable DATABASE_URL (or the .env file), or "
        "server.database_url in a --config-file JSON"
    )


def test_apps_given_beside_a_database_manager_are_refused_not_ignored() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(
            ["--database-url", URL, "--env-file", os.devnull],
            environ={"APP_MANAGER": "postgres", "APP_KEY": "k"},
        )
    assert str(raised.value) == (
        "app_manager postgres from env APP_MANAGER reads apps from the database, but an app is "
        "also given by env APP_KEY; remove it (add the app to the table instead) or use "
        "--app-manager array"
    )


def test_a_bad_url_stops_start_up_when_the_manager_is_built() -> None:
    settings = load("--app-manager", "postgres", "--database-url", "redis://localhost")
    with pytest.raises(ConfigError, match="^invalid database_url 'redis://localhost' for app_"):
        build_app_manager(settings)


def test_the_docs_describe_every_column() -> None:
    text = DOCS.read_text()
    for column in COLUMNS:
        assert f"| `{column.name}` | `{column.sql_type}` |" in text, column.name


def test_dynamodb_manager_needs_no_database_and_is_cached() -> None:
    settings = load(
        "--app-manager",
        "dynamodb",
        "--app-manager-dynamodb-table",
        "my-apps",
        "--app-manager-dynamodb-region",
        "eu-west-1",
        "--app-manager-dynamodb-endpoint",
        "http://127.0.0.1:1",
    )
    assert settings.apps == ()
    manager = build_app_manager(settings)
    assert isinstance(manager, CachedAppManager)
    assert isinstance(manager._inner, ReportedAppManager)
    store = manager._inner._inner
    assert isinstance(store, DynamoDbAppManager)
    assert store._table == "my-apps"
    assert (store._client.meta.region_name, store._client.meta.endpoint_url) == (
        "eu-west-1",
        "http://127.0.0.1:1",
    )


def test_apps_given_beside_the_dynamodb_manager_are_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        load("--app-manager", "dynamodb", "--app-id", "1")
    assert str(raised.value) == (
        "app_manager dynamodb from flag --app-manager reads apps from its DynamoDB table, but an "
        "app is also given by flag --app-id; remove it (add the app to the table instead) or use "
        "--app-manager array"
    )


def test_a_bad_dynamodb_endpoint_stops_start_up_when_the_manager_is_built() -> None:
    settings = load("--app-manager", "dynamodb", "--app-manager-dynamodb-endpoint", "not a url")
    with pytest.raises(ConfigError) as raised:
        build_app_manager(settings)
    assert str(raised.value) == (
        "invalid app_manager_dynamodb_endpoint 'not a url': expected an http:// or https:// URL"
    )
