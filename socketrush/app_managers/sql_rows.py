"""The apps table's columns and how one row becomes AppSettings: pure, no database.

Columns are named like the JSON config keys without `app_` (`id`, `key`, `max_connections`,
...) and are derived from `socketrush.options`, so a new app setting gets a column without a
second list to keep in step. NULL means "the built-in default", list settings are JSON text.
Every cell is validated exactly like a flag or config key. The queries are in sql.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from socketrush.config import ConfigError, Given, parse_value
from socketrush.options import OPTIONS, Kind, Option, Scope
from socketrush.settings import AppSettings

DEFAULT_TABLE = "socketrush_apps"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the apps table and the app option it stores."""

    name: str
    sql_type: str
    constraint: str
    option: Option

    def ddl(self, quote: Callable[[str], str]) -> str:
        return f"{quote(self.name)} {self.sql_type} {self.constraint}"


_SQL_TYPES = {
    Kind.STR: "VARCHAR(255)",
    Kind.INT: "INTEGER",
    Kind.BOOL: "BOOLEAN",
    Kind.LIST: "TEXT",  # JSON list of strings
    Kind.HTTP_URLS: "TEXT",  # JSON list of strings
    Kind.WEBHOOKS: "TEXT",  # JSON list of webhook objects
}
_CONSTRAINTS = {"id": "NOT NULL PRIMARY KEY", "key": "NOT NULL UNIQUE", "secret": "NOT NULL"}

COLUMNS: tuple[Column, ...] = tuple(
    Column(o.field, _SQL_TYPES[o.kind], _CONSTRAINTS.get(o.field, "NULL"), o)
    for o in OPTIONS
    if o.scope is Scope.APP
)


def check_table_name(table: str) -> str:
    """Table names are put into SQL text (they cannot be parameters), so only plain names pass."""
    if not _TABLE_NAME.fullmatch(table):
        raise ConfigError(
            f"invalid table name {table!r}: expected a letter or _ then up to 62 letters, "
            "digits or _"
        )
    return table


# --- rows -> AppSettings ----------------------------------------------------------------------


def _decode_value(column: Column, raw: object, source: str) -> object:
    """One cell to the option's Python value, validated exactly like a flag or config key."""
    kind = column.option.kind
    if kind.is_list or kind is Kind.WEBHOOKS:
        try:
            raw = orjson.loads(raw)  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, TypeError):
            raise ConfigError(f"invalid JSON {raw!r} in {source}: expected a JSON list") from None
    elif kind is Kind.BOOL and isinstance(raw, int) and not isinstance(raw, bool):
        raw = raw != 0  # MySQL's BOOLEAN is TINYINT(1)
    return parse_value(column.option, Given(raw, source))


def decode_row(record: dict[str, object], table: str) -> AppSettings:
    """AppSettings from one row (column name -> value); NULL cells take the defaults and
    columns this version does not know are ignored. Raises ConfigError naming the bad cell
    (a malformed webhook or a URL no webhook could be POSTed to included)."""
    values: dict[str, object] = {}
    for column in COLUMNS:
        raw = record.get(column.name)
        source = f"column {column.name} of app {record.get('id')!r} in table {table}"
        if raw is None:
            if column.name in _CONSTRAINTS:
                raise ConfigError(f"{source} is NULL: every app needs an id, key and secret")
            continue
        values[column.option.field] = _decode_value(column, raw, source)
    return AppSettings(**values)  # type: ignore[arg-type]
