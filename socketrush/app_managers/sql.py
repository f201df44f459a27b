"""Apps stored as rows of one table in PostgreSQL or MySQL/MariaDB: connections, queries and
the schema.

One row per app. The columns, derived from `socketrush.options`, and the decoding of a row are
in sql_rows.py; `init_db` adds a column a new app setting brings to existing tables.
docs/app-managers.md documents the table.

The drivers are pure Python (pg8000, PyMySQL): under gevent's monkey-patching their sockets
yield, so a slow query stalls one greenlet instead of the whole node.
"""

from __future__ import annotations

import logging
import queue
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import pg8000.dbapi
import pymysql

from socketrush.app_managers.base import AppManager, AppManagerError
from socketrush.app_managers.sql_rows import COLUMNS, DEFAULT_TABLE, check_table_name, decode_row
from socketrush.config import ConfigError
from socketrush.settings import AppSettings

Dialect = Literal["postgres", "mysql"]
POOL_SIZE = 4  # connections per node: bounds what a flood of lookups can ask of the database
TIMEOUT_SECONDS = 10.0  # connect, query and waiting for a free pooled connection
SSL_MODES = ("disable", "require", "verify-full")
log = logging.getLogger(__name__)


# --- dialects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """Where to connect, parsed from a database URL; `str()` never shows the password."""

    dialect: Dialect
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{self.dialect}://{self.user}@{self.host}:{self.port}/{self.database}"


def _connect_postgres(target: DatabaseTarget) -> Any:
    connection = pg8000.dbapi.connect(
        user=target.user,
        password=target.password or None,
        host=target.host,
        port=target.port,
        database=target.database,
        ssl_context=target.ssl_context,
        timeout=TIMEOUT_SECONDS,
    )
    connection.autocommit = True  # no idle transaction holding a snapshot between lookups
    return connection


def _connect_mysql(target: DatabaseTarget) -> Any:
    return pymysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database,
        ssl=target.ssl_context,
        charset="utf8mb4",
        # InnoDB's REPEATABLE READ would otherwise keep showing the first lookup's snapshot,
        # and new or disabled apps would never appear on this connection.
        autocommit=True,
        connect_timeout=int(TIMEOUT_SECONDS),
        read_timeout=int(TIMEOUT_SECONDS),
        write_timeout=int(TIMEOUT_SECONDS),
    )


def _pg_missing_table(error: Exception) -> bool:
    fields = error.args[0] if error.args else None
    return isinstance(fields, dict) and fields.get("C") == "42P01"  # undefined_table


def _mysql_missing_table(error: Exception) -> bool:
    return bool(error.args) and error.args[0] == 1146  # ER_NO_SUCH_TABLE


@dataclass(frozen=True, slots=True)
class _Dialect:
    """What differs between PostgreSQL and MySQL for the little SQL this module runs."""

    schemes: tuple[str, ...]
    default_port: int
    quote_char: str
    table_options: str
    schema_expression: str
    errors: tuple[type[Exception], ...]
    connect: Callable[[DatabaseTarget], Any]
    missing_table: Callable[[Exception], bool]

    def quote(self, name: str) -> str:
        """`key` is a reserved word in MySQL, so every identifier is quoted."""
        return f"{self.quote_char}{name}{self.quote_char}"


_DIALECTS: dict[str, _Dialect] = {
    "postgres": _Dialect(
        schemes=("postgres", "postgresql"),
        default_port=5432,
        quote_char='"',
        table_options="",
        schema_expression="current_schema()",
        errors=(pg8000.dbapi.Error, OSError),
        connect=_connect_postgres,
        missing_table=_pg_missing_table,
    ),
    "mysql": _Dialect(
        schemes=("mysql", "mariadb"),
        default_port=3306,
        quote_char="`",
        # Binary collation: keys and ids compare exactly (the default collation ignores case).
        table_options=" DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        schema_expression="DATABASE()",
        errors=(pymysql.MySQLError, OSError),
        connect=_connect_mysql,
        missing_table=_mysql_missing_table,
    ),
}


