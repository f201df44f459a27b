"""Checks across settings, made once every value is parsed: what no single value can tell."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from socketrush.config.errors import ConfigError
from socketrush.config.layering import CREDENTIALS
from socketrush.config.sources import ConfigFile
from socketrush.config.values import Layer
from socketrush.settings import AppSettings

DATABASE_APP_MANAGERS = ("postgres", "mysql")
# App managers that read apps from a store, never from flags, environment or the config file.
STORED_APP_MANAGERS = (*DATABASE_APP_MANAGERS, "dynamodb")


def check_tls_files(values: Mapping[str, object], given: Layer) -> None:
    """TLS needs both files, and both readable: fail at start-up, not at the first client."""
    cert, key = values["ssl_cert"], values["ssl_key"]
    if bool(cert) != bool(key):
        present, missing = ("ssl_cert", "ssl_key") if cert else ("ssl_key", "ssl_cert")
        raise ConfigError(
            f"{present} from {given[present].source} needs {missing} too "
            f"(--{missing.replace('_', '-')}): TLS takes a certificate and its private key"
        )
    for name in ("ssl_cert", "ssl_key"):
        path = values[name]
        if path and not os.access(str(path), os.R_OK):
            raise ConfigError(f"{name} {path!r} from {given[name].source} is not a readable file")


def check_dashboard(values: Mapping[str, object], given: Layer) -> None:
    """The dashboard is never served without its login: refuse to start instead."""
    if not values["dashboard_enabled"]:
        return
    for name in ("dashboard_username", "dashboard_password"):
        if not values[name]:
            raise ConfigError(
                f"dashboard_enabled from {given['dashboard_enabled'].source} needs {name} "
                f"(--{name.replace('_', '-')}): the dashboard is only served behind a login"
            )


def check_database_app_manager(server: Layer, config: ConfigFile, env: Layer, flags: Layer) -> None:
    """A database app manager needs its URL, and takes apps from the database (or DynamoDB) only:
    refusing apps also given by flags, environment or config file beats silently ignoring them."""
    manager = server["app_manager"]
    name = str(manager.value).strip().lower()
    store = "its DynamoDB table" if name == "dynamodb" else "the database"
    if name in DATABASE_APP_MANAGERS and not str(server["database_url"].value):
        raise ConfigError(
            f"app_manager {name} from {manager.source} needs database_url: give it with the flag "
            "--database-url, the environment variable DATABASE_URL (or the .env file), or "
            "server.database_url in a --config-file JSON"
        )
    static = [layer[key].source for layer in (flags, env) for key in CREDENTIALS if key in layer]
    static += [label for label, _ in config.apps]
    if static:
        raise ConfigError(
            f"app_manager {name} from {manager.source} reads apps from {store}, but an app "
            f"is also given by {static[0]}; remove it (add the app to the table instead) or use "
            "--app-manager array"
        )


def reject_duplicate_apps(apps: Iterable[tuple[str, AppSettings]]) -> None:
    for attribute in ("id", "key"):
        seen: dict[str, str] = {}
        for label, app in apps:
            value = getattr(app, attribute)
            if value in seen:
                raise ConfigError(
                    f"duplicate app {attribute} {value!r}: used by {seen[value]} and {label}"
                )
            seen[value] = label