def _dialect(name: str) -> _Dialect:
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown database dialect {name!r}: expected one of {', '.join(_DIALECTS)}"
        ) from None


def _error_message(error: Exception) -> str:
    """The server's own words, without driver wrapping."""
    first = error.args[0] if error.args else None
    if isinstance(first, dict):  # pg8000: libpq-style fields, M is the message
        return str(first.get("M", error))
    if isinstance(first, int) and len(error.args) > 1:  # PyMySQL: (errno, message)
        return str(error.args[1])
    return str(error)


def _close_quietly(connection: Any) -> None:
    if connection is None:
        return
    try:
        connection.close()
    except Exception:  # a connection already broken has nothing left to close
        log.debug("closing a broken database connection failed", exc_info=True)


# --- database URLs ----------------------------------------------------------------------------


def _ssl_context(mode: str) -> ssl.SSLContext | None:
    """libpq's meanings: `require` encrypts without checking the certificate, `verify-full`
    checks it and the host name."""
    if mode == "disable":
        return None
    context = ssl.create_default_context()
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def parse_database_url(dialect: str, url: str) -> DatabaseTarget:
    """`postgres://user:password@host:5432/database?sslmode=require` (or `mysql://…`), or a
    ConfigError that says what is wrong without echoing the password."""
    spec = _dialect(dialect)
    parts = urlsplit(url)
    shown = url
    if parts.password is not None:
        shown = url.replace(f":{parts.password}@", ":***@", 1)
    expected = f"{spec.schemes[0]}://user:password@host:{spec.default_port}/database"

    def bad(problem: str) -> ConfigError:
        return ConfigError(
            f"invalid database_url {shown!r} for app_manager {dialect}: {problem}; "
            f"expected {expected} (optionally ?sslmode={'|'.join(SSL_MODES)})"
        )

    if parts.scheme not in spec.schemes:
        raise bad(f"the scheme must be {' or '.join(spec.schemes)}")
    try:
        port = parts.port or spec.default_port
    except ValueError:
        raise bad("the port must be a number from 0 to 65535") from None
    database = unquote(parts.path.removeprefix("/"))
    if not parts.hostname:
        raise bad("it names no host")
    if not parts.username:
        raise bad("it names no user")
    if not database or "/" in database:
        raise bad("it names no database")
    params = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(params) - {"sslmode"})
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r}")
    mode = params.get("sslmode", ["disable"])[-1]
    if mode not in SSL_MODES:
        raise bad(f"unknown sslmode {mode!r}")
    return DatabaseTarget(
        dialect,  # type: ignore[arg-type]  # checked by _dialect above
        parts.hostname,
        port,
        unquote(parts.username),
        unquote(parts.password or ""),
        database,
        _ssl_context(mode),
    )


# --- the manager ------------------------------------------------------------------------------


class SqlAppManager(AppManager):
    """Looks apps up in the database on every call; wrap it in CachedAppManager.

    Connections come from a small pool created lazily, so a database that is down at start-up
    only fails the lookups made while it is down.
    """

    def __init__(self, dialect: Dialect, database_url: str, table: str = DEFAULT_TABLE) -> None:
        self._spec = _dialect(dialect)
        self._target = parse_database_url(dialect, database_url)
        self._table = check_table_name(table)
        select = f"SELECT * FROM {self._spec.quote(table)} WHERE {{}} = %s"
        self._select_by_id = select.format(self._spec.quote("id"))
        self._select_by_key = select.format(self._spec.quote("key"))
        # Slots, not connections: None means "connect when needed". LIFO keeps the fewest open.
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        for _ in range(POOL_SIZE):
            self._pool.put(None)

    def find_by_id(self, app_id: str) -> AppSettings | None:
        return self._find(self._select_by_id, "id", app_id)

    def find_by_key(self, key: str) -> AppSettings | None:
        return self._find(self._select_by_key, "key", key)

    def close(self) -> None:
        while True:
            try:
                _close_quietly(self._pool.get_nowait())
            except queue.Empty:
                return

    def _find(self, select: str, column: str, value: str) -> AppSettings | None:
        names, rows = self._query(select, (value,))
        for row in rows:
            record = dict(zip(names, row, strict=True))
            if record.get(column) != value:  # e.g. trailing blanks in a PAD SPACE collation
                continue
            try:
                return decode_row(record, self._table)
            except ConfigError as error:
                # Logged, answered "no such app", and so cached like a miss: a broken row must
                # not cost one query per connection attempt.
                log.error("app manager: app refused until its row is fixed: %s", error)
                return None
        return None

    def _query(self, sql: str, params: Sequence[object]) -> tuple[list[str], list[tuple]]:
        try:
            idle = self._pool.get(timeout=TIMEOUT_SECONDS)
        except queue.Empty:
            raise AppManagerError(
                f"all {POOL_SIZE} connections to {self._target} stayed busy for "
                f"{TIMEOUT_SECONDS:g} s"
            ) from None
        connection = None
        try:
            if idle is not None:
                try:
                    result = _fetch(idle, sql, params)
                    connection = idle
                    return result
                except self._spec.errors:
                    # A pooled connection may have been cut by a database restart or a proxy's
                    # idle timeout: one retry on a fresh connection before reporting failure.
                    _close_quietly(idle)
            connection = self._spec.connect(self._target)
            return _fetch(connection, sql, params)
        except self._spec.errors as error:
            _close_quietly(connection)
            connection = None
            raise self._failure(error) from None
        finally:
            self._pool.put(connection)

    def _failure(self, error: Exception) -> AppManagerError:
        if self._spec.missing_table(error):
            return AppManagerError(
                f"table {self._table} does not exist in {self._target}; create it with "
                "`socketrush apps init-db`"
            )
        return AppManagerError(f"app lookup in {self._target} failed: {_error_message(error)}")


def _fetch(connection: Any, sql: str, params: Sequence[object]) -> tuple[list[str], list[tuple]]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        names = [str(description[0]).lower() for description in cursor.description]
        return names, list(cursor.fetchall())
    finally:
        cursor.close()


# --- schema -----------------------------------------------------------------------------------


def create_table_sql(dialect: Dialect, table: str = DEFAULT_TABLE) -> str:
    """The CREATE TABLE statement `init_db` runs (also printed in the docs)."""
    spec = _dialect(dialect)
    columns = ",\n".join(f"    {column.ddl(spec.quote)}" for column in COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {spec.quote(check_table_name(table))} (\n{columns}\n)"
        f"{spec.table_options}"
    )


def init_db(dialect: Dialect, database_url: str, table: str = DEFAULT_TABLE) -> None:
    """Create the apps table if it is missing and add any column this version knows and the
    table lacks (NULL, so existing apps keep the defaults). Upgrading is running it again;
    it never drops or changes existing columns or rows."""
    spec = _dialect(dialect)
    target = parse_database_url(dialect, database_url)
    create = create_table_sql(dialect, table)
    connection = None
    try:
        connection = spec.connect(target)
        cursor = connection.cursor()
        cursor.execute(create)
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = {spec.schema_expression} AND table_name = %s",
            (table,),
        )
        existing = {str(name).lower() for (name,) in cursor.fetchall()}
        for column in COLUMNS:
            if column.name not in existing:
                cursor.execute(
                    f"ALTER TABLE {spec.quote(table)} ADD COLUMN {column.ddl(spec.quote)}"
                )
                log.info("added column %s to table %s", column.name, table)
    except spec.errors as error:
        raise AppManagerError(
            f"cannot create table {table} in {target}: {_error_message(error)}"
        ) from None
    finally:
        _close_quietly(connection)
